// Package jwtforge signs tokens the way a test or an attacker holding a key
// chooses: any algorithm, key, header and claims, so that verifiers can be
// shown to refuse them.
package jwtforge

import (
	"maps"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Sign signs claims with key under method. Header members are set over the
// library's (alg, typ "JWT"); a nil value deletes a member.
func Sign(tb testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("jwtforge: sign: %v", err)
	}
	return s
}

// With is a copy of m (claims, a header, a JWK) with member k set to v, or
// deleted when v is nil: one thing changed at a time.
func With[M ~map[string]any](m M, k string, v any) M {
	c := maps.Clone(m)
	if c == nil {
		c = M{}
	}
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}
