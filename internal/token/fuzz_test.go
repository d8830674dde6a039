package token

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/testkit/jwtforge"
)

// The fuzz fixtures are fixed (secret, clock, Ed25519 key), so that tokens
// issued once by IssueAccess under them stay valid forever and can live in
// the seed corpus (testdata/fuzz/FuzzVerify*) as real issued tokens.
var (
	fzNow    = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fzSecret = []byte("authql-fuzz-secret-0123456789abcdef-0123456789")
	fzEdKey  = ed25519.NewKeyFromSeed([]byte{ // bytes 1..32
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
	fzFar = fzNow.Add(24 * time.Hour)
)

// Access tokens issued by IssueAccess under the fixtures (HS256 with fzSecret,
// or EdDSA with fzEdKey, kid "ed-1"), at the clock their name says. IssueAccess
// puts a random jti in every token, so these are kept rather than re-issued.
const (
	// issued at fzNow: valid.
	fzHSValid1 = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLXNubE1hR214dW91YyIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJhdXRocWwiLCJzdWIiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJhdWQiOlsiYXV0aHFsIl0sImV4cCI6MTg5MzQ1NjkwMCwiaWF0IjoxODkzNDU2MDAwLCJqdGkiOiIwMWEyMTk2NC0yMWY3LTdhMWQtYmQ2Yy02NDc1ZGIzZmY2ODEiLCJzaWQiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYTEifQ.ERKwoJoVVaMCAyWUd7edammDoDoDst6XA5yR1QcVi3w"
	// issued at fzNow-10m: valid for 5 more minutes.
	fzHSValid2 = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLXNubE1hR214dW91YyIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJhdXRocWwiLCJzdWIiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDIiLCJhdWQiOlsiYXV0aHFsIl0sImV4cCI6MTg5MzQ1NjMwMCwiaWF0IjoxODkzNDU1NDAwLCJqdGkiOiIwMWEyMTk2NC0yMWY3LTdiNmQtODJiNS0zMThmMTVkNmZmNjEiLCJzaWQiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYTIifQ.R1cIZeGKPz2OE2i2EBOHDcYOUFRjGuE7rAu7Own7RB4"
	// issued at fzNow-1h: expired.
	fzHSExpired = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLXNubE1hR214dW91YyIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJhdXRocWwiLCJzdWIiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDMiLCJhdWQiOlsiYXV0aHFsIl0sImV4cCI6MTg5MzQ1MzMwMCwiaWF0IjoxODkzNDUyNDAwLCJqdGkiOiIwMWEyMTk2NC0yMWY3LTdiOGItYmI1ZS0xMzRiYWMyMjJjOGEiLCJzaWQiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYTMifQ.ft05lNUhtaHMA8Fo7v9JituQAF3PJHFj8wh0RWFuXvo"
	// issued at fzNow-15m: exp == fzNow, refused with no leeway.
	fzHSExpNow = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLXNubE1hR214dW91YyIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJhdXRocWwiLCJzdWIiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDQiLCJhdWQiOlsiYXV0aHFsIl0sImV4cCI6MTg5MzQ1NjAwMCwiaWF0IjoxODkzNDU1MTAwLCJqdGkiOiIwMWEyMTk2NC0yMWY3LTdiYTItOTVmMC0xOGMwNmMzZjI2N2YiLCJzaWQiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYTQifQ.GnZPT8A-e5mznf0o0M0P7R31sGr51J-cLc3T_pvV8C4"
	// issued at fzNow+1h (iat in the future, a clock ahead): genuine, so it
	// may be accepted or refused; nothing is asserted about it.
	fzHSFuture = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLXNubE1hR214dW91YyIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJhdXRocWwiLCJzdWIiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDUiLCJhdWQiOlsiYXV0aHFsIl0sImV4cCI6MTg5MzQ2MDUwMCwiaWF0IjoxODkzNDU5NjAwLCJqdGkiOiIwMWEyMTk2NC0yMWY3LTdiYjgtYjU0Ni0wMDk3MjdiNGE4ZjciLCJzaWQiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYTUifQ.PzCUuMXKVKl2G0bhhx0e4G96Dx-uzOVH7RAMGKOA79o"
	// EdDSA, issued at fzNow: valid for the Ed25519 service only.
	fzEdValid = "eyJhbGciOiJFZERTQSIsImtpZCI6ImVkLTEiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJhdXRocWwiLCJzdWIiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDYiLCJhdWQiOlsiYXV0aHFsIl0sImV4cCI6MTg5MzQ1NjkwMCwiaWF0IjoxODkzNDU2MDAwLCJqdGkiOiIwMWEyMTk2NC0yMWY3LTdiY2MtYWQ4NS04NDMwYWM4ZWI5YmUiLCJzaWQiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYTYifQ.egPfudKu30sLBa0I3x1I-8-zZoMcarTaq8YWfUoXsKbD555YybT6qkOWASKaYpmmsN5zH04AeWWaJAROHKE2BA"
	// EdDSA, issued at fzNow-1h: expired.
	fzEdExpired = "eyJhbGciOiJFZERTQSIsImtpZCI6ImVkLTEiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJhdXRocWwiLCJzdWIiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDciLCJhdWQiOlsiYXV0aHFsIl0sImV4cCI6MTg5MzQ1MzMwMCwiaWF0IjoxODkzNDUyNDAwLCJqdGkiOiIwMWEyMTk2NC0yMWY3LTdjOWEtYTFiYy1iNjgwYTY1YTMwMzMiLCJzaWQiOiIwMTkwZjBmMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwYTcifQ.K-9RJ7whki_kYdQ1TdIHSHtfv3L5qKFhsFJFNLzcbBbt2zK7lM10SJV6GSMmm9sIuzBqUaIdQmc9ZNXJ_MNIDQ"
)

// fzFixture is one token service and the tokens it issued: the only tokens
// each verification may ever accept, keyed by signing input (header.payload),
// with the claims they must decode to. A fuzzer cannot forge a signature, so
// an accepted token outside these sets is a forgery that got through.
type fzFixture struct {
	name    string
	svc     *Service
	access  map[string]*AccessClaims  // VerifyAccess may accept
	refresh map[string]*RefreshClaims // VerifyRefresh may accept
	issued  map[string]bool           // the refresh tokens exactly as issued
	anyExp  map[string]*RefreshClaims // VerifyRefreshIgnoringExpiry may accept
}

func fzService(tb testing.TB, issuer, audience string, clock time.Time, keys ...Key) *Service {
	tb.Helper()
	s, err := New(Config{
		Secret: fzSecret, Issuer: issuer, Audience: audience, AccessTTL: 15 * time.Minute,
		Now: func() time.Time { return clock }, Keys: keys,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func fzEdKeys() []Key {
	return []Key{{ID: "ed-1", Algorithm: "EdDSA", SignKey: fzEdKey, VerifyKey: fzEdKey.Public()}}
}

// fzRefreshTokens are deterministic refresh tokens signed by the fixture's
// secret (SignRefresh is deterministic): the ones valid at fzNow, the expired
// ones, and genuine-looking ones every verification must refuse.
//
// noExp is signed without exp (never issued so): VerifyRefresh must refuse it;
// VerifyRefreshIgnoringExpiry may accept it, as it ignores exp by design.
func fzRefreshTokens(tb testing.TB) (valid, expired, refused []string, noExp string) {
	tb.Helper()
	s := fzService(tb, "authql", "authql", fzNow)
	sign := func(svc *Service, sub, sid, jti string, iat, exp time.Time) string {
		// A zero time leaves its claim out.
		c := RefreshClaims{Subject: sub, SessionID: sid, ID: jti, IssuedAt: iat, ExpiresAt: exp}
		tok, err := svc.SignRefresh(c)
		if err != nil {
			tb.Fatal(err)
		}
		return tok
	}
	const u, sess = "0190f0f0-0000-7000-8000-000000000001", "0190f0f0-0000-7000-8000-0000000000a1"
	valid = []string{
		sign(s, u, sess, "0190f0f0-0000-7000-8000-0000000000f1", fzNow, fzFar),
		sign(s, u, sess, "0190f0f0-0000-7000-8000-0000000000f2", fzNow.Add(-time.Hour), fzNow.Add(time.Second)),
	}
	expired = []string{
		sign(s, u, sess, "0190f0f0-0000-7000-8000-0000000000f3", fzNow.Add(-48*time.Hour), fzNow.Add(-time.Hour)),
		sign(s, u, sess, "0190f0f0-0000-7000-8000-0000000000f4", fzNow.Add(-time.Hour), fzNow), // exp == now
	}
	refused = []string{
		sign(fzService(tb, "other-issuer", "authql", fzNow), u, sess, "0190f0f0-0000-7000-8000-0000000000f5", fzNow, fzFar),
		sign(s, u, "", "0190f0f0-0000-7000-8000-0000000000f6", fzNow, fzFar),         // no sid
		sign(s, "", sess, "0190f0f0-0000-7000-8000-0000000000f7", fzNow, fzFar),      // no sub
		sign(s, u, sess, "", fzNow, fzFar),                                           // no jti
		sign(s, u, sess, "0190f0f0-0000-7000-8000-0000000000f8", time.Time{}, fzFar), // no iat
	}
	noExp = sign(s, u, sess, "0190f0f0-0000-7000-8000-0000000000f9", fzNow, time.Time{})
	return valid, expired, refused, noExp
}

// fzFixtures builds the HS256 service and the EdDSA service, checks that the
// issued tokens behave as issued (so that the sets are meaningful), and
// records what each may accept.
func fzFixtures(tb testing.TB) []*fzFixture {
	tb.Helper()
	valid, expired, refused, noExp := fzRefreshTokens(tb)
	hs := &fzFixture{name: "HS256", svc: fzService(tb, "authql", "authql", fzNow)}
	ed := &fzFixture{name: "EdDSA", svc: fzService(tb, "authql", "authql", fzNow, fzEdKeys()...)}
	type want struct {
		tok    string
		accept bool
	}
	accessWant := map[*fzFixture][]want{
		hs: {{fzHSValid1, true}, {fzHSValid2, true}, {fzHSExpired, false}, {fzHSExpNow, false}, {fzEdValid, false}, {fzEdExpired, false}},
		ed: {{fzEdValid, true}, {fzEdExpired, false}, {fzHSValid1, false}, {fzHSValid2, false}},
	}
	for _, fx := range []*fzFixture{hs, ed} {
		fx.access, fx.refresh, fx.anyExp = map[string]*AccessClaims{}, map[string]*RefreshClaims{}, map[string]*RefreshClaims{}
		fx.issued = map[string]bool{}
		for _, w := range accessWant[fx] {
			c, err := fx.svc.VerifyAccess(w.tok)
			if (err == nil) != w.accept {
				tb.Fatalf("%s: VerifyAccess(issued %s...) err = %v, want accepted = %v", fx.name, w.tok[len(w.tok)-12:], err, w.accept)
			}
			if err == nil {
				fx.access[fzSigningInput(w.tok)] = c
			}
		}
		// Genuine, but not asserted either way (iat in the future).
		if fx == hs {
			if c, err := fx.svc.VerifyAccess(fzHSFuture); err == nil {
				fx.access[fzSigningInput(fzHSFuture)] = c
			}
		}
		// A token issued now by this very service round-trips.
		tok, _, err := fx.svc.IssueAccess("u-fresh", "s-fresh", fzFar, Facts{})
		if err != nil {
			tb.Fatal(err)
		}
		if c, err := fx.svc.VerifyAccess(tok); err != nil || c.Subject != "u-fresh" || c.SessionID != "s-fresh" {
			tb.Fatalf("%s: fresh access token refused: %v", fx.name, err)
		}
		for _, tok := range valid {
			c, err := fx.svc.VerifyRefresh(tok)
			if err != nil {
				tb.Fatalf("%s: VerifyRefresh(valid) = %v", fx.name, err)
			}
			fx.refresh[fzSigningInput(tok)] = c
			fx.issued[tok] = true
			fx.anyExp[fzSigningInput(tok)] = c
		}
		for _, tok := range expired {
			if _, err := fx.svc.VerifyRefresh(tok); err == nil {
				tb.Fatalf("%s: VerifyRefresh accepted an expired token", fx.name)
			}
			c, err := fx.svc.VerifyRefreshIgnoringExpiry(tok)
			if err != nil {
				tb.Fatalf("%s: VerifyRefreshIgnoringExpiry(expired) = %v", fx.name, err)
			}
			fx.anyExp[fzSigningInput(tok)] = c
		}
		if _, err := fx.svc.VerifyRefresh(noExp); err == nil {
			tb.Fatalf("%s: VerifyRefresh accepted a token without exp", fx.name)
		}
		if c, err := fx.svc.VerifyRefreshIgnoringExpiry(noExp); err == nil {
			fx.anyExp[fzSigningInput(noExp)] = c
		}
		for _, tok := range refused {
			_, err1 := fx.svc.VerifyRefresh(tok)
			_, err2 := fx.svc.VerifyRefreshIgnoringExpiry(tok)
			if err1 == nil || err2 == nil {
				tb.Fatalf("%s: refresh token %s accepted (%v, %v)", fx.name, tok, err1, err2)
			}
		}
	}
	return []*fzFixture{hs, ed}
}

// fzSigningInput is what the signature covers: everything before the last dot.
func fzSigningInput(raw string) string {
	if i := strings.LastIndexByte(raw, '.'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// fzCheckAccess asserts the VerifyAccess property for raw on fx.
func fzCheckAccess(t *testing.T, fx *fzFixture, raw string) {
	c, err := fx.svc.VerifyAccess(raw)
	if err != nil {
		if c != nil || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: VerifyAccess refusal = (%v, %v), want (nil, ErrInvalid)", fx.name, c, err)
		}
		return
	}
	want, ok := fx.access[fzSigningInput(raw)]
	if !ok {
		t.Fatalf("%s: VerifyAccess accepted a token the service never issued: %q -> %+v", fx.name, raw, c)
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("%s: VerifyAccess(%q) claims = %+v, want the issued %+v", fx.name, raw, c, want)
	}
}

// fzCheckRefresh asserts the VerifyRefresh and VerifyRefreshIgnoringExpiry
// properties for raw on fx.
func fzCheckRefresh(t *testing.T, fx *fzFixture, raw string) {
	c, err := fx.svc.VerifyRefresh(raw)
	if err != nil {
		if c != nil || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: VerifyRefresh refusal = (%v, %v), want (nil, ErrInvalid)", fx.name, c, err)
		}
	} else {
		want, ok := fx.refresh[fzSigningInput(raw)]
		if !ok {
			t.Fatalf("%s: VerifyRefresh accepted a token the service never issued (or expired): %q -> %+v", fx.name, raw, c)
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("%s: VerifyRefresh(%q) claims = %+v, want the issued %+v", fx.name, raw, c, want)
		}
		// Refresh tokens are looked up by the HMAC of their exact string
		// (HashRefresh): another spelling of an issued token (non-canonical
		// base64) verifies but never matches its stored hash, so rotation,
		// the grace window and reuse detection never see it.
		if !fx.issued[raw] {
			t.Fatalf("%s: VerifyRefresh accepted %q, another spelling of an issued refresh token", fx.name, raw)
		}
	}
	c2, err2 := fx.svc.VerifyRefreshIgnoringExpiry(raw)
	if err2 != nil {
		if c2 != nil || !errors.Is(err2, ErrInvalid) {
			t.Fatalf("%s: VerifyRefreshIgnoringExpiry refusal = (%v, %v), want (nil, ErrInvalid)", fx.name, c2, err2)
		}
		if err == nil {
			t.Fatalf("%s: VerifyRefresh accepted %q but VerifyRefreshIgnoringExpiry refused it: %v", fx.name, raw, err2)
		}
	} else {
		want, ok := fx.anyExp[fzSigningInput(raw)]
		if !ok {
			t.Fatalf("%s: VerifyRefreshIgnoringExpiry accepted a token the service never issued: %q -> %+v", fx.name, raw, c2)
		}
		if !reflect.DeepEqual(c2, want) {
			t.Fatalf("%s: VerifyRefreshIgnoringExpiry(%q) claims = %+v, want the issued %+v", fx.name, raw, c2, want)
		}
	}
	h := fx.svc.HashRefresh(raw)
	if _, err := hex.DecodeString(h); err != nil || len(h) != 64 || h != fx.svc.HashRefresh(raw) {
		t.Fatalf("HashRefresh(%q) = %q: not a stable 64-hex-digit HMAC", raw, h)
	}
}

func fzB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fzHostileSeeds are malformed or forged tokens: alg none, algorithm
// confusion, swapped and truncated parts, wrong typ, huge segments.
func fzHostileSeeds(tb testing.TB) []string {
	tb.Helper()
	parts := strings.Split(fzHSValid1, ".")
	claims := jwt.MapClaims{"iss": "authql", "aud": []string{"authql"}, "sub": "u", "sid": "s", "jti": "j",
		"iat": fzNow.Unix(), "exp": fzFar.Unix()}
	pubDER, err := x509.MarshalPKIXPublicKey(fzEdKey.Public())
	if err != nil {
		tb.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	noneTok := jwtforge.Sign(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
		map[string]any{"typ": "at+jwt", "kid": SecretKID(fzSecret)}, claims)
	valid, _, _, _ := fzRefreshTokens(tb)
	rparts := strings.Split(valid[0], ".")
	huge := strings.Repeat("A", 1<<16)
	return []string{
		"",
		".",
		"..",
		"...",
		"a.b.c",
		"Bearer " + fzHSValid1,
		" " + fzHSValid1,
		fzHSValid1 + " ",
		fzHSValid1 + "=",
		fzHSValid1 + ".",
		parts[0] + "." + parts[1] + ".", // no signature
		parts[0] + "." + parts[1],       // two parts
		parts[1] + "." + parts[0] + "." + parts[2],   // header and payload swapped
		parts[0] + "." + rparts[1] + "." + parts[2],  // payload of a refresh token
		rparts[0] + "." + parts[1] + "." + rparts[2], // header of a refresh token
		parts[0] + "." + parts[1] + "." + rparts[2],  // signature of another token
		fzHSValid1[:len(fzHSValid1)-1],               // truncated signature
		fzHSValid1[:len(fzHSValid1)/2],               // truncated payload
		fzHSValid1[:len(fzHSValid1)-1] + "x",         // flipped last char
		parts[0] + "=." + parts[1] + "." + parts[2],  // padded header
		noneTok, // alg none
		fzB64(`{"alg":"none","typ":"at+jwt"}`) + "." + parts[1] + ".",
		fzB64(`{"alg":"NONE","typ":"at+jwt","kid":"`+SecretKID(fzSecret)+`"}`) + "." + parts[1] + ".",
		fzB64(`{"alg":"HS256","typ":"at+jwt","kid":"`+SecretKID(fzSecret)+`","crit":["x"]}`) + "." + parts[1] + "." + parts[2],
		fzB64(`{"alg":"HS256","typ":["at+jwt"]}`) + "." + parts[1] + "." + parts[2],
		fzB64(`{"alg":"HS256","typ":"at+jwt","kid":{"a":1}}`) + "." + parts[1] + "." + parts[2],
		fzB64(`{"alg":"HS256","typ":"at+jwt","kid":"`+SecretKID(fzSecret)+`","kid":"ed-1"}`) + "." + parts[1] + "." + parts[2],
		fzB64(`null`) + "." + fzB64(`null`) + "." + parts[2],
		fzB64(`{}`) + "." + fzB64(`{}`) + ".",
		fzB64(`{"alg":"HS256"}`) + "." + fzB64(`{"exp":1e400}`) + "." + parts[2],
		fzB64(`{"alg":"HS256"}`) + "." + fzB64(`{"exp":-1,"iat":"x","aud":7}`) + "." + parts[2],
		// Algorithm confusion: HS256 "signed" with the Ed25519 public key.
		jwtforge.Sign(tb, jwt.SigningMethodHS256, []byte(fzEdKey.Public().(ed25519.PublicKey)), map[string]any{"typ": "at+jwt", "kid": "ed-1"}, claims),
		jwtforge.Sign(tb, jwt.SigningMethodHS256, pubPEM, map[string]any{"typ": "at+jwt", "kid": "ed-1"}, claims),
		// The right key but the wrong typ, kid or issuer: refused by design.
		jwtforge.Sign(tb, jwt.SigningMethodHS256, fzSecret, map[string]any{"kid": SecretKID(fzSecret)}, claims),
		jwtforge.Sign(tb, jwt.SigningMethodHS256, fzSecret, map[string]any{"typ": "at+jwt", "kid": "ed-1"}, claims),
		jwtforge.Sign(tb, jwt.SigningMethodHS384, fzSecret, map[string]any{"typ": "at+jwt", "kid": SecretKID(fzSecret)}, claims),
		jwtforge.Sign(tb, jwt.SigningMethodEdDSA, fzEdKey, map[string]any{"typ": "refresh+jwt"}, claims),
		// A wrong secret.
		jwtforge.Sign(tb, jwt.SigningMethodHS256, []byte("not-the-secret-0123456789abcdef-0123456789"), map[string]any{"typ": "at+jwt", "kid": SecretKID(fzSecret)}, claims),
		// Huge segments.
		huge + "." + huge + "." + huge,
		parts[0] + "." + huge + "." + parts[2],
		strings.Repeat(".", 4096),
		"\x00\xff\xfe." + parts[1] + ".\x80",
	}
}

// FuzzVerifyAccess checks that VerifyAccess never panics, refuses with an
// error wrapping ErrInvalid and nil claims, and accepts only access tokens the
// service issued: an accepted string must have the signing input
// (header.payload) of an issued access token and decode to exactly its claims.
// Both an HS256 (server secret) and an EdDSA (JWKS) service are checked, and
// VerifyRefresh must not accept the string unless it is an issued refresh
// token either (no kind is ever accepted as the other).
func FuzzVerifyAccess(f *testing.F) {
	fixtures := fzFixtures(f)
	valid, expired, refused, noExp := fzRefreshTokens(f)
	for _, s := range []string{fzHSValid1, fzHSValid2, fzHSExpired, fzHSExpNow, fzHSFuture, fzEdValid, fzEdExpired} {
		f.Add(s)
	}
	for _, s := range append(append(append(valid, expired...), refused...), noExp) {
		f.Add(s)
	}
	for _, s := range fzHostileSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, fx := range fixtures {
			fzCheckAccess(t, fx, raw)
			if _, err := fx.svc.VerifyRefresh(raw); err == nil {
				if _, ok := fx.refresh[fzSigningInput(raw)]; !ok {
					t.Fatalf("%s: VerifyRefresh accepted %q", fx.name, raw)
				}
			}
		}
	})
}

// FuzzVerifyRefresh checks that VerifyRefresh and VerifyRefreshIgnoringExpiry
// never panic, refuse with an error wrapping ErrInvalid and nil claims, and
// accept only refresh tokens the service signed (same signing input, same
// claims): VerifyRefresh only unexpired ones, and only spelled exactly as
// issued (the stored hash is of the exact string), the other expired ones too,
// and whatever VerifyRefresh accepts VerifyRefreshIgnoringExpiry accepts as well.
// VerifyAccess must never accept the string unless it is an issued access
// token, and HashRefresh is a stable 64-hex-digit HMAC of anything.
func FuzzVerifyRefresh(f *testing.F) {
	fixtures := fzFixtures(f)
	valid, expired, refused, noExp := fzRefreshTokens(f)
	for _, s := range append(append(append(valid, expired...), refused...), noExp) {
		f.Add(s)
	}
	for _, s := range []string{fzHSValid1, fzEdValid, fzHSExpired} {
		f.Add(s)
	}
	// Every other last character of a valid token's signature: the ones that
	// decode to the same bytes are non-canonical spellings of it.
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		if s := valid[0][:len(valid[0])-1] + string(c); s != valid[0] {
			f.Add(s)
		}
	}
	rparts := strings.Split(valid[0], ".")
	for _, s := range []string{
		rparts[0] + "." + rparts[1] + ".",
		rparts[0] + "." + rparts[1] + "." + rparts[2] + "AA",
		rparts[1] + "." + rparts[0] + "." + rparts[2],
		fzB64(`{"alg":"none","typ":"refresh+jwt"}`) + "." + rparts[1] + ".",
		fzB64(`{"alg":"HS256","typ":"APPLICATION/REFRESH+JWT"}`) + "." + rparts[1] + "." + rparts[2],
		fzB64(`{"alg":"HS512","typ":"refresh+jwt"}`) + "." + rparts[1] + "." + rparts[2],
		rparts[0] + "." + fzB64(`{"iss":"authql","sub":"u","sid":"s","jti":"j","iat":1,"exp":99999999999}`) + "." + rparts[2],
		rparts[0] + "." + fzB64(`{"iss":"authql","sub":"u","sid":"s","jti":"j","iat":1,"exp":"never"}`) + "." + rparts[2],
	} {
		f.Add(s)
	}
	for _, s := range fzHostileSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, fx := range fixtures {
			fzCheckRefresh(t, fx, raw)
			if _, err := fx.svc.VerifyAccess(raw); err == nil {
				if _, ok := fx.access[fzSigningInput(raw)]; !ok {
					t.Fatalf("%s: VerifyAccess accepted %q", fx.name, raw)
				}
			}
		}
	})
}
