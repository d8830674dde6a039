package jwtstrict

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// The reference: Check as it was written on encoding/json, before it read
// the JSON itself. The two must agree on every input.

func refCheck(token string) error {
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
	header, err := refObject(parts[0])
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	for _, name := range []string{"crit", "b64"} {
		if _, ok := header[name]; ok {
			return fmt.Errorf("%w: %w: %q", ErrMalformed, ErrCritical, name)
		}
	}
	claims, err := refObject(parts[1])
	if err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := claims[name]; ok && !refIsNumber(v) {
			return fmt.Errorf("%w: claim %q is not a number", ErrMalformed, name)
		}
	}
	return nil
}

// object decodes a segment that must be one JSON object with no duplicate
// member names at any depth, and returns its members by folded name.
func refObject(seg string) (map[string]json.RawMessage, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := refWalk(dec, 0); err != nil {
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
func refWalk(dec *json.Decoder, depth int) error {
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
			if err := refWalk(dec, depth+1); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := refWalk(dec, depth+1); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func refIsNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

func agree(t *testing.T, token string) {
	t.Helper()
	got, want := Check(token), refCheck(token)
	if (got == nil) != (want == nil) || errors.Is(got, ErrCritical) != errors.Is(want, ErrCritical) {
		t.Errorf("%q: Check says %v, the encoding/json reference %v", token, got, want)
	}
}

func TestCheckAgreesWithReference(t *testing.T) {
	sig := enc("sig")
	jsons := []string{
		`{}`, ` {"a":1} `, `{"a":1,"A":2}`, `{"a":1,"\u0041":2}`, `{"k":1,"\u212a":2}`, `{"s":1,"\u017f":2}`,
		`{"exp":"1"}`, `{"EXP":1,"exp":2}`, `{"exp":-1}`, `{"exp":1.5e3}`, `{"exp":01}`, `{"exp":1.}`, `{"exp":.1}`, `{"exp":1e}`,
		`{"exp":true}`, `{"exp":null}`, `{"crit":[]}`, `{"CRIT":1}`, `{"b64":false}`, `{"\u0062\u0036\u0034":0}`,
		`{"a":{"b":{"b":1}}}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"x":1,"x":2}]}`, `{"a":[1,2,]}`, `{"a":[,]}`, `{"a":[]}`, `{"a":[ ]}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12zz"}`, `{"a":"` + "\x01" + `"}`, `{"a":"\ud800"}`, "{\"\xff\":1,\"\xfe\":2}",
		`{"a":1}x`, `{"a":1}{}`, `[]`, `"x"`, `{"a" 1}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":tru}`, `{"a":nul}`, `{"a":falsey}`,
		`{"a":-}`, `{"a":-0}`, `{"a":1E+2}`, `{"a":1e-2}`, `{"a":"ok","b":"\"\\\/\b\f\n\r\t"}`, "{\"a\":1}\n",
		strings.Repeat(`{"a":`, 16) + "1" + strings.Repeat("}", 16), strings.Repeat(`{"a":`, 17) + "1" + strings.Repeat("}", 17),
		`{"a":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`, `{"a":` + strings.Repeat("[", 17) + strings.Repeat("]", 17) + `}`,
	}
	for _, j := range jsons {
		ok := enc(`{"alg":"HS256","typ":"JWT"}`)
		agree(t, enc(j)+"."+ok+"."+sig)
		agree(t, ok+"."+enc(j)+"."+sig)
	}
}

func FuzzCheckAgreesWithReference(f *testing.F) {
	f.Add(`{"alg":"HS256"}`, `{"sub":"u","exp":1}`)
	f.Add(`{"a":{"b":[1,{"c":"d"}]}}`, `{"\u0061":1,"a":2}`)
	f.Fuzz(func(t *testing.T, header, claims string) {
		agree(t, enc(header)+"."+enc(claims)+"."+enc("sig"))
	})
}
