package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authql/authql/internal/auth"
)

// label returns a DNS label of n ASCII letters.
func label(n int) string { return strings.Repeat("d", n) }

// domainOfLen returns "x...x.com"-style domain of exactly n characters made of
// labels no longer than 63.
func domainOfLen(n int) string {
	var labels []string
	rest := n - len(".com")
	for rest > 0 {
		l := min(rest, 63)
		if rest-l == 1 { // a lone separator would leave an empty label
			l--
		}
		labels = append(labels, label(l))
		rest -= l + 1
	}
	return strings.Join(labels, ".") + ".com"
}

// TestNormalizeEmailAccepts checks the addresses a real user types, and that
// they are stored trimmed and lower-cased so that sign-up and login agree.
func TestNormalizeEmailAccepts(t *testing.T) {
	local64 := strings.Repeat("l", 64)
	email254 := local64 + "@" + domainOfLen(254-65)
	if len(email254) != 254 {
		t.Fatalf("fixture is %d characters", len(email254))
	}
	tests := []struct {
		name, in, want string
	}{
		{"plain", "alice@example.com", "alice@example.com"},
		{"lower-cased", "Alice@Example.COM", "alice@example.com"},
		{"trimmed", "  alice@example.com  ", "alice@example.com"},
		{"trimmed tabs and newline at the ends", "\talice@example.com\r\n", "alice@example.com"},
		{"plus addressing", "alice+newsletter@example.com", "alice+newsletter@example.com"},
		{"dots in local part", "alice.b.smith@example.com", "alice.b.smith@example.com"},
		{"subdomains", "a@mail.eu.example.co.uk", "a@mail.eu.example.co.uk"},
		{"digits", "user123@123example.com", "user123@123example.com"},
		{"digit-only local part", "12345@example.com", "12345@example.com"},
		{"hyphen inside a label", "a@my-mail.example-domain.com", "a@my-mail.example-domain.com"},
		{"underscore and other atext in local part", "o'brien_x-y!#$%&*/=?^`{|}~@example.com", "o'brien_x-y!#$%&*/=?^`{|}~@example.com"},
		{"single-character local part and labels", "a@b.co", "a@b.co"},
		{"64-character local part", local64 + "@example.com", local64 + "@example.com"},
		{"63-character label", "a@" + label(63) + ".com", "a@" + label(63) + ".com"},
		{"254 characters in total", email254, email254},
		{"254 characters after trimming", "  " + email254 + " ", email254},
		{"non-ASCII letters in local part", "josé@example.com", "josé@example.com"},
		{"non-ASCII upper case lower-cased", "JOSÉ@EXAMPLE.COM", "josé@example.com"},
		{"internationalised domain", "user@bücher.de", "user@bücher.de"},
		{"non-Latin script", "用户@例子.广告", "用户@例子.广告"},
		{"Cyrillic upper case", "ИВАН@пример.рф", "иван@пример.рф"},
		{"combining mark composed (NFC)", "jose\u0301@example.com", "jos\u00e9@example.com"},
		{"fullwidth @ is an @ (NFKC)", "alice＠example.com", "alice@example.com"},
		{"punycode domain stored in Unicode", "user@xn--bcher-kva.de", "user@bücher.de"},
		{"German sharp s folds to ss", "STRAßE@example.com", "strasse@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.NormalizeEmail(tc.in)
			if err != nil {
				t.Fatalf("NormalizeEmail(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("NormalizeEmail(%q) = %q; want %q", tc.in, got, tc.want)
			}
			again, err := auth.NormalizeEmail(got)
			if err != nil || again != got {
				t.Errorf("not idempotent: NormalizeEmail(%q) = %q, %v", got, again, err)
			}
		})
	}
}

// TestNormalizeEmailRefuses checks the contract's rule "one plain address":
// signup answers BAD_USER_INPUT with field "email" for each of these, so the
// error must be an *auth.InputError naming that field.
func TestNormalizeEmailRefuses(t *testing.T) {
	local65 := strings.Repeat("l", 65)
	email255 := strings.Repeat("l", 64) + "@" + domainOfLen(255-65)
	if len(email255) != 255 {
		t.Fatalf("fixture is %d characters", len(email255))
	}
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"only whitespace", "   \t\n"},
		{"no @", "alice.example.com"},
		{"only @", "@"},
		{"nothing before @", "@example.com"},
		{"nothing after @", "alice@"},
		{"two @", "alice@evil.com@example.com"},
		{"two @ side by side", "alice@@example.com"},
		{"no dot in domain", "alice@localhost"},
		{"display name", "Alice <alice@example.com>"},
		{"angle brackets only", "<alice@example.com>"},
		{"quoted local part", `"alice"@example.com`},
		{"quoted local part with space", `"alice smith"@example.com`},
		{"double quote inside", `ali"ce@example.com`},
		{"comment in parentheses", "alice(comment)@example.com"},
		{"comment in domain", "alice@(comment)example.com"},
		{"space inside local part", "ali ce@example.com"},
		{"space before @", "alice @example.com"},
		{"space after @", "alice@ example.com"},
		{"space in domain", "alice@exa mple.com"},
		{"tab inside", "ali\tce@example.com"},
		{"newline inside (header injection)", "alice@example.com\nBcc: victim@example.com"},
		{"carriage return inside", "alice\r@example.com"},
		{"NUL byte", "alice\x00@example.com"},
		{"DEL", "alice\x7f@example.com"},
		{"C1 control character", "alice\u0085x@example.com"},
		{"no-break space inside", "ali\u00a0ce@example.com"},
		{"zero-width space inside", "ali\u200bce@example.com"},
		{"right-to-left override", "alice\u202e@example.com"},
		{"invalid UTF-8", "ali\xffce@example.com"},
		{"invalid punycode label", "alice@xn--zz-.com"},
		{"disallowed code point in domain", "alice@ex\ue000ample.com"},
		{"mixed-direction label (bidi rule)", "alice@a\u05d0.com"},
		{"65 characters once folded", strings.Repeat("l", 63) + "ß@example.com"},
		{"local part empty once normalized", "\u00ad@example.com"},
		{"comma-separated list", "alice@example.com,bob@example.com"},
		{"semicolon", "alice@example.com;bob@example.com"},
		{"colon (group syntax)", "group:alice@example.com"},
		{"square brackets (address literal)", "alice@[192.168.0.1]"},
		{"backslash", `ali\ce@example.com`},
		{"leading dot in local part", ".alice@example.com"},
		{"trailing dot in local part", "alice.@example.com"},
		{"double dot in local part", "al..ice@example.com"},
		{"label starting with hyphen", "alice@-example.com"},
		{"label ending with hyphen", "alice@example-.com"},
		{"TLD starting with hyphen", "alice@example.-com"},
		{"empty label", "alice@example..com"},
		{"leading dot in domain", "alice@.example.com"},
		{"trailing dot in domain", "alice@example.com."},
		{"64-character label", "alice@" + label(64) + ".com"},
		{"underscore in domain", "alice@ex_ample.com"},
		{"plus in domain", "alice@ex+ample.com"},
		{"255 characters", email255},
		{"far too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 5000) + "com"},
		{"65-character local part", local65 + "@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.NormalizeEmail(tc.in)
			if err == nil {
				t.Fatalf("NormalizeEmail(%q) accepted as %q", tc.in, got)
			}
			if got != "" {
				t.Errorf("returned %q along with the error", got)
			}
			var ie *auth.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not an *auth.InputError", err, err)
			}
			if ie.Field != "email" {
				t.Errorf("Field = %q; want \"email\"", ie.Field)
			}
			if ie.Message == "" {
				t.Error("empty message")
			}
			if strings.ContainsAny(tc.in, "\x00\n\r") && strings.ContainsAny(ie.Message, "\x00\n\r") {
				t.Errorf("message echoes control characters: %q", ie.Message)
			}
		})
	}
}

// TestNormalizeEmailConfusables lists pairs that are one address to a person
// (and to the Unicode and IDNA standards): each pair must normalize to one
// string, or one person holds two accounts.
func TestNormalizeEmailConfusables(t *testing.T) {
	tests := []struct {
		name, a, b string
	}{
		{"long s and s", "\u017fam@example.com", "sam@example.com"},
		{"long s upper-cased", "\u017fAM@example.com", "SAM@example.com"},
		{"final and medial sigma", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2@example.com", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3@example.com"},
		{"capital and final sigma", "\u03a3@example.com", "\u03c2@example.com"},
		{"micro sign and mu", "\u00b5@example.com", "\u03bc@example.com"},
		{"NFD and NFC", "jose\u0301@example.com", "jos\u00e9@example.com"},
		{"Kelvin sign and k", "\u212aate@example.com", "kate@example.com"},
		{"fullwidth and ASCII local part", "\uff53\uff41\uff4d@example.com", "sam@example.com"},
		{"fullwidth and ASCII domain", "sam@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "sam@example.com"},
		{"ideographic full stop in domain", "sam@example\u3002com", "sam@example.com"},
		{"Unicode and punycode domain", "user@b\u00fccher.de", "user@xn--bcher-kva.de"},
		{"upper-case punycode domain", "user@XN--BCHER-KVA.DE", "user@B\u00dcCHER.de"},
		{"NFD domain", "user@bu\u0308cher.de", "user@b\u00fccher.de"},
		{"sharp s and ss", "stra\u00dfe@example.com", "strasse@example.com"},
		{"ligature and letters", "\ufb01nn@example.com", "finn@example.com"},
		{"superscript and digit", "user\u00b2@example.com", "user2@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, errA := auth.NormalizeEmail(tc.a)
			b, errB := auth.NormalizeEmail(tc.b)
			if errA != nil || errB != nil {
				t.Fatalf("NormalizeEmail: %q: %v; %q: %v", tc.a, errA, tc.b, errB)
			}
			if a != b {
				t.Fatalf("%q -> %q but %q -> %q: one address, two accounts", tc.a, a, tc.b, b)
			}
		})
	}
}
