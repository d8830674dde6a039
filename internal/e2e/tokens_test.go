package e2e

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/jwtforge"
)

// tamper flips a claim in the payload and keeps the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return tok + "x"
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"sub":"`, `"sub":"x`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// claimsOf decodes a token's payload without verifying it.
func claimsOf(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c
}

// forge signs claims with the server secret (as an attacker who has it could)
// or with another key, with the given header typ.
func forge(t *testing.T, key []byte, typ string, claims jwt.MapClaims, kid string) string {
	t.Helper()
	header := map[string]any{"typ": typ}
	if kid != "" {
		header["kid"] = kid
	}
	return jwtforge.Sign(t, jwt.SigningMethodHS256, key, header, claims)
}

func TestAccessTokenShape(t *testing.T) {
	e := start(t, storetest.SQLite(t), "AUTHQL_ISSUER=https://auth.example.com", "AUTHQL_AUDIENCE=my-app")
	s := e.signup(newEmail(), pw)
	tok, _, err := jwt.NewParser().ParseUnverified(s.AccessToken, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["typ"] != "at+jwt" || tok.Header["kid"] == nil || tok.Header["alg"] != "HS256" {
		t.Fatalf("header %v", tok.Header)
	}
	c := tok.Claims.(jwt.MapClaims)
	for _, k := range []string{"iss", "aud", "sub", "sid", "jti", "iat", "exp"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if c["iss"] != "https://auth.example.com" || c["sub"] != s.User.ID {
		t.Errorf("claims %v", c)
	}
	if aud, _ := c.GetAudience(); len(aud) != 1 || aud[0] != "my-app" {
		t.Errorf("aud %v", aud)
	}
	rt, _, err := jwt.NewParser().ParseUnverified(s.refresh(), jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Header["typ"] == "at+jwt" {
		t.Fatal("refresh token typed as an access token")
	}
	rc := rt.Claims.(jwt.MapClaims)
	for _, k := range []string{"sub", "sid", "jti", "iat", "exp"} {
		if _, ok := rc[k]; !ok {
			t.Errorf("refresh claim %s missing", k)
		}
	}
	// The token verifies with the secret, as the contract documents.
	if _, err := jwt.Parse(s.AccessToken, func(*jwt.Token) (any, error) { return []byte(testSecret), nil }, jwt.WithAudience("my-app")); err != nil {
		t.Fatalf("verify with the secret: %v", err)
	}
}

func TestAccessTokenRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		s := e.signup(newEmail(), pw)
		good := claimsOf(t, s.AccessToken)
		kid, _ := func() (string, error) {
			tok, _, err := jwt.NewParser().ParseUnverified(s.AccessToken, jwt.MapClaims{})
			return tok.Header["kid"].(string), err
		}()
		with := func(k string, v any) jwt.MapClaims { return jwtforge.With(good, k, v) }
		secret := []byte(testSecret)
		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
		cases := map[string]string{
			"malformed":           "abc.def",
			"alg none":            none,
			"tampered payload":    tamper(s.AccessToken),
			"wrong key":           forge(t, []byte("another-secret-another-secret-0123456789"), "at+jwt", good, kid),
			"expired":             forge(t, secret, "at+jwt", with("exp", time.Now().Add(-time.Second).Unix()), kid),
			"expires this second": forge(t, secret, "at+jwt", with("exp", time.Now().Unix()), kid),
			"no exp":              forge(t, secret, "at+jwt", with("exp", nil), kid),
			"wrong issuer":        forge(t, secret, "at+jwt", with("iss", "someone-else"), kid),
			"wrong audience":      forge(t, secret, "at+jwt", with("aud", []string{"another-app"}), kid),
			"wrong typ":           forge(t, secret, "JWT", good, kid),
			"unknown kid":         forge(t, secret, "at+jwt", good, "other-kid"),
			"unknown session":     forge(t, secret, "at+jwt", with("sid", "00000000-0000-0000-0000-000000000000"), kid),
			"sub of another user": forge(t, secret, "at+jwt", with("sub", "someone"), kid),
			"refresh token":       s.refresh(),
		}
		for name, tok := range cases {
			t.Run(name, func(t *testing.T) {
				if _, code := e.me(tok); code != "UNAUTHENTICATED" {
					t.Fatalf("got %q", code)
				}
			})
		}
		t.Run("missing header", func(t *testing.T) {
			e.wantCode(req{query: meQ}, "UNAUTHENTICATED")
		})
		t.Run("other scheme", func(t *testing.T) {
			e.wantCode(req{query: meQ, headers: map[string]string{"Authorization": "Basic " + s.AccessToken}}, "UNAUTHENTICATED")
		})
		t.Run("scheme is case-insensitive", func(t *testing.T) {
			resp := e.do(req{query: meQ, headers: map[string]string{"Authorization": "bearer " + s.AccessToken}})
			if resp.code() != "" {
				t.Fatalf("%s", resp.Raw)
			}
		})
		t.Run("a valid forged control passes", func(t *testing.T) {
			// Proves the cases above fail for their stated reason, not the signature.
			if _, code := e.me(forge(t, secret, "at+jwt", good, kid)); code != "" {
				t.Fatalf("control refused: %s", code)
			}
		})
	})
}

func TestRefreshTokenRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		s := e.signup(newEmail(), pw)
		good := claimsOf(t, s.refresh())
		with := func(k string, v any) jwt.MapClaims { return jwtforge.With(good, k, v) }
		secret := []byte(testSecret)
		typ := "refresh+jwt"
		cases := map[string]string{
			"malformed":          "garbage",
			"tampered":           tamper(s.refresh()),
			"wrong key":          forge(t, []byte("another-secret-another-secret-0123456789"), typ, good, ""),
			"expired":            forge(t, secret, typ, with("exp", time.Now().Add(-time.Minute).Unix()), ""),
			"unknown jti":        forge(t, secret, typ, with("jti", "00000000-0000-0000-0000-000000000000"), ""),
			"other iat (hash)":   forge(t, secret, typ, with("iat", time.Now().Add(-time.Hour).Unix()), ""),
			"access token":       s.AccessToken,
			"wrong typ":          forge(t, secret, "at+jwt", good, ""),
			"wrong issuer":       forge(t, secret, typ, with("iss", "else"), ""),
			"empty":              "",
			"session of another": forge(t, secret, typ, with("sub", "x"), ""),
		}
		for name, tok := range cases {
			t.Run(name, func(t *testing.T) {
				if _, resp := e.refresh(tok); resp.code() != "INVALID_REFRESH_TOKEN" {
					t.Fatalf("got %s", resp.Raw)
				}
			})
		}
		t.Run("omitted without cookie mode", func(t *testing.T) {
			e.wantCode(req{query: `mutation { refreshToken { accessToken } }`}, "INVALID_REFRESH_TOKEN")
		})
		t.Run("none of that hurt the session", func(t *testing.T) {
			if _, resp := e.refresh(s.refresh()); resp.code() != "" {
				t.Fatalf("%s", resp.Raw)
			}
		})
	})
}
