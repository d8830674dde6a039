package auth

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Email bounds from RFC 5321.
const (
	maxEmailLen = 254
	maxLocalLen = 64
	maxLabelLen = 63
)

// NormalizeEmail trims and lower-cases an address and checks that it is one
// plain address (local@domain): no display name, angle brackets, quotes,
// comments, control characters or inner whitespace, and a domain with a dot.
func NormalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	bad := func(msg string) (string, error) { return "", &InputError{Field: "email", Message: msg} }
	if email == "" {
		return bad("email is required")
	}
	if !utf8.ValidString(email) || utf8.RuneCountInString(email) > maxEmailLen || len(email) > 4*maxEmailLen {
		return bad("email must be a valid address of at most 254 characters")
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return bad("email must look like name@example.com")
	}
	local, domain := email[:at], email[at+1:]
	if utf8.RuneCountInString(local) > maxLocalLen {
		return bad("the part before @ must be at most 64 characters")
	}
	if !validLocal(local) || !validDomain(domain) {
		return bad("email must be a plain address like name@example.com")
	}
	return email, nil
}

// validLocal accepts a dot-atom: RFC 5322 atext (and non-ASCII letters and
// digits, RFC 6531), dots only between atoms.
func validLocal(s string) bool {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.':
		case strings.ContainsRune("!#$%&'*+/=?^_`{|}~-", r):
		case r > unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
		default:
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' ||
				r > unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
			if !ok {
				return false
			}
		}
	}
	return true
}
