package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/testkit/jwtforge"
	"github.com/authql/authql/internal/testkit/logbuf"
)

// ecPrivateScalar is the "d" member of the P-256 test key.
func ecPrivateScalar(k *testKeys) string {
	d, err := k.ec.Bytes()
	if err != nil {
		panic(err)
	}
	return b64(d)
}

func TestParseJWK(t *testing.T) {
	k := keysOnce()
	ed, ec, rs := edJWK("k", k.ed), ecJWK("k", k.ec), rsaJWK("k", k.rsa)
	tests := []struct {
		name    string
		jwk     map[string]any
		wantAlg string // "" when the key must be refused
		wantErr error  // checked with errors.Is when set
	}{
		{name: "Ed25519", jwk: ed, wantAlg: "EdDSA"},
		{name: "P-256", jwk: ec, wantAlg: "ES256"},
		{name: "RSA 2048", jwk: rs, wantAlg: "RS256"},
		{name: "no alg: taken from the key type", jwk: jwtforge.With(rs, "alg", nil), wantAlg: "RS256"},
		{name: "no use, no key_ops", jwk: jwtforge.With(jwtforge.With(ed, "use", nil), "key_ops", nil), wantAlg: "EdDSA"},

		{name: "Ed25519 with private d", jwk: jwtforge.With(ed, "d", b64(k.ed.Seed())), wantErr: errPrivateMember},
		{name: "P-256 with private d", jwk: jwtforge.With(ec, "d", ecPrivateScalar(k)), wantErr: errPrivateMember},
		{name: "RSA with private p", jwk: jwtforge.With(rs, "p", b64(k.rsa.Primes[0].Bytes())), wantErr: errPrivateMember},
		{name: "symmetric key", jwk: map[string]any{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}, wantErr: errPrivateMember},

		{name: "unknown kty", jwk: jwtforge.With(ed, "kty", "XYZ"), wantErr: errUnsupportedKey},
		{name: "X25519", jwk: jwtforge.With(ed, "crv", "X25519"), wantErr: errUnsupportedKey},
		{name: "P-384", jwk: jwtforge.With(ec, "crv", "P-384"), wantErr: errUnsupportedKey},
		{name: "alg of another key type", jwk: jwtforge.With(ed, "alg", "RS256"), wantErr: errUnsupportedKey},
		{name: "RSA for PS256", jwk: jwtforge.With(rs, "alg", "PS256"), wantErr: errUnsupportedKey},
		{name: "encryption key", jwk: jwtforge.With(rs, "use", "enc"), wantErr: errUnsupportedKey},
		{name: "key_ops without verify", jwk: jwtforge.With(ed, "key_ops", []string{"encrypt"}), wantErr: errUnsupportedKey},

		{name: "missing kid", jwk: jwtforge.With(ed, "kid", nil)},
		{name: "RSA 1024", jwk: rsaJWK("k", k.rsa1k)},
		{name: "RSA even exponent", jwk: jwtforge.With(rs, "e", b64([]byte{1, 0, 0}))},
		{name: "P-256 point not on the curve", jwk: jwtforge.With(ec, "y", b64(make([]byte, 32)))},
		{name: "Ed25519 short x", jwk: jwtforge.With(ed, "x", b64(make([]byte, 31)))},
		{name: "padded base64", jwk: jwtforge.With(ed, "x", ed["x"].(string)+"=")},
		{name: "missing x", jwk: jwtforge.With(ed, "x", nil)},
		{name: "member of wrong type", jwk: jwtforge.With(ed, "x", 42)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(tt.jwk)
			_, pk, err := parseJWK(raw)
			if tt.wantAlg != "" {
				if err != nil || pk.alg != tt.wantAlg {
					t.Fatalf("parseJWK = %q, %v; want %q", pk.alg, err, tt.wantAlg)
				}
				return
			}
			if err == nil {
				t.Fatalf("parseJWK accepted the key as %q", pk.alg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestParseJWKSSkipsBadKeysOnly(t *testing.T) {
	k := keysOnce()
	body, _ := json.Marshal(map[string]any{"keys": []any{
		edJWK("good", k.ed),
		jwtforge.With(ecJWK("leaked", k.ec), "d", ecPrivateScalar(k)),
		map[string]any{"kty": "oct", "kid": "hmac", "alg": "HS256"},
		"not an object",
		rsaJWK("good", k.rsa), // duplicate kid
		rsaJWK("rsa", k.rsa),
	}})
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["good"].alg != "EdDSA" || keys["rsa"].alg != "RS256" {
		t.Errorf("keys = %v, want good (EdDSA) and rsa", keys)
	}
	if len(skipped) != 4 {
		t.Errorf("skipped = %v, want 4 errors", skipped)
	}

	for _, doc := range []string{`[]`, `{}`, `{"keys": {}}`, `nope`} {
		if _, _, err := parseJWKS([]byte(doc)); err == nil {
			t.Errorf("parseJWKS(%s) succeeded", doc)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	const lo, hi = time.Minute, time.Hour
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"public, max-age=600", 10 * time.Minute},
		{"max-age=0", lo},
		{"max-age=5", lo},
		{"max-age=99999999999999999", hi},
		{`MAX-AGE="120"`, 2 * time.Minute},
		{"public, max-age=600, no-cache", lo},
		{"no-store", lo},
		{"max-age=-5", defaultTTL},
		{"max-age=soon", defaultTTL},
		{"", defaultTTL},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Cache-Control", tt.header)
			}
			if got := cacheTTL(h, lo, hi); got != tt.want {
				t.Errorf("cacheTTL = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	k := keysOnce()
	srv := newJWKSServer(t, edJWK("2024", k.ed))
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	next := sign(t, jwt.SigningMethodEdDSA, k.ed2, "2025", claimsAt(clock.Now()), nil)

	srv.setKeys(edJWK("2024", k.ed), edJWK("2025", k.ed2))
	// Within MinRefreshInterval of the last fetch an unknown kid is refused
	// without asking authql.
	if _, err := v.Verify(context.Background(), next); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if hits := srv.hits.Load(); hits != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", hits)
	}

	clock.Advance(defaultMinRefreshInterval)
	if _, err := v.Verify(context.Background(), next); err != nil {
		t.Fatalf("token signed with the new key: %v", err)
	}
	if hits := srv.hits.Load(); hits != 2 {
		t.Errorf("JWKS fetched %d times, want 2", hits)
	}
}

func TestUnknownKidRefreshIsRateLimited(t *testing.T) {
	srv, k := standardServer(t)
	srv.set(func(s *jwksServer) { s.delay = 50 * time.Millisecond }) // let the callers pile up
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	clock.Advance(defaultMinRefreshInterval)

	burst := func() {
		var wg sync.WaitGroup
		for range 100 {
			token := sign(t, jwt.SigningMethodEdDSA, k.ed, fmt.Sprint(rand.Int64()), claimsAt(clock.Now()), nil)
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrUnknownKey) {
					t.Errorf("err = %v, want ErrUnknownKey", err)
				}
			})
		}
		wg.Wait()
	}

	burst()
	if hits := srv.hits.Load(); hits != 2 {
		t.Errorf("after 100 concurrent unknown kids: %d fetches, want 2 (initial + one refresh)", hits)
	}
	clock.Advance(defaultMinRefreshInterval - time.Second)
	burst()
	if hits := srv.hits.Load(); hits != 2 {
		t.Errorf("a second burst within MinRefreshInterval fetched again: %d fetches", hits)
	}
}

func TestFailedRefreshKeepsKeys(t *testing.T) {
	k := keysOnce()
	tests := []struct {
		name   string
		status int
		body   []byte
	}{
		{"server error", http.StatusBadGateway, []byte("bad gateway")},
		{"not JSON", http.StatusOK, []byte("<html>maintenance</html>")},
		{"no keys member", http.StatusOK, []byte(`{}`)},
		{"oversized", http.StatusOK, []byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, edJWK("ed", k.ed))
			clock := newClock()
			logs := &logbuf.Buffer{}
			v := newTestVerifier(t, srv, clock, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
			srv.setResponse(tt.status, tt.body)
			clock.Advance(2 * time.Hour) // past any cache TTL and refresh interval

			unknown := sign(t, jwt.SigningMethodEdDSA, k.ed, "unknown", claimsAt(clock.Now()), nil)
			if _, err := v.Verify(context.Background(), unknown); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("unknown kid: err = %v, want ErrUnknownKey", err)
			}
			known := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claimsAt(clock.Now()), nil)
			if _, err := v.Verify(context.Background(), known); err != nil {
				t.Errorf("known kid after failed refresh: %v", err)
			}
			if hits := srv.hits.Load(); hits != 2 {
				t.Errorf("JWKS fetched %d times, want 2", hits)
			}
			if !strings.Contains(logs.String(), "JWKS refresh failed") {
				t.Errorf("failure not logged; logs: %s", logs)
			}
		})
	}
}

func TestExpiredCacheIsRefreshedInBackground(t *testing.T) {
	k := keysOnce()
	srv := newJWKSServer(t, edJWK("old", k.ed))
	srv.set(func(s *jwksServer) { s.cacheControl = "public, max-age=120" })
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	oldToken := func() string { return sign(t, jwt.SigningMethodEdDSA, k.ed, "old", claimsAt(clock.Now()), nil) }

	// authql retires the old key and publishes a new one.
	srv.setKeys(edJWK("new", k.ed2))

	clock.Advance(119 * time.Second)
	if _, err := v.Verify(context.Background(), oldToken()); err != nil {
		t.Fatalf("before max-age: %v", err)
	}
	waitForRefresh(v)
	if hits := srv.hits.Load(); hits != 1 {
		t.Fatalf("fetched %d times before max-age elapsed, want 1", hits)
	}

	clock.Advance(time.Second)
	// The cached key still serves this request while the refresh runs...
	if _, err := v.Verify(context.Background(), oldToken()); err != nil {
		t.Fatalf("at max-age: %v", err)
	}
	waitForRefresh(v)
	if hits := srv.hits.Load(); hits != 2 {
		t.Fatalf("fetched %d times, want 2", hits)
	}
	// ...and after it the retired key is gone and the new one is known.
	if _, err := v.Verify(context.Background(), oldToken()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("retired key: err = %v, want ErrUnknownKey", err)
	}
	newToken := sign(t, jwt.SigningMethodEdDSA, k.ed2, "new", claimsAt(clock.Now()), nil)
	if _, err := v.Verify(context.Background(), newToken); err != nil {
		t.Errorf("new key: %v", err)
	}
}

func TestKeyWithPrivateMemberIsNotUsed(t *testing.T) {
	k := keysOnce()
	srv := newJWKSServer(t,
		jwtforge.With(edJWK("leaked", k.ed), "d", b64(k.ed.Seed())),
		ecJWK("ec", k.ec),
	)
	logs := &logbuf.Buffer{}
	v := newTestVerifier(t, srv, newClock(), func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	now := time.Unix(1_800_000_000, 0)

	leaked := sign(t, jwt.SigningMethodEdDSA, k.ed, "leaked", claimsAt(now), nil)
	if _, err := v.Verify(context.Background(), leaked); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("key with private member: err = %v, want ErrUnknownKey", err)
	}
	good := sign(t, jwt.SigningMethodES256, k.ec, "ec", claimsAt(now), nil)
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Errorf("other key of the same set: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "private members") {
		t.Errorf("leaked private key not logged as an error; logs: %s", l)
	}
}
