package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// standardServer publishes one key of each supported type.
func standardServer(t *testing.T) (*jwksServer, *testKeys) {
	k := keysOnce()
	return newJWKSServer(t, edJWK("ed", k.ed), ecJWK("ec", k.ec), rsaJWK("rsa", k.rsa)), k
}

func TestVerifyAcceptsValidTokens(t *testing.T) {
	srv, k := standardServer(t)
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	now := clock.Now()

	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
		claims func(jwt.MapClaims)
		header map[string]any
	}{
		{name: "EdDSA", method: jwt.SigningMethodEdDSA, key: k.ed, kid: "ed"},
		{name: "ES256", method: jwt.SigningMethodES256, key: k.ec, kid: "ec"},
		{name: "RS256", method: jwt.SigningMethodRS256, key: k.rsa, kid: "rsa"},
		{name: "typ application/at+jwt", method: jwt.SigningMethodEdDSA, key: k.ed, kid: "ed",
			header: map[string]any{"typ": "application/at+jwt"}},
		{name: "typ in upper case", method: jwt.SigningMethodEdDSA, key: k.ed, kid: "ed",
			header: map[string]any{"typ": "AT+JWT"}},
		{name: "nbf exactly now", method: jwt.SigningMethodEdDSA, key: k.ed, kid: "ed",
			claims: func(c jwt.MapClaims) { c["nbf"] = now.Unix() }},
		{name: "aud as array containing ours", method: jwt.SigningMethodEdDSA, key: k.ed, kid: "ed",
			claims: func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} }},
		{name: "one second before exp", method: jwt.SigningMethodEdDSA, key: k.ed, kid: "ed",
			claims: func(c jwt.MapClaims) { c["exp"] = now.Unix() + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := claimsAt(now)
			if tt.claims != nil {
				tt.claims(claims)
			}
			got, err := v.Verify(context.Background(), sign(t, tt.method, tt.key, tt.kid, claims, tt.header))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Claims{
				Subject: "user-1", SessionID: "session-1", ID: "token-1",
				Issuer: testIssuer, Audience: testAudience,
				IssuedAt:  now,
				ExpiresAt: time.Unix(claims["exp"].(int64), 0),
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("claims = %+v, want %+v", *got, want)
			}
		})
	}
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	srv, k := standardServer(t)
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	now := clock.Now()
	ed := func(claims jwt.MapClaims, header map[string]any) string {
		return sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims, header)
	}
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		change(c)
		return c
	}
	edPub := k.ed.Public().(ed25519.PublicKey)
	rsaDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)

	good := ed(claimsAt(now), nil)
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatalf("the well-formed token is refused: %v", err)
	}
	// edRaw signs header and claims given as JSON text, as no encoder would write them.
	edRaw := func(header, claims string) string {
		in := b64([]byte(header)) + "." + b64([]byte(claims))
		return in + "." + b64(ed25519.Sign(k.ed, []byte(in)))
	}
	const rawHeader = `{"alg":"EdDSA","kid":"ed","typ":"at+jwt"`
	exp := strconv.FormatInt(now.Unix()+600, 10)
	rawClaims := fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"user-1","sid":"session-1","jti":"token-1","iat":%d,"exp":%s`,
		testIssuer, testAudience, now.Unix(), exp)
	if _, err := v.Verify(context.Background(), edRaw(rawHeader+`}`, rawClaims+`}`)); err != nil {
		t.Fatalf("the well-formed raw token is refused: %v", err)
	}

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMissingToken},
		{"expired", ed(with(func(c jwt.MapClaims) { c["exp"] = now.Unix() - 1 }), nil), ErrExpired},
		{"expired exactly at exp", ed(with(func(c jwt.MapClaims) { c["exp"] = now.Unix() }), nil), ErrExpired},
		{"missing exp", ed(with(func(c jwt.MapClaims) { delete(c, "exp") }), nil), errMissingClaim},
		{"nbf in the future", ed(with(func(c jwt.MapClaims) { c["nbf"] = now.Unix() + 1 }), nil), errNotYetValid},
		{"wrong iss", ed(with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), nil), errIssuer},
		{"missing iss", ed(with(func(c jwt.MapClaims) { delete(c, "iss") }), nil), errMissingClaim},
		{"wrong aud", ed(with(func(c jwt.MapClaims) { c["aud"] = "billing-api" }), nil), errAudience},
		{"missing aud", ed(with(func(c jwt.MapClaims) { delete(c, "aud") }), nil), errMissingClaim},
		{"missing sub", ed(with(func(c jwt.MapClaims) { delete(c, "sub") }), nil), errMissingSubject},
		{"exp of wrong type", ed(with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), nil), errMalformed},
		{"refresh token typ", ed(claimsAt(now), map[string]any{"typ": "refresh+jwt"}), errType},
		{"plain JWT typ", ed(claimsAt(now), map[string]any{"typ": "JWT"}), errType},
		{"missing typ", ed(claimsAt(now), map[string]any{"typ": nil}), errType},
		{"crit header", ed(claimsAt(now), map[string]any{"crit": []string{"exp"}}), errCritical},
		{"missing kid", ed(claimsAt(now), map[string]any{"kid": nil}), errMissingKid},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, k.ed, "nope", claimsAt(now), nil), ErrUnknownKey},
		{"ES256 header on Ed25519 key",
			sign(t, jwt.SigningMethodES256, k.ec, "ed", claimsAt(now), nil), errAlgorithm},
		{"EdDSA header on RSA key",
			sign(t, jwt.SigningMethodEdDSA, k.ed, "rsa", claimsAt(now), nil), errAlgorithm},
		{"PS256 with the RSA key",
			sign(t, jwt.SigningMethodPS256, k.rsa, "rsa", claimsAt(now), nil), errAlgorithm},
		{"alg none",
			sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "ed", claimsAt(now), nil), errAlgorithm},
		{"HS256 keyed with the Ed25519 public key",
			sign(t, jwt.SigningMethodHS256, []byte(edPub), "ed", claimsAt(now), nil), errAlgorithm},
		{"HS256 keyed with the RSA public key PEM",
			sign(t, jwt.SigningMethodHS256, rsaPEM, "rsa", claimsAt(now), nil), errAlgorithm},
		{"unknown alg", forgeHeader(t, ed(claimsAt(now), nil), "alg", "XY512"), errAlgorithm},
		{"missing alg", forgeHeader(t, ed(claimsAt(now), nil), "alg", nil), errAlgorithm},
		{"tampered payload", tamper(t, ed(claimsAt(now), nil)), errSignature},
		{"signed by another key under a known kid",
			sign(t, jwt.SigningMethodEdDSA, otherEd, "ed", claimsAt(now), nil), errSignature},
		{"signature stripped", strings.TrimRightFunc(ed(claimsAt(now), nil), func(r rune) bool { return r != '.' }), errSignature},
		{"garbage", "not a token", errMalformed},
		{"three garbage segments", "a.b.c", errMalformed},
		{"too many segments", ed(claimsAt(now), nil) + ".x", errMalformed},
		{"oversized", strings.Repeat("a", maxTokenBytes+1), errMalformed},
		// Signed by the right key, but not one spelling of one JSON object
		// with numeric dates (see internal/jwtstrict).
		{"CR in the signature", good[:len(good)-10] + "\r" + good[len(good)-10:], errMalformed},
		{"CRLF after the signature", good + "\r\n", errMalformed},
		{"padded signature", good + "==", errMalformed},
		{"duplicate claim", edRaw(rawHeader+`}`, rawClaims+`,"sub":"user-2"}`), errMalformed},
		{"duplicate claim by case", edRaw(rawHeader+`}`, rawClaims+`,"SUB":"user-2"}`), errMalformed},
		{"duplicate header member", edRaw(rawHeader+`,"kid":"rsa"}`, rawClaims+`}`), errMalformed},
		{"exp as a numeric string", edRaw(rawHeader+`}`, strings.Replace(rawClaims, exp, `"`+exp+`"`, 1)+`}`), errMalformed},
		{"b64 false", edRaw(rawHeader+`,"b64":false}`, rawClaims+`}`), errCritical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", got)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.want != ErrMissingToken && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("err = %v, does not match ErrInvalidToken", err)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error message contains the token")
			}
		})
	}
	// Refusals must not have turned into fetches: the unknown kid fell
	// within MinRefreshInterval of the initial fetch.
	if hits := srv.hits.Load(); hits != 1 {
		t.Errorf("JWKS fetched %d times, want 1", hits)
	}
}

// forgeHeader rewrites one header of a signed token (nil deletes it),
// keeping the now mismatching signature.
func forgeHeader(t *testing.T, token, name string, value any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	var h map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(h, name)
	} else {
		h[name] = value
	}
	raw, _ = json.Marshal(h)
	parts[0] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// tamper makes the token's subject "admin", keeping the original signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	var c map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c["sub"] = "admin"
	raw, _ = json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestVerifyLeeway(t *testing.T) {
	srv, k := standardServer(t)
	clock := newClock()
	v := newTestVerifier(t, srv, clock, func(c *Config) { c.Leeway = 30 * time.Second })
	now := clock.Now()

	tests := []struct {
		name  string
		claim string
		at    time.Duration // claim value relative to now
		want  error
	}{
		{"exp passed within leeway", "exp", -29 * time.Second, nil},
		{"exp passed by exactly the leeway", "exp", -30 * time.Second, ErrExpired},
		{"nbf ahead within leeway", "nbf", 30 * time.Second, nil},
		{"nbf ahead beyond leeway", "nbf", 31 * time.Second, errNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claimsAt(now)
			c[tt.claim] = now.Add(tt.at).Unix()
			_, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", c, nil))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	srv, _ := standardServer(t)
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no URL", func(c *Config) { c.JWKSURL = "" }},
		{"relative URL", func(c *Config) { c.JWKSURL = "/.well-known/jwks.json" }},
		{"plain http on a remote host", func(c *Config) { c.JWKSURL = "http://auth.example.com/.well-known/jwks.json" }},
		{"ftp URL", func(c *Config) { c.JWKSURL = "ftp://auth.example.com/jwks.json" }},
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"no audience", func(c *Config) { c.Audience = "" }},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }},
		{"huge leeway", func(c *Config) { c.Leeway = time.Hour }},
		{"negative refresh interval", func(c *Config) { c.MinRefreshInterval = -time.Second }},
		{"min TTL above max TTL", func(c *Config) { c.MinCacheTTL, c.MaxCacheTTL = time.Hour, time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{JWKSURL: srv.url(), Issuer: testIssuer, Audience: testAudience, HTTPClient: srv.Client()}
			tt.mutate(&cfg)
			if _, err := New(context.Background(), cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestNewNeedsUsableKeys(t *testing.T) {
	k := keysOnce()
	tests := []struct {
		name  string
		setup func(*jwksServer)
	}{
		{"server error", func(s *jwksServer) { s.setResponse(http.StatusInternalServerError, []byte("oops")) }},
		{"not JSON", func(s *jwksServer) { s.setResponse(http.StatusOK, []byte("<html>")) }},
		{"empty key set (authql in HS256 mode)", func(s *jwksServer) { s.setKeys() }},
		{"only unusable keys", func(s *jwksServer) { s.setKeys(rsaJWK("small", k.rsa1k)) }},
		{"unreachable", func(s *jwksServer) { s.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, edJWK("ed", k.ed))
			tt.setup(srv)
			cfg := Config{JWKSURL: srv.url(), Issuer: testIssuer, Audience: testAudience, HTTPClient: srv.Client(),
				Logger: slog.New(slog.DiscardHandler)}
			if _, err := New(context.Background(), cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestNewAcceptsInsecureHTTPWhenAllowed(t *testing.T) {
	srv, _ := standardServer(t)
	// httptest serves on 127.0.0.1, which is allowed without the flag; name
	// the host "localhost" too, and check the flag lets any host through.
	for _, u := range []string{srv.url(), strings.Replace(srv.url(), "127.0.0.1", "localhost", 1)} {
		if err := checkURL(u, false); err != nil {
			t.Errorf("checkURL(%q): %v", u, err)
		}
	}
	if err := checkURL("http://authql:8080/.well-known/jwks.json", true); err != nil {
		t.Errorf("checkURL with AllowInsecureHTTP: %v", err)
	}
}

func TestVerifyReturnsContextErrorWhileWaitingForKeys(t *testing.T) {
	srv, k := standardServer(t)
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	clock.Advance(time.Minute) // allow a refresh
	srv.set(func(s *jwksServer) { s.delay = 300 * time.Millisecond })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, sign(t, jwt.SigningMethodEdDSA, k.ed, "new", claimsAt(clock.Now()), nil))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInvalidToken) {
		t.Errorf("err = %v, want a context error that is not ErrInvalidToken", err)
	}
	// The fetch goes on for the other waiters, unaffected by that deadline.
	waitForRefresh(v)
	if hits := srv.hits.Load(); hits != 2 {
		t.Errorf("JWKS fetched %d times, want 2", hits)
	}
}

// TestVerifyExposesEmailVerifiedAndAMR: email_verified and amr reach Claims as
// authql wrote them; an amr of the wrong shape refuses the token.
func TestVerifyExposesEmailVerifiedAndAMR(t *testing.T) {
	srv, k := standardServer(t)
	clock := newClock()
	v := newTestVerifier(t, srv, clock)
	tests := []struct {
		name     string
		claims   map[string]any
		verified bool
		amr      []string
		otp      bool
	}{
		{name: "neither (a token of before the claims)"},
		{name: "password", claims: map[string]any{"email_verified": false, "amr": []string{"pwd"}}, amr: []string{"pwd"}},
		{name: "second factor", claims: map[string]any{"email_verified": true, "amr": []string{"pwd", "otp"}}, verified: true, amr: []string{"pwd", "otp"}, otp: true},
		{name: "password reset", claims: map[string]any{"email_verified": true, "amr": []string{"email"}}, verified: true, amr: []string{"email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := claimsAt(clock.Now())
			maps.Copy(claims, tt.claims)
			got, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims, nil))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.EmailVerified != tt.verified || !slices.Equal(got.AMR, tt.amr) || got.AuthenticatedWith("otp") != tt.otp {
				t.Fatalf("email_verified %v, amr %q, otp %v; want %v, %q, %v", got.EmailVerified, got.AMR, got.AuthenticatedWith("otp"), tt.verified, tt.amr, tt.otp)
			}
		})
	}
	for name, bad := range map[string]map[string]any{
		"amr as a string":            {"amr": "pwd otp"},
		"email_verified as a string": {"email_verified": "true"},
		"amr holding a number":       {"amr": []any{"pwd", 1}},
	} {
		t.Run(name, func(t *testing.T) {
			claims := claimsAt(clock.Now())
			maps.Copy(claims, bad)
			if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims, nil)); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify: %v, want ErrInvalidToken", err)
			}
		})
	}
}
