// Package jwtstrict refuses, before any JWT library sees it, a compact JWS
// that the standards do not allow or that has more than one spelling:
// golang-jwt is laxer than RFC 7515 and RFC 7519 in ways that matter to a
// service that hashes tokens or trusts their claims.
package jwtstrict

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

var (
	// ErrMalformed is wrapped by every refusal.
	ErrMalformed = errors.New("jwtstrict: malformed token")
	// ErrCritical is wrapped too when the header asks for an extension
	// (crit, b64) that no verifier here understands.
	ErrCritical = errors.New("unsupported critical header")
)

// maxDepth bounds the nesting of the header and claims JSON: authql's tokens
// are flat, and the walk must not recurse as deep as a hostile token asks.
const maxDepth = 16

// Check refuses a compact JWS unless it is three base64url segments with
// nothing else in them (encoding/base64 skips CR and LF even in strict mode,
// which would give one token many spellings), whose header and claims are
// JSON objects with no member named twice, whose header has no crit or b64
// member (RFC 7515 §4.1.11 and RFC 7797: no extension is understood here),
// and whose exp, nbf and iat, when present, are JSON numbers (RFC 7519 §4.1.4;
// golang-jwt also reads "123" as 123).
//
// Member names are compared the way encoding/json matches them to struct
// fields, case-insensitively: "exp" and "EXP" in one object are one name given
// twice, and which of them the claims get would be an accident.
func Check(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: %d segments, want 3", ErrMalformed, len(parts))
	}
	for i, p := range parts {
		if i == 2 && p == "" {
			continue // unsigned: one spelling, refused by every verifier for its alg
		}
		if err := segment(p); err != nil {
			return fmt.Errorf("%w: segment %d: %w", ErrMalformed, i+1, err)
		}
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(parts[2]); err != nil {
		return fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	header, err := object(parts[0])
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	for _, name := range []string{"crit", "b64"} {
		if _, ok := header[name]; ok {
			return fmt.Errorf("%w: %w: %q", ErrMalformed, ErrCritical, name)
		}
	}
	claims, err := object(parts[1])
	if err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := claims[name]; ok && !isNumber(v) {
			return fmt.Errorf("%w: claim %q is not a number", ErrMalformed, name)
		}
	}
	return nil
}

// segment accepts the base64url alphabet without padding; strict decoding
// then refuses a final character with stray bits.
func segment(s string) error {
	if s == "" || len(s)%4 == 1 {
		return errors.New("bad length")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("byte %#x at %d is not base64url", c, i)
		}
	}
	return nil
}

// object decodes a segment that must be one JSON object with no duplicate
// member names at any depth, and returns its members by folded name.
func object(seg string) (map[string]json.RawMessage, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	members := make(map[string]json.RawMessage, len(raw))
	for k, v := range raw {
		members[fold(k)] = v
	}
	return members, nil
}

// walk reads one JSON value, refusing an object that names a member twice.
func walk(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deep")
	}
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name := fold(k.(string))
			if seen[name] {
				return fmt.Errorf("member %q given twice", k)
			}
			seen[name] = true
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// fold maps names that encoding/json would match to one struct field to one
// string (the Kelvin sign and the long s included).
func fold(s string) string { return strings.ToLower(strings.ToUpper(s)) }

func isNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}
