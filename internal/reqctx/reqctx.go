// Package reqctx carries what the HTTP layer learned about a request (client
// address, credentials) to the GraphQL layer, and lets resolvers set
// the refresh cookie on the response. It keeps the resolvers free of
// net/http requests: they read one struct, whatever the transport.
package reqctx

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/authql/authql/internal/auth"
)

// CookieName is the refresh cookie. The __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain: no subdomain can set or shadow it.
const CookieName = "__Host-authql_refresh"

// Request is the per-request state.
type Request struct {
	// Client is the caller's address (as the trusted proxies tell it) and user agent.
	Client auth.Client
	// Bearer is the access token of the Authorization header, if any.
	Bearer string
	// RefreshCookie is the refresh token cookie, if any; only the resolvers
	// know whether cookie mode is on, and read it then.
	RefreshCookie string
	// ForeignOrigin is a browser request from an origin that may not run mutations.
	ForeignOrigin bool

	w         http.ResponseWriter
	once      sync.Once
	principal *auth.Principal
	err       error
}

type ctxKey struct{}

// With returns ctx carrying r, which writes cookies to w.
func With(ctx context.Context, r *Request, w http.ResponseWriter) context.Context {
	r.w = w
	return context.WithValue(ctx, ctxKey{}, r)
}

// From returns the request state; an empty one outside an HTTP request.
func From(ctx context.Context) *Request {
	if r, ok := ctx.Value(ctxKey{}).(*Request); ok {
		return r
	}
	return &Request{}
}

// Memo runs authenticate at most once per request and keeps its answer: every
// @auth field of one request shares one token check.
func (r *Request) Memo(authenticate func() (*auth.Principal, error)) (*auth.Principal, error) {
	r.once.Do(func() { r.principal, r.err = authenticate() })
	return r.principal, r.err
}

// SetRefreshCookie sets (or, with an empty value, clears) the refresh cookie.
func (r *Request) SetRefreshCookie(value string, expires time.Time) {
	if r.w == nil {
		return
	}
	maxAge := int(time.Until(expires).Seconds())
	if value == "" || maxAge <= 0 {
		maxAge = -1 // net/http writes Max-Age=0
		value = ""
	}
	http.SetCookie(r.w, &http.Cookie{
		Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}
