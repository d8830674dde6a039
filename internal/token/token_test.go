package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/testkit/jwtforge"
	"github.com/authql/authql/internal/token"
)

// Fixed inputs: every test runs against a fake clock so that expiry is checked
// to the second, independent of how long the test takes.
var (
	secret      = []byte("0123456789abcdef0123456789abcdef-test-secret")
	otherSecret = []byte("fedcba9876543210fedcba9876543210-other-secret")
	t0          = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	farFuture   = t0.Add(365 * 24 * time.Hour)
)

const (
	issuer   = "authql"
	audience = "authql"
	ttl      = 15 * time.Minute
	userID   = "user-1"
	sessID   = "session-1"
)

// clock is a settable time source for Config.Now.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// asymKey is one asymmetric access-token key with both halves.
type asymKey struct {
	method jwt.SigningMethod
	priv   crypto.Signer
	pub    crypto.PublicKey
}

func (k asymKey) signing(id string) token.Key {
	return token.Key{ID: id, Algorithm: k.method.Alg(), SignKey: k.priv, VerifyKey: k.pub}
}

func (k asymKey) verifyOnly(id string) token.Key {
	return token.Key{ID: id, Algorithm: k.method.Alg(), VerifyKey: k.pub}
}

// keys are generated once per test binary: RSA generation is slow under -race.
var keys = sync.OnceValue(func() map[string]asymKey {
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	edPub2, edPriv2, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return map[string]asymKey{
		"EdDSA":  {jwt.SigningMethodEdDSA, edPriv, edPub},
		"EdDSA2": {jwt.SigningMethodEdDSA, edPriv2, edPub2},
		"ES256":  {jwt.SigningMethodES256, ec, &ec.PublicKey},
		"RS256":  {jwt.SigningMethodRS256, rs, &rs.PublicKey},
	}
})

func newService(t testing.TB, cfg token.Config) *token.Service {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	if cfg.Issuer == "" {
		cfg.Issuer = issuer
	}
	if cfg.Audience == "" {
		cfg.Audience = audience
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = ttl
	}
	s, err := token.New(cfg)
	if err != nil {
		t.Fatalf("token.New: %v", err)
	}
	return s
}

// hsService is the zero-configuration mode: HS256 with the server secret, on a
// fake clock.
func hsService(t testing.TB) (*token.Service, *clock) {
	c := &clock{now: t0}
	return newService(t, token.Config{Now: c.Now}), c
}

// segments splits a compact JWT and decodes its header and payload as JSON.
func segments(t *testing.T, raw string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3: %q", len(parts), raw)
	}
	decode := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment is not base64url: %v", err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("segment is not JSON: %v", err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}

// accessClaims are valid access claims at t0 unless changed.
func accessClaims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": issuer, "aud": []string{audience}, "sub": userID, "sid": sessID,
		"jti": "jti-1", "iat": t0.Unix(), "exp": t0.Add(ttl).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// refreshClaims are valid refresh claims at t0 unless changed.
func refreshClaims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": issuer, "sub": userID, "sid": sessID,
		"jti": "jti-r", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// retamper replaces the payload of a signed token and keeps its signature.
func retamper(t *testing.T, raw string, mod func(map[string]any)) string {
	t.Helper()
	_, payload := segments(t, raw)
	mod(payload)
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(raw, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// TestNew checks that a misconfigured Service is refused at start-up rather
// than issuing tokens anyone could forge or nobody could verify.
func TestNew(t *testing.T) {
	ed := keys()["EdDSA"]
	ec := keys()["ES256"]
	tests := []struct {
		name    string
		cfg     token.Config
		wantErr string
	}{
		{"secret of 31 bytes is too short to be an HS256 key",
			token.Config{Secret: secret[:31]}, "at least 32 bytes"},
		{"empty secret", token.Config{Secret: []byte{}}, "at least 32 bytes"},
		{"secret of exactly 32 bytes is enough", token.Config{Secret: secret[:32]}, ""},
		{"duplicate kid would make verification ambiguous",
			token.Config{Secret: secret, Keys: []token.Key{ed.signing("k1"), ec.signing("k1")}}, "repeated"},
		{"empty kid cannot be looked up",
			token.Config{Secret: secret, Keys: []token.Key{ed.signing("")}}, "empty"},
		{"only verify-only keys: nothing can sign access tokens",
			token.Config{Secret: secret, Keys: []token.Key{ed.verifyOnly("k1"), ec.verifyOnly("k2")}}, "no signing key"},
		{"one signer among verify-only keys",
			token.Config{Secret: secret, Keys: []token.Key{ed.verifyOnly("k1"), ec.signing("k2")}}, ""},
		{`"none" never signs`,
			token.Config{Secret: secret, Keys: []token.Key{{ID: "n", Algorithm: "none", SignKey: jwt.UnsafeAllowNoneSignatureType}}}, "unsupported algorithm"},
		{"an algorithm outside the closed list",
			token.Config{Secret: secret, Keys: []token.Key{{ID: "h", Algorithm: "HS384", SignKey: secret, VerifyKey: secret}}}, "unsupported algorithm"},
		{"asymmetric keys still need the server secret for refresh tokens",
			token.Config{Secret: secret[:10], Keys: []token.Key{ed.signing("k1")}}, "at least 32 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Issuer, tc.cfg.Audience, tc.cfg.AccessTTL = issuer, audience, ttl
			s, err := token.New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("New() = %v, %v; want a service", s, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New() succeeded; want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New() error = %q; want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestIssueAccessShape checks the header and claims the contract promises to
// resource servers that verify access tokens themselves.
func TestIssueAccessShape(t *testing.T) {
	ed := keys()["EdDSA"]
	tests := []struct {
		name    string
		keys    []token.Key
		wantAlg string
		wantKID string
	}{
		{"HS256 with the server secret", nil, "HS256", token.SecretKID(secret)},
		{"EdDSA from the key set", []token.Key{ed.signing("ed-1")}, "EdDSA", "ed-1"},
		{"signer after a verify-only key", []token.Key{keys()["ES256"].verifyOnly("old"), ed.signing("new")}, "EdDSA", "new"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{now: t0.Add(300 * time.Millisecond)} // sub-second: iat/exp are whole seconds
			s := newService(t, token.Config{Keys: tc.keys, Now: c.Now})
			raw, exp, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{})
			if err != nil {
				t.Fatalf("IssueAccess: %v", err)
			}
			h, p := segments(t, raw)
			if h["typ"] != "at+jwt" || h["alg"] != tc.wantAlg || h["kid"] != tc.wantKID {
				t.Errorf("header = %v; want typ at+jwt, alg %s, kid %s", h, tc.wantAlg, tc.wantKID)
			}
			if p["iss"] != issuer || p["sub"] != userID || p["sid"] != sessID {
				t.Errorf("iss/sub/sid = %v/%v/%v", p["iss"], p["sub"], p["sid"])
			}
			switch aud := p["aud"].(type) {
			case string:
				if aud != audience {
					t.Errorf("aud = %q; want %q", aud, audience)
				}
			case []any:
				if len(aud) != 1 || aud[0] != audience {
					t.Errorf("aud = %v; want [%q]", aud, audience)
				}
			default:
				t.Errorf("aud = %#v; want %q", p["aud"], audience)
			}
			if jti, _ := p["jti"].(string); jti == "" {
				t.Errorf("jti missing: %v", p)
			}
			if p["iat"] != float64(t0.Unix()) {
				t.Errorf("iat = %v; want %d", p["iat"], t0.Unix())
			}
			if want := t0.Add(ttl); p["exp"] != float64(want.Unix()) || !exp.Equal(want) {
				t.Errorf("exp claim = %v, returned %v; want %v", p["exp"], exp, want)
			}
			// A second token of the same session is a distinct token.
			raw2, _, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{})
			if err != nil {
				t.Fatal(err)
			}
			if _, p2 := segments(t, raw2); p2["jti"] == p["jti"] {
				t.Errorf("two access tokens share jti %v", p["jti"])
			}
			got, err := s.VerifyAccess(raw)
			if err != nil {
				t.Fatalf("VerifyAccess(own token): %v", err)
			}
			if got.Subject != userID || got.SessionID != sessID || got.ID != p["jti"] {
				t.Errorf("VerifyAccess claims = %+v", got)
			}
		})
	}
}

// TestIssueAccessClampedToSession checks that an access token never outlives
// its session's absolute end, and otherwise lasts exactly the configured TTL.
func TestIssueAccessClampedToSession(t *testing.T) {
	tests := []struct {
		name     string
		notAfter time.Time
		wantExp  time.Time
	}{
		{"session ends long after the TTL", t0.Add(time.Hour), t0.Add(ttl)},
		{"session ends exactly at the TTL", t0.Add(ttl), t0.Add(ttl)},
		{"session ends before the TTL", t0.Add(2 * time.Minute), t0.Add(2 * time.Minute)},
		{"fractional session end is rounded down, never past it", t0.Add(90*time.Second + 700*time.Millisecond), t0.Add(90 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := hsService(t)
			raw, exp, err := s.IssueAccess(userID, sessID, tc.notAfter, token.Facts{})
			if err != nil {
				t.Fatal(err)
			}
			if !exp.Equal(tc.wantExp) {
				t.Errorf("returned exp = %v; want %v", exp, tc.wantExp)
			}
			if exp.After(tc.notAfter) {
				t.Errorf("exp %v is after the session end %v", exp, tc.notAfter)
			}
			if _, p := segments(t, raw); p["exp"] != float64(tc.wantExp.Unix()) {
				t.Errorf("exp claim = %v; want %d", p["exp"], tc.wantExp.Unix())
			}
			c.now = tc.wantExp
			if _, err := s.VerifyAccess(raw); err == nil {
				t.Errorf("token still accepted at its exp %v", tc.wantExp)
			}
		})
	}
}

// TestVerifyAccessExpiryBoundary checks "no leeway": accepted up to the last
// instant before exp, refused from the second it expires.
func TestVerifyAccessExpiryBoundary(t *testing.T) {
	exp := t0.Add(ttl)
	tests := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"at issue", t0, true},
		{"one second before exp", exp.Add(-time.Second), true},
		{"one millisecond before exp", exp.Add(-time.Millisecond), true},
		{"exactly at exp", exp, false},
		{"half a second after exp", exp.Add(500 * time.Millisecond), false},
		{"one second after exp", exp.Add(time.Second), false},
		{"a day after exp", exp.Add(24 * time.Hour), false},
	}
	for _, tc := range tests {
		// remembered: the token verified once at issue, so this check finds
		// it among the verified tokens and must still apply its expiry.
		for _, remembered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/remembered=%v", tc.name, remembered), func(t *testing.T) {
				s, c := hsService(t)
				raw, _, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{})
				if err != nil {
					t.Fatal(err)
				}
				if remembered {
					if _, err := s.VerifyAccess(raw); err != nil {
						t.Fatalf("at issue: %v", err)
					}
				}
				c.now = tc.at
				_, err = s.VerifyAccess(raw)
				if tc.ok && err != nil {
					t.Errorf("VerifyAccess at exp%+v: %v; want accepted", tc.at.Sub(exp), err)
				}
				if !tc.ok && (err == nil || !errors.Is(err, token.ErrInvalid)) {
					t.Errorf("VerifyAccess at exp%+v: %v; want refused with ErrInvalid", tc.at.Sub(exp), err)
				}
			})
		}
	}
}

// TestVerifyAccessRemembered: a token verified before answers the same
// claims again, each call its own copy; a token that differs from it in any
// byte is verified afresh (and refused when forged); many goroutines verifying
// many tokens at once agree with the parser.
func TestVerifyAccessRemembered(t *testing.T) {
	s, c := hsService(t)
	raw, _, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{EmailVerified: true, AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.VerifyAccess(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.VerifyAccess(raw)
	if err != nil {
		t.Fatal(err)
	}
	if first == again {
		t.Error("the same *AccessClaims twice: a caller's change would reach the next caller")
	}
	if again.Subject != userID || again.SessionID != sessID || !again.EmailVerified || !again.ExpiresAt.Equal(t0.Add(ttl)) {
		t.Errorf("remembered claims %+v differ from the token's", again)
	}
	for i := range len(raw) {
		for _, b := range []byte{'A', '_', '.'} {
			if raw[i] == b {
				continue
			}
			forged := raw[:i] + string(b) + raw[i+1:]
			if claims, err := s.VerifyAccess(forged); err == nil {
				t.Fatalf("byte %d changed to %q: accepted %+v", i, b, claims)
			}
		}
	}
	for _, extra := range []string{"=", " ", "\n", "."} {
		if _, err := s.VerifyAccess(raw + extra); err == nil {
			t.Fatalf("the token with %q appended was accepted", extra)
		}
	}

	// Concurrent: more tokens than the cache keeps, each verified by several
	// goroutines, some after expiry.
	tokens := make([]string, 3*token.VerifiedGeneration)
	for i := range tokens {
		if tokens[i], _, err = s.IssueAccess(fmt.Sprint("user-", i), sessID, farFuture, token.Facts{}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(tokens); i += 2 {
				claims, err := s.VerifyAccess(tokens[i])
				if err != nil || claims.Subject != fmt.Sprint("user-", i) {
					t.Errorf("token %d: %+v, %v", i, claims, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := token.Remembered(s); n > 2*token.VerifiedGeneration {
		t.Errorf("%d tokens remembered, want at most %d", n, 2*token.VerifiedGeneration)
	}
	c.now = t0.Add(ttl)
	for _, raw := range []string{raw, tokens[0], tokens[len(tokens)-1]} {
		if _, err := s.VerifyAccess(raw); err == nil {
			t.Error("an expired token was accepted from the cache")
		}
	}
}

// refusalEnv is what a refusal case may use to build its token.
type refusalEnv struct {
	s     *token.Service
	clock *clock
	// genuine is a valid access token issued at t0 by s.
	genuine string
}

// TestVerifyAccessRefuses lists the tokens an @auth field must turn away.
// Every refusal wraps ErrInvalid and returns no claims.
func TestVerifyAccessRefuses(t *testing.T) {
	ed := keys()["EdDSA"]
	ec := keys()["ES256"]
	hsKID := token.SecretKID(secret)
	hsHeader := map[string]any{"typ": "at+jwt", "kid": hsKID}

	tests := []struct {
		name  string
		keys  []token.Key // nil: HS256 with the secret
		token func(t *testing.T, e refusalEnv) string
	}{
		{"empty string", nil, func(*testing.T, refusalEnv) string { return "" }},
		{"not a JWT", nil, func(*testing.T, refusalEnv) string { return "not-a-jwt" }},
		{"alg none", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hsHeader, accessClaims(nil))
		}},
		{"alg none, signature stripped from a genuine token", nil, func(t *testing.T, e refusalEnv) string {
			parts := strings.Split(e.genuine, ".")
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"` + hsKID + `"}`))
			return h + "." + parts[1] + "."
		}},
		{"tampered payload (sub changed)", nil, func(t *testing.T, e refusalEnv) string {
			return retamper(t, e.genuine, func(p map[string]any) { p["sub"] = "admin" })
		}},
		{"tampered payload (exp extended)", nil, func(t *testing.T, e refusalEnv) string {
			return retamper(t, e.genuine, func(p map[string]any) { p["exp"] = farFuture.Unix() })
		}},
		{"signature removed", nil, func(t *testing.T, e refusalEnv) string {
			return e.genuine[:strings.LastIndexByte(e.genuine, '.')+1]
		}},
		{"wrong key (other secret, same kid)", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, otherSecret, hsHeader, accessClaims(nil))
		}},
		{"wrong key (other Ed25519 key, same kid)", []token.Key{ed.signing("ed")}, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodEdDSA, keys()["EdDSA2"].priv, map[string]any{"typ": "at+jwt", "kid": "ed"}, accessClaims(nil))
		}},
		{"expired a second ago", nil, func(t *testing.T, e refusalEnv) string {
			e.clock.now = t0.Add(ttl + time.Second)
			return e.genuine
		}},
		{"exactly at exp", nil, func(t *testing.T, e refusalEnv) string {
			e.clock.now = t0.Add(ttl)
			return e.genuine
		}},
		{"missing exp", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { delete(c, "exp") }))
		}},
		{"not yet valid (nbf in the future)", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Minute).Unix() }))
		}},
		{"wrong iss", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { c["iss"] = "evil" }))
		}},
		{"missing iss", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { delete(c, "iss") }))
		}},
		{"wrong aud", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { c["aud"] = []string{"other-api"} }))
		}},
		{"missing aud", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { delete(c, "aud") }))
		}},
		{"missing sub", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { delete(c, "sub") }))
		}},
		{"missing sid", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, hsHeader, accessClaims(func(c jwt.MapClaims) { delete(c, "sid") }))
		}},
		{"typ JWT", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": "JWT", "kid": hsKID}, accessClaims(nil))
		}},
		{"typ missing", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": nil, "kid": hsKID}, accessClaims(nil))
		}},
		{"typ refresh+jwt with access claims", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": token.TypeRefresh, "kid": hsKID}, accessClaims(nil))
		}},
		{"genuine refresh token presented as access token", nil, func(t *testing.T, e refusalEnv) string {
			r, err := e.s.SignRefresh(e.s.NewRefresh(userID, sessID, time.Hour, farFuture))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"refresh token with an aud and a kid added", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": token.TypeRefresh, "kid": hsKID},
				refreshClaims(func(c jwt.MapClaims) { c["aud"] = audience }))
		}},
		{"unknown kid", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": "at+jwt", "kid": "nope"}, accessClaims(nil))
		}},
		{"missing kid", nil, func(t *testing.T, _ refusalEnv) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": "at+jwt"}, accessClaims(nil))
		}},
		{"algorithm confusion: HS256 signed with the Ed25519 public key, only EdDSA configured",
			[]token.Key{ed.signing("ed")}, func(t *testing.T, _ refusalEnv) string {
				return jwtforge.Sign(t, jwt.SigningMethodHS256, []byte(ed.pub.(ed25519.PublicKey)),
					map[string]any{"typ": "at+jwt", "kid": "ed"}, accessClaims(nil))
			}},
		{"algorithm confusion: HS256 signed with the Ed25519 public key, HS256 also configured",
			[]token.Key{{ID: "hs", Algorithm: "HS256", VerifyKey: otherSecret}, ed.signing("ed")},
			func(t *testing.T, _ refusalEnv) string {
				return jwtforge.Sign(t, jwt.SigningMethodHS256, []byte(ed.pub.(ed25519.PublicKey)),
					map[string]any{"typ": "at+jwt", "kid": "ed"}, accessClaims(nil))
			}},
		{"HS256 signed with the server secret when only EdDSA is configured",
			[]token.Key{ed.signing("ed")}, func(t *testing.T, _ refusalEnv) string {
				return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": "at+jwt", "kid": token.SecretKID(secret)}, accessClaims(nil))
			}},
		{"ES256 token naming the EdDSA key's kid",
			[]token.Key{ed.signing("ed"), ec.verifyOnly("ec")}, func(t *testing.T, _ refusalEnv) string {
				return jwtforge.Sign(t, jwt.SigningMethodES256, ec.priv, map[string]any{"typ": "at+jwt", "kid": "ed"}, accessClaims(nil))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{now: t0}
			s := newService(t, token.Config{Keys: tc.keys, Now: c.Now})
			genuine, _, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.VerifyAccess(genuine); err != nil {
				t.Fatalf("control: genuine token refused: %v", err)
			}
			raw := tc.token(t, refusalEnv{s: s, clock: c, genuine: genuine})
			claims, err := s.VerifyAccess(raw)
			if err == nil {
				t.Fatalf("VerifyAccess accepted it: %+v", claims)
			}
			if !errors.Is(err, token.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if claims != nil {
				t.Errorf("claims returned with the error: %+v", claims)
			}
		})
	}
}

// TestAsymmetricAlgorithms checks that each supported key type signs access
// tokens that its own public half, and nothing else, verifies.
func TestAsymmetricAlgorithms(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			k := keys()[alg]
			c := &clock{now: t0}
			s := newService(t, token.Config{Keys: []token.Key{k.signing("k-" + alg)}, Now: c.Now})
			raw, _, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{})
			if err != nil {
				t.Fatalf("IssueAccess: %v", err)
			}
			if h, _ := segments(t, raw); h["alg"] != alg || h["kid"] != "k-"+alg {
				t.Errorf("header = %v; want alg %s", h, alg)
			}
			// Anyone with only the public key verifies it, as a resource server would.
			parsed, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return k.pub, nil },
				jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(c.Now))
			if err != nil || !parsed.Valid {
				t.Errorf("public-key verification failed: %v", err)
			}
			got, err := s.VerifyAccess(raw)
			if err != nil {
				t.Fatalf("VerifyAccess: %v", err)
			}
			if got.Subject != userID || got.SessionID != sessID {
				t.Errorf("claims = %+v", got)
			}
			// A service that knows another key under the same kid refuses it.
			other := keys()["EdDSA2"]
			if alg != "EdDSA" {
				other = keys()["EdDSA"]
			}
			s2 := newService(t, token.Config{Keys: []token.Key{other.signing("k-" + alg)}, Now: c.Now})
			if _, err := s2.VerifyAccess(raw); err == nil {
				t.Error("a service with another key under the same kid accepted the token")
			}
		})
	}
}

// TestVerifyOnlyKeys checks key rotation: a retired key keeps verifying the
// tokens it signed, but new tokens are only ever signed with the signing key.
func TestVerifyOnlyKeys(t *testing.T) {
	old, cur := keys()["ES256"], keys()["EdDSA"]
	c := &clock{now: t0}
	before := newService(t, token.Config{Keys: []token.Key{old.signing("old")}, Now: c.Now})
	oldToken, _, err := before.IssueAccess(userID, sessID, farFuture, token.Facts{})
	if err != nil {
		t.Fatal(err)
	}
	after := newService(t, token.Config{Keys: []token.Key{old.verifyOnly("old"), cur.signing("cur")}, Now: c.Now})

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"token signed before rotation still verifies", func(t *testing.T) {
			if _, err := after.VerifyAccess(oldToken); err != nil {
				t.Errorf("VerifyAccess(old token): %v", err)
			}
		}},
		{"new tokens are signed by the signing key, never the verify-only one", func(t *testing.T) {
			for range 5 {
				raw, _, err := after.IssueAccess(userID, sessID, farFuture, token.Facts{})
				if err != nil {
					t.Fatal(err)
				}
				if h, _ := segments(t, raw); h["kid"] != "cur" || h["alg"] != "EdDSA" {
					t.Fatalf("header = %v; want kid cur, alg EdDSA", h)
				}
				if _, err := after.VerifyAccess(raw); err != nil {
					t.Fatalf("VerifyAccess(new token): %v", err)
				}
			}
		}},
		{"once the old key is dropped its tokens are refused", func(t *testing.T) {
			dropped := newService(t, token.Config{Keys: []token.Key{cur.signing("cur")}, Now: c.Now})
			if _, err := dropped.VerifyAccess(oldToken); err == nil {
				t.Error("token of a removed key accepted")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// refreshCase builds a token to present to VerifyRefresh and
// VerifyRefreshIgnoringExpiry; the clock may be moved.
type refreshCase struct {
	name  string
	token func(t *testing.T, s *token.Service, c *clock) string
}

// refreshRefusals are refused by VerifyRefresh and by VerifyRefreshIgnoringExpiry
// alike: forged, of the wrong kind or of another issuer.
var refreshRefusals = []refreshCase{
	{"empty string", func(*testing.T, *token.Service, *clock) string { return "" }},
	{"garbage", func(*testing.T, *token.Service, *clock) string { return "a.b.c" }},
	{"access token presented as refresh token", func(t *testing.T, s *token.Service, _ *clock) string {
		raw, _, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}},
	{"access token with jti/iat (all refresh claims) but typ at+jwt", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": token.TypeAccess}, refreshClaims(nil))
	}},
	{"typ JWT", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": "JWT"}, refreshClaims(nil))
	}},
	{"typ missing", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": nil}, refreshClaims(nil))
	}},
	{"wrong issuer", func(t *testing.T, _ *token.Service, c *clock) string {
		other := newService(t, token.Config{Issuer: "other", Now: c.Now})
		raw, err := other.SignRefresh(other.NewRefresh(userID, sessID, time.Hour, farFuture))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}},
	{"missing issuer", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": token.TypeRefresh}, refreshClaims(func(c jwt.MapClaims) { delete(c, "iss") }))
	}},
	{"wrong key (other server secret)", func(t *testing.T, _ *token.Service, c *clock) string {
		other := newService(t, token.Config{Secret: otherSecret, Now: c.Now})
		raw, err := other.SignRefresh(other.NewRefresh(userID, sessID, time.Hour, farFuture))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}},
	{"tampered sid", func(t *testing.T, s *token.Service, _ *clock) string {
		raw, err := s.SignRefresh(s.NewRefresh(userID, sessID, time.Hour, farFuture))
		if err != nil {
			t.Fatal(err)
		}
		return retamper(t, raw, func(p map[string]any) { p["sid"] = "someone-elses-session" })
	}},
	{"alg none", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"typ": token.TypeRefresh}, refreshClaims(nil))
	}},
	{"signed with an Ed25519 key instead of the secret", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodEdDSA, keys()["EdDSA"].priv, map[string]any{"typ": token.TypeRefresh}, refreshClaims(nil))
	}},
	{"missing jti", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": token.TypeRefresh}, refreshClaims(func(c jwt.MapClaims) { delete(c, "jti") }))
	}},
	{"missing sid", func(t *testing.T, _ *token.Service, _ *clock) string {
		return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": token.TypeRefresh}, refreshClaims(func(c jwt.MapClaims) { delete(c, "sid") }))
	}},
}

// TestVerifyRefresh checks that only a genuine, unexpired refresh token of
// this issuer is accepted, so refreshToken answers INVALID_REFRESH_TOKEN for
// everything else.
func TestVerifyRefresh(t *testing.T) {
	expired := []refreshCase{
		{"expired a second ago", func(t *testing.T, s *token.Service, c *clock) string {
			raw, err := s.SignRefresh(s.NewRefresh(userID, sessID, time.Hour, farFuture))
			if err != nil {
				t.Fatal(err)
			}
			c.now = t0.Add(time.Hour + time.Second)
			return raw
		}},
		{"exactly at exp", func(t *testing.T, s *token.Service, c *clock) string {
			raw, err := s.SignRefresh(s.NewRefresh(userID, sessID, time.Hour, farFuture))
			if err != nil {
				t.Fatal(err)
			}
			c.now = t0.Add(time.Hour)
			return raw
		}},
		{"missing exp", func(t *testing.T, _ *token.Service, _ *clock) string {
			return jwtforge.Sign(t, jwt.SigningMethodHS256, secret, map[string]any{"typ": token.TypeRefresh}, refreshClaims(func(c jwt.MapClaims) { delete(c, "exp") }))
		}},
	}
	t.Run("accepts a genuine token until the second it expires", func(t *testing.T) {
		s, c := hsService(t)
		want := s.NewRefresh(userID, sessID, time.Hour, farFuture)
		raw, err := s.SignRefresh(want)
		if err != nil {
			t.Fatal(err)
		}
		c.now = t0.Add(time.Hour - time.Second)
		got, err := s.VerifyRefresh(raw)
		if err != nil {
			t.Fatalf("VerifyRefresh: %v", err)
		}
		if got.Subject != userID || got.SessionID != sessID || got.ID != want.ID || got.Issuer != issuer {
			t.Errorf("claims = %+v; want %+v", got, want)
		}
	})
	for _, tc := range append(append([]refreshCase{}, refreshRefusals...), expired...) {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			s, c := hsService(t)
			raw := tc.token(t, s, c)
			claims, err := s.VerifyRefresh(raw)
			if err == nil {
				t.Fatalf("VerifyRefresh accepted it: %+v", claims)
			}
			if !errors.Is(err, token.ErrInvalid) || claims != nil {
				t.Errorf("VerifyRefresh = %+v, %v; want nil, ErrInvalid", claims, err)
			}
		})
	}
}

// TestVerifyRefreshIgnoringExpiry checks the logout path: a genuine token logs
// its session out even once expired, but nothing forged or foreign does.
func TestVerifyRefreshIgnoringExpiry(t *testing.T) {
	accept := []struct {
		name  string
		after time.Duration
	}{
		{"unexpired", 0},
		{"exactly at exp", time.Hour},
		{"expired a year ago", time.Hour + 365*24*time.Hour},
	}
	for _, tc := range accept {
		t.Run("accepts genuine "+tc.name, func(t *testing.T) {
			s, c := hsService(t)
			want := s.NewRefresh(userID, sessID, time.Hour, farFuture)
			raw, err := s.SignRefresh(want)
			if err != nil {
				t.Fatal(err)
			}
			c.now = t0.Add(tc.after)
			got, err := s.VerifyRefreshIgnoringExpiry(raw)
			if err != nil {
				t.Fatalf("VerifyRefreshIgnoringExpiry: %v", err)
			}
			if got.SessionID != sessID || got.ID != want.ID {
				t.Errorf("claims = %+v; want %+v", got, want)
			}
		})
	}
	for _, tc := range refreshRefusals {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			s, c := hsService(t)
			raw := tc.token(t, s, c)
			claims, err := s.VerifyRefreshIgnoringExpiry(raw)
			if err == nil {
				t.Fatalf("accepted: %+v", claims)
			}
			if !errors.Is(err, token.ErrInvalid) || claims != nil {
				t.Errorf("= %+v, %v; want nil, ErrInvalid", claims, err)
			}
		})
	}
}

// TestSignRefreshDeterministic checks the property the grace window rests on:
// the session's current refresh token can be re-derived from its stored
// claims, byte for byte, by any instance sharing the secret.
func TestSignRefreshDeterministic(t *testing.T) {
	s, c := hsService(t)
	base := s.NewRefresh(userID, sessID, time.Hour, farFuture)
	first, err := s.SignRefresh(base)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(t *testing.T, s *token.Service, rc token.RefreshClaims) string {
		t.Helper()
		raw, err := s.SignRefresh(rc)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tests := []struct {
		name string
		same bool
		raw  func(t *testing.T) string
	}{
		{"same claims again", true, func(t *testing.T) string { return sign(t, s, base) }},
		{"same claims, later", true, func(t *testing.T) string {
			c.now = t0.Add(10 * time.Minute)
			defer func() { c.now = t0 }()
			return sign(t, s, base)
		}},
		{"same claims on another instance with the same secret", true, func(t *testing.T) string {
			return sign(t, newService(t, token.Config{}), base)
		}},
		{"same claims rebuilt from stored values (fresh time values)", true, func(t *testing.T) string {
			rc := token.RefreshClaims{
				Subject: base.Subject, SessionID: base.SessionID, ID: base.ID,
				IssuedAt:  time.Unix(base.IssuedAt.Unix(), 0),
				ExpiresAt: time.Unix(base.ExpiresAt.Unix(), 0).In(time.FixedZone("X", 3600)),
			}
			return sign(t, s, rc)
		}},
		{"issuer in the claims is ignored: the service's issuer is signed", true, func(t *testing.T) string {
			rc := base
			rc.Issuer = "evil"
			return sign(t, s, rc)
		}},
		{"another jti", false, func(t *testing.T) string {
			rc := base
			rc.ID = "other-jti"
			return sign(t, s, rc)
		}},
		{"another expiry", false, func(t *testing.T) string {
			rc := base
			rc.ExpiresAt = base.ExpiresAt.Add(time.Second)
			return sign(t, s, rc)
		}},
		{"another secret", false, func(t *testing.T) string {
			return sign(t, newService(t, token.Config{Secret: otherSecret}), base)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw(t)
			if (raw == first) != tc.same {
				t.Errorf("same token = %v; want %v\n first: %s\n  this: %s", raw == first, tc.same, first, raw)
			}
		})
	}

	t.Run("round-trips through VerifyRefresh", func(t *testing.T) {
		h, _ := segments(t, first)
		if h["typ"] != token.TypeRefresh || h["alg"] != "HS256" {
			t.Errorf("header = %v; want typ %s, alg HS256", h, token.TypeRefresh)
		}
		got, err := s.VerifyRefresh(first)
		if err != nil {
			t.Fatalf("VerifyRefresh: %v", err)
		}
		if got.Issuer != issuer || got.Subject != base.Subject || got.SessionID != base.SessionID || got.ID != base.ID ||
			!got.IssuedAt.Equal(base.IssuedAt) || !got.ExpiresAt.Equal(base.ExpiresAt) {
			t.Errorf("claims = %+v; want %+v", got, base)
		}
		again, err := s.SignRefresh(*got)
		if err != nil || again != first {
			t.Errorf("re-signing verified claims = %q, %v; want the same token", again, err)
		}
	})
}

// TestNewRefreshClampedToSession checks that rotation never extends a refresh
// token past the session's absolute end.
func TestNewRefreshClampedToSession(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration
		notAfter time.Time
		wantExp  time.Time
	}{
		{"TTL well inside the session", time.Hour, t0.Add(24 * time.Hour), t0.Add(time.Hour)},
		{"session ends first", 168 * time.Hour, t0.Add(24 * time.Hour), t0.Add(24 * time.Hour)},
		{"fractional session end rounded down", 168 * time.Hour, t0.Add(time.Hour + 999*time.Millisecond), t0.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := hsService(t)
			rc := s.NewRefresh(userID, sessID, tc.ttl, tc.notAfter)
			if !rc.ExpiresAt.Equal(tc.wantExp) || !rc.IssuedAt.Equal(t0) {
				t.Errorf("iat, exp = %v, %v; want %v, %v", rc.IssuedAt, rc.ExpiresAt, t0, tc.wantExp)
			}
			if rc.Subject != userID || rc.SessionID != sessID || rc.ID == "" || rc.Issuer != issuer {
				t.Errorf("claims = %+v", rc)
			}
		})
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestHashRefresh checks the stored form of a refresh token: keyed, so a copy
// of the database is useless without the secret, and stable, so lookups work.
func TestHashRefresh(t *testing.T) {
	s, _ := hsService(t)
	raw, err := s.SignRefresh(s.NewRefresh(userID, sessID, time.Hour, farFuture))
	if err != nil {
		t.Fatal(err)
	}
	h := s.HashRefresh(raw)
	other := newService(t, token.Config{Secret: otherSecret})
	tests := []struct {
		name string
		ok   func() bool
	}{
		{"64 lower-case hex characters", func() bool { return hex64.MatchString(h) }},
		{"does not contain the token or any of its segments", func() bool {
			for _, part := range append(strings.Split(raw, "."), raw) {
				if strings.Contains(h, part) {
					return false
				}
			}
			return true
		}},
		{"stable for the same token", func() bool { return s.HashRefresh(raw) == h }},
		{"stable across instances sharing the secret", func() bool { return newService(t, token.Config{}).HashRefresh(raw) == h }},
		{"different with another secret (keyed)", func() bool { return other.HashRefresh(raw) != h }},
		{"different for another token", func() bool { return s.HashRefresh(raw+"x") != h }},
		{"not the unkeyed SHA-256 of the token", func() bool {
			return !strings.EqualFold(h, sha256Hex(raw))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok() {
				t.Errorf("HashRefresh(%q) = %q", raw, h)
			}
		})
	}
}

// TestSecretKID checks the HS256 key id: stable across restarts and instances,
// distinct per secret, and revealing nothing of the secret.
func TestSecretKID(t *testing.T) {
	kid := token.SecretKID(secret)
	tests := []struct {
		name string
		ok   bool
	}{
		{"stable", token.SecretKID(secret) == kid},
		{"prefixed hs-", strings.HasPrefix(kid, "hs-")},
		{"distinct for another secret", token.SecretKID(otherSecret) != kid},
		{"distinct when the secret differs in its last byte", token.SecretKID(append(append([]byte{}, secret[:len(secret)-1]...), 'X')) != kid},
		{"does not contain the secret", !strings.Contains(kid, string(secret)) && !strings.Contains(kid, string(secret[:8]))},
		{"does not contain the secret in base64", !strings.Contains(kid, base64.RawURLEncoding.EncodeToString(secret)[:8]) &&
			!strings.Contains(kid, base64.StdEncoding.EncodeToString(secret)[:8])},
		{"does not contain the secret in hex", !strings.Contains(kid, hex.EncodeToString(secret)[:8])},
		{"is the kid of HS256 access tokens", func() bool {
			s, _ := hsService(t)
			raw, _, err := s.IssueAccess(userID, sessID, farFuture, token.Facts{})
			if err != nil {
				return false
			}
			h, _ := segments(t, raw)
			return h["kid"] == kid
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("SecretKID = %q", kid)
			}
		})
	}
}

// BenchmarkIssueAccess measures signing one access token, the cost added to
// every login and refresh.
func BenchmarkIssueAccess(b *testing.B) {
	for _, tc := range benchKeys() {
		b.Run(tc.name, func(b *testing.B) {
			s := newService(b, token.Config{Keys: tc.keys})
			notAfter := time.Now().Add(24 * time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.IssueAccess(userID, sessID, notAfter, token.Facts{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyAccess measures verifying one access token, the cost added
// to every @auth field.
func BenchmarkVerifyAccess(b *testing.B) {
	for _, tc := range benchKeys() {
		b.Run(tc.name, func(b *testing.B) {
			s := newService(b, token.Config{Keys: tc.keys})
			raw, _, err := s.IssueAccess(userID, sessID, time.Now().Add(24*time.Hour), token.Facts{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.VerifyAccess(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignRefresh measures deriving a refresh token from its claims, done
// on every rotation and every grace-window replay.
func BenchmarkSignRefresh(b *testing.B) {
	s := newService(b, token.Config{})
	rc := s.NewRefresh(userID, sessID, time.Hour, time.Now().Add(24*time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignRefresh(rc); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKeys() []struct {
	name string
	keys []token.Key
} {
	return []struct {
		name string
		keys []token.Key
	}{
		{"HS256", nil},
		{"EdDSA", []token.Key{keys()["EdDSA"].signing("ed")}},
	}
}
