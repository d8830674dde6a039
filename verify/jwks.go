package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// maxJWKSBytes bounds what we read from the JWKS endpoint. A real key set
	// is a few KiB; the bound keeps a misbehaving server from exhausting memory.
	maxJWKSBytes = 1 << 20

	// fetchTimeout bounds one JWKS request that runs detached from the request
	// that triggered it (see keySet.refreshLocked).
	fetchTimeout = 10 * time.Second

	// defaultTTL is used when the response carries no max-age.
	defaultTTL = 5 * time.Minute

	// RSA keys outside these bounds are refused: smaller ones are weak, larger
	// ones only make each verification slow.
	minRSABits = 2048
	maxRSABits = 8192
)

var (
	// errUnsupportedKey marks keys this package does not use (other kty, curve,
	// alg or use). They are skipped quietly: a future authql may publish keys
	// for algorithms this version does not know.
	errUnsupportedKey = errors.New("unsupported key")
	// errPrivateMember marks a published key that carries private material.
	// Such a key is compromised by definition and is never used.
	errPrivateMember = errors.New("key has private members")
)

// privateMembers are the JWK members that only private or symmetric keys
// have (RFC 7518 section 6).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicKey is a verification key together with the one JWS algorithm it may
// be used with. Binding the algorithm to the key, instead of trusting the
// token's alg header, is what defeats algorithm-confusion attacks.
type publicKey struct {
	alg string
	key crypto.PublicKey
}

// jwk holds the public members of one JSON Web Key that we use.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	N      string   `json:"n"`
	E      string   `json:"e"`
}

// parseJWKS decodes a JWK Set. Keys that cannot or must not be used are left
// out and reported in skipped; err is set only when the document itself is
// unusable, so one odd key never takes the others down with it.
func parseJWKS(body []byte) (keys map[string]publicKey, skipped []error, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode JWKS: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`decode JWKS: no "keys" member`)
	}
	keys = make(map[string]publicKey, len(doc.Keys))
	for i, raw := range doc.Keys {
		kid, k, err := parseJWK(raw)
		switch {
		case err != nil:
			skipped = append(skipped, fmt.Errorf("JWKS key #%d (kid %q): %w", i, kid, err))
		case keys[kid].key != nil:
			// Two keys under one kid make the choice ambiguous; keep the first.
			skipped = append(skipped, fmt.Errorf("JWKS key #%d (kid %q): duplicate kid", i, kid))
		default:
			keys[kid] = k
		}
	}
	return keys, skipped, nil
}

// parseJWK turns one JWK into a public key. It returns the kid, when it could
// read one, even on error so that the error can be logged usefully.
func parseJWK(raw json.RawMessage) (string, publicKey, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return "", publicKey{}, fmt.Errorf("decode key: %w", err)
	}
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", publicKey{}, fmt.Errorf("decode key: %w", err)
	}
	// Checked before anything else so that a leaked private key is always
	// reported as such, whatever its type.
	for _, name := range privateMembers {
		if _, ok := members[name]; ok {
			return k.Kid, publicKey{}, fmt.Errorf("%w (%q)", errPrivateMember, name)
		}
	}
	if k.Kid == "" {
		// Tokens select their key by kid; a key without one can never be chosen.
		return "", publicKey{}, errors.New("missing kid")
	}
	if k.Use != "" && k.Use != "sig" {
		return k.Kid, publicKey{}, fmt.Errorf("%w: use %q", errUnsupportedKey, k.Use)
	}
	if len(k.KeyOps) > 0 && !slices.Contains(k.KeyOps, "verify") {
		return k.Kid, publicKey{}, fmt.Errorf("%w: key_ops without verify", errUnsupportedKey)
	}

	var pk publicKey
	var err error
	switch k.Kty {
	case "OKP":
		pk, err = parseOKP(k)
	case "EC":
		pk, err = parseEC(k)
	case "RSA":
		pk, err = parseRSA(k)
	default:
		err = fmt.Errorf("%w: kty %q", errUnsupportedKey, k.Kty)
	}
	if err != nil {
		return k.Kid, publicKey{}, err
	}
	if k.Alg != "" && k.Alg != pk.alg {
		return k.Kid, publicKey{}, fmt.Errorf("%w: alg %q with kty %q", errUnsupportedKey, k.Alg, k.Kty)
	}
	return k.Kid, pk, nil
}

func parseOKP(k jwk) (publicKey, error) {
	if k.Crv != "Ed25519" {
		return publicKey{}, fmt.Errorf("%w: OKP curve %q", errUnsupportedKey, k.Crv)
	}
	x, err := decodeMember("x", k.X)
	if err != nil {
		return publicKey{}, err
	}
	if len(x) != ed25519.PublicKeySize {
		return publicKey{}, errors.New("Ed25519 key: x has wrong length")
	}
	return publicKey{alg: "EdDSA", key: ed25519.PublicKey(x)}, nil
}

func parseEC(k jwk) (publicKey, error) {
	if k.Crv != "P-256" {
		return publicKey{}, fmt.Errorf("%w: EC curve %q", errUnsupportedKey, k.Crv)
	}
	x, err := decodeMember("x", k.X)
	if err != nil {
		return publicKey{}, err
	}
	y, err := decodeMember("y", k.Y)
	if err != nil {
		return publicKey{}, err
	}
	if len(x) != 32 || len(y) != 32 {
		return publicKey{}, errors.New("P-256 key: x or y has wrong length")
	}
	// ParseUncompressedPublicKey rejects points that are not on the curve,
	// which invalid-curve attacks rely on.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return publicKey{}, fmt.Errorf("P-256 key: %w", err)
	}
	return publicKey{alg: "ES256", key: pub}, nil
}

func parseRSA(k jwk) (publicKey, error) {
	n, err := decodeMember("n", k.N)
	if err != nil {
		return publicKey{}, err
	}
	e, err := decodeMember("e", k.E)
	if err != nil {
		return publicKey{}, err
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
	if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return publicKey{}, fmt.Errorf("RSA key: %d-bit modulus outside [%d, %d]", bits, minRSABits, maxRSABits)
	}
	exp := new(big.Int).SetBytes(e)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 || exp.Bit(0) == 0 {
		return publicKey{}, errors.New("RSA key: invalid exponent")
	}
	pub.E = int(exp.Int64())
	return publicKey{alg: "RS256", key: pub}, nil
}

func decodeMember(name, value string) ([]byte, error) {
	if value == "" {
		return nil, fmt.Errorf("missing %q", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", name, err)
	}
	return b, nil
}

// cacheTTL reads how long a JWKS response may be cached from its
// Cache-Control header, bounded to [lo, hi]: the lower bound protects the
// endpoint from a max-age=0, the upper bound makes removed keys disappear in
// reasonable time.
func cacheTTL(h http.Header, lo, hi time.Duration) time.Duration {
	ttl := defaultTTL
	noCache := false
	for _, directive := range strings.Split(strings.Join(h.Values("Cache-Control"), ","), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
		switch strings.ToLower(name) {
		case "max-age":
			secs, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err == nil && secs >= 0 {
				ttl = time.Duration(min(secs, int64(hi/time.Second)+1)) * time.Second
			}
		case "no-cache", "no-store":
			noCache = true
		}
	}
	if noCache {
		ttl = 0
	}
	return max(lo, min(ttl, hi))
}

// keySet is a cached JWKS. Lookups of known kids are served from memory; an
// unknown kid or an expired cache triggers a refresh, but never more often
// than once per minInterval, and concurrent callers share one request, so
// tokens with made-up kids cannot be turned into a flood against authql.
type keySet struct {
	url         string
	client      *http.Client
	minInterval time.Duration
	minTTL      time.Duration
	maxTTL      time.Duration
	logger      *slog.Logger
	now         func() time.Time

	mu        sync.Mutex
	keys      map[string]publicKey
	expires   time.Time  // when keys should be refreshed
	lastFetch time.Time  // start of the last fetch attempt, failed or not
	inflight  *fetchCall // the running fetch, if any
}

// fetchCall is one JWKS fetch that any number of callers can wait for.
type fetchCall struct {
	done chan struct{}
	err  error // set before done is closed
}

// key returns the key for kid. A cached key is returned at once even when
// the cache has expired (a refresh then starts in the background), so a slow
// or unavailable authql does not stall requests. An unknown kid waits for a
// refresh when the rate limit allows one, and fails with ErrUnknownKey
// otherwise.
func (ks *keySet) key(ctx context.Context, kid string) (publicKey, error) {
	ks.mu.Lock()
	k, ok := ks.keys[kid]
	if ok {
		if !ks.now().Before(ks.expires) {
			ks.refreshLocked(ctx)
		}
		ks.mu.Unlock()
		return k, nil
	}
	call := ks.refreshLocked(ctx)
	ks.mu.Unlock()
	if call == nil {
		return publicKey{}, ErrUnknownKey
	}

	select {
	case <-call.done:
	case <-ctx.Done():
		return publicKey{}, ctx.Err()
	}
	ks.mu.Lock()
	k, ok = ks.keys[kid]
	ks.mu.Unlock()
	if !ok {
		return publicKey{}, ErrUnknownKey
	}
	return k, nil
}

// refreshLocked joins the running fetch or starts a new one, unless the last
// attempt began less than minInterval ago; then it returns nil. The fetch
// runs in its own goroutine, detached from ctx's cancellation, because other
// callers may be waiting for it after the one that started it has gone.
// ks.mu must be held.
func (ks *keySet) refreshLocked(ctx context.Context) *fetchCall {
	if ks.inflight != nil {
		return ks.inflight
	}
	now := ks.now()
	if !ks.lastFetch.IsZero() && now.Sub(ks.lastFetch) < ks.minInterval {
		return nil
	}
	ks.lastFetch = now
	call := &fetchCall{done: make(chan struct{})}
	ks.inflight = call
	go func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		err := ks.refresh(fctx)
		ks.mu.Lock()
		ks.inflight = nil
		ks.mu.Unlock()
		call.err = err
		close(call.done)
	}()
	return call
}

// refresh fetches the key set and replaces the cached keys with it. On
// failure the cached keys stay in use: an authql outage must not log every
// user out of every service.
func (ks *keySet) refresh(ctx context.Context) error {
	keys, ttl, err := ks.fetch(ctx)
	if err != nil {
		ks.logger.WarnContext(ctx, "verify: JWKS refresh failed; keeping cached keys", "url", ks.url, "error", err)
		return err
	}
	ks.mu.Lock()
	ks.keys = keys
	ks.expires = ks.now().Add(ttl)
	ks.mu.Unlock()
	return nil
}

func (ks *keySet) fetch(ctx context.Context) (map[string]publicKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetch JWKS: unexpected status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("fetch JWKS: response larger than %d bytes", maxJWKSBytes)
	}
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range skipped {
		level := slog.LevelWarn
		switch {
		case errors.Is(e, errPrivateMember):
			level = slog.LevelError
		case errors.Is(e, errUnsupportedKey):
			level = slog.LevelDebug
		}
		ks.logger.Log(ctx, level, "verify: ignoring JWKS key", "url", ks.url, "error", e)
	}
	return keys, cacheTTL(resp.Header, ks.minTTL, ks.maxTTL), nil
}
