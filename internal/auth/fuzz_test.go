package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// fzPlainEmail is a conservative subset of valid addresses (ASCII, simple
// dot-free local part, one dot in the domain, surrounding ASCII blanks): every
// match must be accepted.
var fzPlainEmail = regexp.MustCompile(`^[ \t\r\n]*[A-Za-z0-9_+-]{1,64}@[A-Za-z0-9]{1,63}\.[A-Za-z]{2,24}[ \t\r\n]*$`)

// fzForbidden are the characters a plain address never contains: angle
// brackets and quotes (display names, quoted local parts), and the other RFC
// 5322 specials (comments, lists, domain literals, route syntax). Apostrophes
// and backticks are not here: they are atext, valid in a dot-atom local part.
const fzForbidden = `<>"(),:;[]\`

// FuzzNormalizeEmail checks that NormalizeEmail never panics and that:
//   - a refusal is ("", *InputError{Field: "email"});
//   - an accepted address is exactly the input trimmed and lower-cased (no
//     other rewriting), valid UTF-8, at most 254 characters, with exactly one
//     '@', a local part of 1..64 characters without leading, trailing or
//     doubled dots, a domain with at least one dot and no empty label, and
//     no whitespace, control or format characters, angle brackets, quotes or
//     other RFC 5322 specials;
//   - normalizing is idempotent, ignores surrounding whitespace, and (for
//     ASCII addresses) ignores case;
//   - plain ASCII addresses (fzPlainEmail) are always accepted.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"user@example.com",
		"  User.Name+tag@Example.COM \t\n",
		"o'brien@example.co.uk",
		"a@b.c",
		"ÜSER@bücher.de",
		"\u212A@example.com", // Kelvin sign lower-cases to ASCII k
		"İ@example.com",      // lower-cases to ASCII i
		"Ǆ@example.com",
		"\"quoted\"@example.com",
		"Name <user@example.com>",
		"user@example.com, other@example.com",
		"user(comment)@example.com",
		"user@[127.0.0.1]",
		"user@localhost",
		"user@@example.com",
		"a@b@example.com",
		"@example.com",
		"user@",
		".user@example.com",
		"user.@example.com",
		"us..er@example.com",
		"user@example..com",
		"user@-example.com",
		"user@example.com.",
		"us er@example.com",
		"user\x00@example.com",
		"user\u200b@example.com",
		"user\u202e@example.com",
		"user\u00a0@example.com",
		"\u2028user@example.com\u2029",
		"\xff\xfe@example.com",
		"user@exa\xc0mple.com",
		strings.Repeat("a", 64) + "@example.com",
		strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 63) + ".com",
		"a@" + strings.Repeat("b", 64) + ".com",
		"a@" + strings.Repeat("bbbbbbbbb.", 25) + "com",
		"a@" + strings.Repeat("é", 240) + ".com",
		"",
		" \t ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := NormalizeEmail(raw)
		if err != nil {
			var in *InputError
			if out != "" || !errors.As(err, &in) || in.Field != "email" || in.Message == "" {
				t.Fatalf("NormalizeEmail(%q) refusal = (%q, %#v), want (\"\", *InputError{Field: email})", raw, out, err)
			}
			if fzPlainEmail.MatchString(raw) {
				t.Fatalf("NormalizeEmail(%q) refused a plain address: %v", raw, err)
			}
			return
		}
		fzCheckEmail(t, raw, out)
		again, err := NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: NormalizeEmail(%q) = %q, then (%q, %v)", raw, out, again, err)
		}
		if padded, err := NormalizeEmail(" \t" + raw + "\r\n "); err != nil || padded != out {
			t.Fatalf("surrounding whitespace matters: NormalizeEmail(%q) = %q, padded (%q, %v)", raw, out, padded, err)
		}
		if fzIsASCII(out) {
			if upper, err := NormalizeEmail(strings.ToUpper(out)); err != nil || upper != out {
				t.Fatalf("case matters: NormalizeEmail(%q) = %q, upper-cased (%q, %v)", raw, out, upper, err)
			}
		}
	})
}

// fzCheckEmail asserts the shape of an accepted address out of raw.
func fzCheckEmail(t *testing.T, raw, out string) {
	t.Helper()
	fail := func(why string) { t.Fatalf("NormalizeEmail(%q) = %q: %s", raw, out, why) }
	// ASCII is only trimmed and lower-cased (an A-label domain excepted, which
	// is stored decoded).
	if fzIsASCII(raw) && !strings.Contains(strings.ToLower(raw), "xn--") && out != strings.ToLower(strings.TrimSpace(raw)) {
		fail("not exactly the ASCII input trimmed and lower-cased")
	}
	if out != strings.TrimSpace(out) || !norm.NFKC.IsNormalString(out) {
		fail("not trimmed and in NFKC")
	}
	if local, _, _ := strings.Cut(out, "@"); cases.Fold().String(local) != local {
		fail("local part not case-folded")
	}
	if !utf8.ValidString(out) {
		fail("invalid UTF-8")
	}
	if n := utf8.RuneCountInString(out); n > 254 {
		fail("longer than 254 characters")
	}
	if strings.Count(out, "@") != 1 {
		fail("not exactly one @")
	}
	local, domain, _ := strings.Cut(out, "@")
	if n := utf8.RuneCountInString(local); n < 1 || n > 64 {
		fail("local part not 1..64 characters")
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		fail("local part has a leading, trailing or doubled dot")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		fail("domain without a dot")
	}
	for _, l := range labels {
		if l == "" {
			fail("domain with an empty label")
		}
	}
	for _, r := range out {
		switch {
		case unicode.IsSpace(r):
			fail("contains whitespace")
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs):
			fail("contains a control or format character")
		case r == utf8.RuneError:
			fail("contains U+FFFD")
		case strings.ContainsRune(fzForbidden, r):
			fail("contains an angle bracket, quote or RFC 5322 special")
		}
	}
}

func fzIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
