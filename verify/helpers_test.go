package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/testkit/jwtforge"
)

const (
	testIssuer   = "https://auth.test"
	testAudience = "orders-api"
)

// testClock is a settable clock, safe for the concurrent use -race checks.
type testClock struct{ ns atomic.Int64 }

func newClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testKeys are generated once: RSA key generation is slow under -race.
type testKeys struct {
	ed    ed25519.PrivateKey
	ed2   ed25519.PrivateKey // a second Ed25519 key, for rotation
	ec    *ecdsa.PrivateKey
	rsa   *rsa.PrivateKey
	rsa1k *rsa.PrivateKey // too small to be trusted
}

var keysOnce = sync.OnceValue(func() *testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &testKeys{}
	var err error
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, k.ed2, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa1k, err = rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	return k
})

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func edJWK(kid string, priv ed25519.PrivateKey) map[string]any {
	return map[string]any{
		"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig", "key_ops": []string{"verify"},
		"x": b64(priv.Public().(ed25519.PublicKey)),
	}
}

func ecJWK(kid string, priv *ecdsa.PrivateKey) map[string]any {
	pt, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]any{
		"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
		"x": b64(pt[1:33]), "y": b64(pt[33:]),
	}
}

func rsaJWK(kid string, priv *rsa.PrivateKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(priv.N.Bytes()), "e": b64(big.NewInt(int64(priv.E)).Bytes()),
	}
}

// jwksServer serves a JWKS that tests can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu           sync.Mutex
	status       int
	body         []byte
	cacheControl string
	delay        time.Duration
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{cacheControl: "public, max-age=300"}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body, cc, delay := s.status, s.body, s.cacheControl, s.delay
		s.mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cc)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]any) {
	if keys == nil {
		keys = []map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	s.setResponse(http.StatusOK, body)
}

func (s *jwksServer) setResponse(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *jwksServer) url() string { return s.URL + "/.well-known/jwks.json" }

// newTestVerifier builds a Verifier on srv with clock, quiet logging and
// optional config changes.
func newTestVerifier(t *testing.T, srv *jwksServer, clock *testClock, mutate ...func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{
		JWKSURL:    srv.url(),
		Issuer:     testIssuer,
		Audience:   testAudience,
		HTTPClient: srv.Client(),
		Logger:     slog.New(slog.DiscardHandler),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := newVerifier(context.Background(), cfg, clock.Now)
	if err != nil {
		t.Fatalf("newVerifier: %v", err)
	}
	return v
}

// claimsAt returns the claims authql puts in an access token issued at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "user-1",
		"sid": "session-1",
		"jti": "token-1",
		"iat": now.Unix(),
		"exp": now.Add(15 * time.Minute).Unix(),
	}
}

// sign makes a token the way authql does (typ at+jwt, kid), then applies
// header changes; a nil value deletes a header.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	h := map[string]any{"typ": "at+jwt", "kid": kid}
	maps.Copy(h, header)
	return jwtforge.Sign(t, method, key, h, claims)
}

// waitForRefresh waits for a background key-set fetch, if one is running.
func waitForRefresh(v *Verifier) {
	v.keys.mu.Lock()
	call := v.keys.inflight
	v.keys.mu.Unlock()
	if call != nil {
		<-call.done
	}
}
