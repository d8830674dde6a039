// Package server is authql's http.Handler: the routes, and the middleware that
// names each request, grants CORS, finds the client address and the
// credentials, hands them to the GraphQL layer through reqctx, and recovers
// from panics. What a GraphQL
// request may be (methods, media types, body size), and every answer to one,
// is the GraphQL handler's.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/cors"

	"github.com/authql/authql/graph"
	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/playground"
	"github.com/authql/authql/internal/reqctx"
	"github.com/authql/authql/internal/requestid"
)

// Options configure the handler.
type Options struct {
	GraphQL     http.Handler
	Ready       func(context.Context) error
	JWKS        []byte // the public key set, {"keys":[]} without asymmetric keys
	JWKSMaxAge  time.Duration
	Playground  bool
	CORSOrigins []string
	Trusted     []netip.Prefix
	// IPv6Prefix is how many leading bits of an IPv6 client address name its
	// network for the rate limits (64 when zero).
	IPv6Prefix int
	Log        *slog.Logger
	// Metrics, when set, serves GET /metrics on this handler; leave it nil
	// when metrics have a listener of their own (GET /metrics is then 404).
	Metrics http.Handler
	// Drain, when set and begun, takes the instance out of a load balancer's
	// rotation while it keeps serving (see Drain).
	Drain *Drain
}

// Drain is an instance on its way out. Once begun, /readyz answers 503 so
// that a load balancer's health check stops routing to it, while every other
// route keeps answering as before (a request the balancer still sends must
// not fail) with Connection: close, so that clients and the balancer move
// their keep-alive connections to the other instances. /healthz stays 200:
// the process is alive, an orchestrator must not kill it for draining.
type Drain struct{ begun atomic.Bool }

// Begin starts the drain; it cannot be undone (the process is stopping).
func (d *Drain) Begin() { d.begun.Store(true) }

// Draining reports whether Begin was called; a nil Drain never drains.
func (d *Drain) Draining() bool { return d != nil && d.begun.Load() }

// New returns the handler serving every route of the contract.
func New(o Options) http.Handler {
	mux := http.NewServeMux()
	origins := make([]string, len(o.CORSOrigins))
	for i, origin := range o.CORSOrigins {
		origins[i] = strings.TrimRight(origin, "/")
	}
	h := &handler{o: o, cors: cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowCredentials: true,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:   []string{"Content-Type", "Authorization", requestid.Header},
		ExposedHeaders:   []string{requestid.Header},
		MaxAge:           600,
	})}
	mux.Handle("/graphql", h.cors.Handler(h.graphql()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.ready)
	mux.HandleFunc("GET /.well-known/jwks.json", h.jwks)
	if o.Playground {
		pg := playground.Handler("authql", "/graphql")
		mux.Handle("/{$}", pg)
		mux.Handle(playground.AssetPrefix, pg)
	}
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	return requestid.Middleware(h.recover(h.logRequests(h.closeWhileDraining(securityHeaders(mux)))))
}

// closeWhileDraining asks for the connection to be closed after each answer
// once the drain has begun: net/http then closes it itself, after the answer
// is written, so no client is left sending on a connection the server is
// about to drop, which closing idle connections from here would risk.
func (h *handler) closeWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.o.Drain.Draining() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	o    Options
	cors *cors.Cors
}

// graphql wraps the GraphQL handler (behind CORS, which answers preflights
// itself) with the request state for the resolvers.
func (h *handler) graphql() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = noStore // answers carry tokens
		foreign := h.foreign(r)
		ip := clientIP(r, h.o.Trusted)
		req := &reqctx.Request{
			Client:        auth.Client{IP: ip, Network: limitKey(ip, h.o.IPv6Prefix), UserAgent: r.UserAgent()},
			Bearer:        bearer(r),
			ForeignOrigin: foreign,
		}
		if c, err := r.Cookie(reqctx.CookieName); err == nil {
			req.RefreshCookie = c.Value
		}
		h.o.GraphQL.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), req, w)))
	})
}

// foreign reports a browser request from an origin that CORS does not allow
// and that is not this server's own (the playground): such a page may run no
// mutation. CORS only keeps a page from reading the answer; this rule keeps
// the mutation from running at all.
func (h *handler) foreign(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || h.cors.OriginAllowed(r) {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.o.Drain.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if err := h.o.Ready(r.Context()); err != nil {
		h.o.Log.WarnContext(r.Context(), "not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(h.o.JWKSMaxAge/time.Second)))
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(h.o.JWKS)
}

// clientIP is the connection's peer, or, when that peer is a trusted proxy, the
// nearest address in X-Forwarded-For that is not one: a client cannot choose
// its own address by sending the header.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		addr = hop.Unmap()
		if !isTrusted(addr, trusted) {
			break
		}
	}
	return addr.String()
}

// limitKey is the network the rate limits count a client address against.
// One IPv6 host is normally handed a whole /64 and can walk through it at will,
// so counting full IPv6 addresses would give it billions of budgets; IPv4
// addresses (IPv4-mapped ones included) count one by one. A zone names the
// local interface, not the peer, and is dropped. Anything that is not an
// address counts as the string itself.
func limitKey(ip string, v6Bits int) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if addr.Is4() {
		// An IPv4 address netip parsed is written as netip writes it (it
		// refuses leading zeros): ip itself, not formatted again.
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	if v6Bits <= 0 || v6Bits > 128 {
		v6Bits = 64
	}
	p, _ := addr.Prefix(v6Bits)
	return p.String()
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// bearer extracts the token of "Authorization: Bearer <token>" (scheme
// case-insensitive, RFC 6750).
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Header values every answer carries, made once: Header.Set would make a
// one-element slice per header per request. Full slices (len = cap), so an
// Add to one of these headers copies instead of writing into the shared array.
var (
	nosniff    = []string{"nosniff"}
	noReferrer = []string{"no-referrer"}
	noStore    = []string{"no-store"}
)

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = noReferrer
		next.ServeHTTP(w, r)
	})
}

// recover answers a panic outside the GraphQL executor with a generic 500.
func (h *handler) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.o.Log.ErrorContext(r.Context(), "panic in handler", "panic", p, "path", r.URL.Path)
				graph.WriteInternalError(r.Context(), w)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// logRequests logs method, path, status and duration: never headers, bodies or
// query strings, which carry tokens and passwords.
func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		h.o.Log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("took", time.Since(start)))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
