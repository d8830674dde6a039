// Package jwtstrict refuses, before any JWT library sees it, a compact JWS
// that the standards do not allow or that has more than one spelling:
// golang-jwt is laxer than RFC 7515 and RFC 7519 in ways that matter to a
// service that hashes tokens or trusts their claims.
package jwtstrict

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"
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
	parts, n := split(token)
	if n != 3 {
		return fmt.Errorf("%w: %d segments, want 3", ErrMalformed, n)
	}
	for i, p := range parts {
		if i == 2 && p == "" {
			continue // unsigned: one spelling, refused by every verifier for its alg
		}
		if err := segment(p); err != nil {
			return fmt.Errorf("%w: segment %d: %w", ErrMalformed, i+1, err)
		}
	}
	if err := decodes(parts[2]); err != nil {
		return fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	var header, claims members
	if err := object(parts[0], &header); err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	for _, name := range []string{"crit", "b64"} {
		if _, ok := header.get(name); ok {
			return fmt.Errorf("%w: %w: %q", ErrMalformed, ErrCritical, name)
		}
	}
	if err := object(parts[1], &claims); err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if first, ok := claims.get(name); ok && !(first == '-' || first >= '0' && first <= '9') {
			return fmt.Errorf("%w: claim %q is not a number", ErrMalformed, name)
		}
	}
	return nil
}

// split cuts a token at its dots without allocating: its first three
// segments, and how many it has.
func split(token string) (parts [3]string, n int) {
	rest, more := token, true
	for more {
		var seg string
		seg, rest, more = strings.Cut(rest, ".")
		if n < len(parts) {
			parts[n] = seg
		}
		n++
	}
	return parts, n
}

// decodes reports whether s is strict unpadded base64url, decoding it into a
// buffer on the stack when it fits (a signature of up to 4096 bits).
func decodes(s string) error {
	var buf [512]byte
	dst := buf[:]
	if n := base64.RawURLEncoding.DecodedLen(len(s)); n > len(buf) {
		dst = make([]byte, n)
	}
	_, err := base64.RawURLEncoding.Strict().Decode(dst, []byte(s))
	return err
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

// members are the top-level members of an object: each name folded (see
// fold; an ASCII name as it is, compared ignoring ASCII case) with the first
// byte of its value.
//
// The first ones are held in arrays, not in slices of them, which would
// point into the struct itself and move it to the heap on every call.
type members struct {
	n      int
	names  [16]string
	firsts [16]byte
	more   []member // past the first len(names)
}

type member struct {
	name  string
	first byte
}

func (m *members) add(name string, first byte) {
	if m.n < len(m.names) {
		m.names[m.n], m.firsts[m.n] = name, first
	} else {
		m.more = append(m.more, member{name, first})
	}
	m.n++
}

// get finds the member named name (lower-case ASCII) and the first byte of its value.
func (m *members) get(name string) (byte, bool) {
	for i := range min(m.n, len(m.names)) {
		if asciiEqualFold(m.names[i], name) {
			return m.firsts[i], true
		}
	}
	for _, mb := range m.more {
		if asciiEqualFold(mb.name, name) {
			return mb.first, true
		}
	}
	return 0, false
}

// object decodes a segment that must be one JSON object with no duplicate
// member names at any depth, and records its top-level members in top. It
// reads the JSON itself, as strictly as encoding/json and without its
// allocations: every request's token goes through here.
func object(seg string, top *members) error {
	data, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return err
	}
	// data is not written again: the parser reads it as a string in place
	// rather than copying it.
	p := parser{s: unsafe.String(unsafe.SliceData(data), len(data))}
	// The members are copied out at the end: a pointer to top in the parser,
	// whose recursion the compiler cannot follow, would move top to the heap.
	defer func() { *top = p.top }()
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return errors.New("not a JSON object")
	}
	if err := p.value(0); err != nil {
		return err
	}
	p.ws()
	if p.i != len(p.s) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// parser reads one JSON text.
type parser struct {
	s   string
	i   int
	top members
}

var errSyntax = errors.New("invalid JSON")

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// value reads one JSON value at depth, refusing an object that names a
// member twice.
func (p *parser) value(depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deep")
	}
	p.ws()
	if p.i >= len(p.s) {
		return errSyntax
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		p.i++
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.value(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.s) {
				return errSyntax
			}
			p.i++
			switch p.s[p.i-1] {
			case ']':
				return nil
			case ',':
			default:
				return errSyntax
			}
		}
	case c == '"':
		_, _, err := p.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if strings.HasPrefix(p.s[p.i:], lit) {
			p.i += len(lit)
			return nil
		}
	}
	return errSyntax
}

func (p *parser) object(depth int) error {
	p.i++ // {
	var buf [16]string
	seen := buf[:0]
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return errSyntax
		}
		raw, plain, err := p.str()
		if err != nil {
			return err
		}
		name := raw[1 : len(raw)-1]
		if !plain {
			var decoded string
			if err := json.Unmarshal([]byte(raw), &decoded); err != nil {
				return err
			}
			name = fold(decoded)
		}
		for _, n := range seen {
			if asciiEqualFold(n, name) {
				return fmt.Errorf("member %q given twice", name)
			}
		}
		seen = append(seen, name)
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return errSyntax
		}
		p.i++
		p.ws()
		if depth == 0 && p.i < len(p.s) {
			p.top.add(name, p.s[p.i])
		}
		if err := p.value(depth + 1); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) {
			return errSyntax
		}
		p.i++
		switch p.s[p.i-1] {
		case '}':
			return nil
		case ',':
		default:
			return errSyntax
		}
	}
}

// str reads a string, quotes included. plain reports one of printable
// ASCII without escapes, which is its own decoding and folding.
func (p *parser) str() (raw string, plain bool, err error) {
	start := p.i
	p.i++
	plain = true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return p.s[start:p.i], plain, nil
		case c < 0x20:
			return "", false, errSyntax
		case c == '\\':
			plain = false
			p.i++
			if p.i >= len(p.s) {
				return "", false, errSyntax
			}
			switch p.s[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if p.i+5 > len(p.s) {
					return "", false, errSyntax
				}
				for _, h := range []byte(p.s[p.i+1 : p.i+5]) {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return "", false, errSyntax
					}
				}
				p.i += 5
			default:
				return "", false, errSyntax
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			p.i++
		}
	}
	return "", false, errSyntax
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() error {
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case digits() == 0:
		return errSyntax
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return errSyntax
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	return nil
}

// asciiEqualFold compares ignoring ASCII case: names are ASCII as sent or
// folded already (see fold), and folding leaves them lower case.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// fold maps names that encoding/json would match to one struct field to one
// string (the Kelvin sign and the long s included).
func fold(s string) string { return strings.ToLower(strings.ToUpper(s)) }
