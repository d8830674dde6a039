package auth

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Email bounds from RFC 5321, applied to the normalized address.
const (
	maxEmailLen = 254
	maxLocalLen = 64
	// maxRawEmailBytes bounds the work before normalization: NFKC may grow a
	// string, but no address of 254 characters is typed in more than this.
	maxRawEmailBytes = 4 * maxEmailLen
)

// domains maps and checks a domain as a mail client resolving it would
// (IDNA UTS #46, non-transitional: "ß" stays "ß"), with the STD3 and DNS
// length rules.
var domains = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.VerifyDNSLength(true))

// NormalizeEmail returns the one stored form of an address, so that every
// spelling of one address finds one account:
//
//   - the local part in NFKC with Unicode case folding (NFKC_Casefold's
//     steps: NFKC, full case fold, NFKC): "ſam", "SAM" and "sam" are one, as
//     are final and medial sigma, the micro sign and mu, composed and
//     decomposed "é";
//   - the domain as IDNA UTS #46 maps it, stored in its Unicode form
//     (U-labels): "bücher.de", "BÜCHER.de", fullwidth letters and
//     "xn--bcher-kva.de" are one.
//
// It refuses what is not one plain address (local@domain): display names,
// angle brackets, quotes, comments, control characters, inner whitespace, a
// domain without a dot or that IDNA refuses. The length limits (254
// characters, 64 before the @) apply to the normalized form.
func NormalizeEmail(raw string) (string, error) {
	email := strings.TrimSpace(raw)
	bad := func(msg string) (string, error) { return "", &InputError{Field: "email", Message: msg} }
	if email == "" {
		return bad("email is required")
	}
	if len(email) > maxRawEmailBytes || !utf8.ValidString(email) {
		return bad("email must be a valid address of at most 254 characters")
	}
	// NFKC first, so that a fullwidth "＠" is an "@" like any other.
	email = norm.NFKC.String(email)
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return bad("email must look like name@example.com")
	}
	local := norm.NFKC.String(cases.Fold().String(email[:at]))
	if !validLocal(local) {
		return bad("email must be a plain address like name@example.com")
	}
	ascii, err := domains.ToASCII(email[at+1:])
	if err != nil || !validDomain(ascii) {
		return bad("email must be a plain address like name@example.com")
	}
	domain, err := domains.ToUnicode(ascii)
	if err != nil {
		return bad("email must be a plain address like name@example.com")
	}
	if utf8.RuneCountInString(local) > maxLocalLen {
		return bad("the part before @ must be at most 64 characters")
	}
	email = local + "@" + domain
	if utf8.RuneCountInString(email) > maxEmailLen {
		return bad("email must be a valid address of at most 254 characters")
	}
	return email, nil
}

// validLocal accepts a dot-atom: RFC 5322 atext (and non-ASCII letters and
// digits, RFC 6531), dots only between atoms.
func validLocal(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
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

// validDomain checks the ASCII (A-label) form: at least two labels of
// letters, digits and inner hyphens.
func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
