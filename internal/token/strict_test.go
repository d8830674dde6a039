package token_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/authql/authql/internal/token"
)

// signRaw HS256-signs header and claims given as raw JSON text, so that a
// test can write what no JSON encoder would: duplicate members, strings where
// numbers belong.
func signRaw(header, claims string) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// insertAt puts s into raw at byte i of segment seg (0-based).
func insertAt(raw string, seg, i int, s string) string {
	parts := strings.Split(raw, ".")
	parts[seg] = parts[seg][:i] + s + parts[seg][i:]
	return strings.Join(parts, ".")
}

// TestStrictParsing forges tokens with the right key that the standards do not
// allow, or that spell a genuine token another way: every one is refused, as
// access token and as refresh token, while its well-formed twin is accepted
// (so each refusal is for the reason named).
func TestStrictParsing(t *testing.T) {
	svc, _ := hsService(t)
	kid := token.SecretKID(secret)
	accessHeader := fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"at+jwt"`, kid)
	const refreshHeader = `{"alg":"HS256","typ":"refresh+jwt"`
	exp, iat := t0.Add(ttl).Unix(), t0.Unix()
	accessClaims := fmt.Sprintf(`{"iss":"authql","aud":["authql"],"sub":"user-1","sid":"session-1","jti":"j1","iat":%d,"exp":%d`, iat, exp)
	refreshClaims := fmt.Sprintf(`{"iss":"authql","sub":"user-1","sid":"session-1","jti":"j1","iat":%d,"exp":%d`, iat, exp)

	kinds := []struct {
		name           string
		header, claims string
		verify         func(string) error
	}{
		{"access", accessHeader, accessClaims, func(raw string) error { _, err := svc.VerifyAccess(raw); return err }},
		{"refresh", refreshHeader, refreshClaims, func(raw string) error { _, err := svc.VerifyRefresh(raw); return err }},
		{"logout", refreshHeader, refreshClaims, func(raw string) error { _, err := svc.VerifyRefreshIgnoringExpiry(raw); return err }},
	}
	// Each case turns the open header and claims (without their closing
	// brace) into a token.
	cases := []struct {
		name  string
		forge func(h, c string) string
	}{
		{"crit header", func(h, c string) string { return signRaw(h+`,"crit":["exp"]}`, c+`}`) }},
		{"empty crit header", func(h, c string) string { return signRaw(h+`,"crit":[]}`, c+`}`) }},
		{"b64 false with crit", func(h, c string) string { return signRaw(h+`,"b64":false,"crit":["b64"]}`, c+`}`) }},
		{"b64 false alone", func(h, c string) string { return signRaw(h+`,"b64":false}`, c+`}`) }},
		{"duplicate header member", func(h, c string) string { return signRaw(h+`,"alg":"HS256"}`, c+`}`) }},
		{"duplicate typ, differing", func(h, c string) string { return signRaw(h+`,"typ":"JWT"}`, c+`}`) }},
		{"duplicate claim", func(h, c string) string { return signRaw(h+`}`, c+`,"sub":"user-2"}`) }},
		{"duplicate claim by case", func(h, c string) string { return signRaw(h+`}`, c+`,"SUB":"user-2"}`) }},
		{"duplicate claim by escape", func(h, c string) string { return signRaw(h+`}`, c+`,"\u0073id":"session-2"}`) }},
		{"duplicate exp", func(h, c string) string { return signRaw(h+`}`, c+fmt.Sprintf(`,"exp":%d}`, exp+3600)) }},
		{"duplicate member in a nested object", func(h, c string) string { return signRaw(h+`}`, c+`,"x":{"a":1,"a":2}}`) }},
		{"exp as a string", func(h, c string) string {
			return signRaw(h+`}`, strings.Replace(c, fmt.Sprintf(`"exp":%d`, exp), fmt.Sprintf(`"exp":"%d"`, exp), 1)+`}`)
		}},
		{"iat as a string", func(h, c string) string {
			return signRaw(h+`}`, strings.Replace(c, fmt.Sprintf(`"iat":%d`, iat), fmt.Sprintf(`"iat":"%d"`, iat), 1)+`}`)
		}},
		{"nbf as a string", func(h, c string) string { return signRaw(h+`}`, c+fmt.Sprintf(`,"nbf":"%d"}`, iat)) }},
		{"claims with trailing data", func(h, c string) string { return signRaw(h+`}`, c+`}{}`) }},
		{"CRLF in the claims", func(h, c string) string { return insertAt(signRaw(h+`}`, c+`}`), 1, 8, "\r\n") }},
		{"LF in the header", func(h, c string) string { return insertAt(signRaw(h+`}`, c+`}`), 0, 4, "\n") }},
		{"CR in the signature", func(h, c string) string { return insertAt(signRaw(h+`}`, c+`}`), 2, 10, "\r") }},
		{"CRLF at the end", func(h, c string) string { return signRaw(h+`}`, c+`}`) + "\r\n" }},
		{"padding", func(h, c string) string {
			raw := signRaw(h+`}`, c+`}`)
			if n := len(strings.Split(raw, ".")[2]) % 4; n != 0 {
				return raw + strings.Repeat("=", 4-n)
			}
			return raw + "===="
		}},
		{"space in a segment", func(h, c string) string { return insertAt(signRaw(h+`}`, c+`}`), 1, 8, " ") }},
		{"standard base64 alphabet", func(h, c string) string {
			raw := signRaw(h+`}`, c+`}`)
			return strings.NewReplacer("-", "+", "_", "/").Replace(raw)
		}},
		{"a fourth segment", func(h, c string) string { return signRaw(h+`}`, c+`}`) + ".e30" }},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if err := k.verify(signRaw(k.header+`}`, k.claims+`}`)); err != nil {
				t.Fatalf("the well-formed token is refused: %v", err)
			}
			for _, c := range cases {
				raw := c.forge(k.header, k.claims)
				if c.name == "standard base64 alphabet" && !strings.ContainsAny(raw, "+/") {
					continue // this signature happened to need neither character
				}
				if err := k.verify(raw); !errors.Is(err, token.ErrInvalid) {
					t.Errorf("%s: %q accepted (err %v)", c.name, raw, err)
				}
			}
		})
	}
}
