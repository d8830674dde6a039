package totp

import (
	"encoding/base32"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfcSecret is RFC 6238 appendix B's SHA-1 seed, the ASCII "12345678901234567890".
var rfcSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))

// TestRFC6238Vectors: appendix B's SHA-1 codes, of which authenticator apps
// show the last six digits.
func TestRFC6238Vectors(t *testing.T) {
	for _, c := range []struct {
		unix int64
		rfc  string // the appendix's eight digits
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		now := time.Unix(c.unix, 0)
		want := c.rfc[2:]
		got, err := Code(rfcSecret, now)
		if err != nil || got != want {
			t.Errorf("Code at %d = %q, %v; want %q", c.unix, got, err, want)
		}
		step, ok := Match(rfcSecret, want, now)
		if !ok || step != c.unix/30 {
			t.Errorf("Match at %d = %d, %v; want step %d", c.unix, step, ok, c.unix/30)
		}
	}
}

func TestMatchWindow(t *testing.T) {
	secret := NewSecret()
	// The first second of a step: step boundaries are where an off-by-one shows.
	now := time.Unix(1_700_000_010*30, 0)
	cur := Step(now)
	codeAt := func(step int64) string {
		c, err := Code(secret, time.Unix(step*30, 0))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		name string
		step int64
		ok   bool
	}{
		{"current", cur, true},
		{"previous", cur - 1, true},
		{"next", cur + 1, true},
		{"two before", cur - 2, false},
		{"two after", cur + 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			code := codeAt(c.step)
			// Skip the rare secret where a far step shares the code of a near one.
			for d := int64(-1); !c.ok && d <= 1; d++ {
				if codeAt(cur+d) == code {
					t.Skip("codes collide")
				}
			}
			for _, at := range []time.Time{now, now.Add(Period - time.Nanosecond)} {
				step, ok := Match(secret, code, at)
				if ok != c.ok || ok && step != c.step {
					t.Errorf("at %v: Match = %d, %v; want %d, %v", at.Sub(now), step, ok, c.step, c.ok)
				}
			}
		})
	}
	// One nanosecond earlier is the previous step: its "next" is now's current.
	if step, ok := Match(secret, codeAt(cur+1), now.Add(-time.Nanosecond)); ok {
		t.Errorf("the code of step+1 matched step %d from step-1", step)
	}
	if step, ok := Match(secret, codeAt(cur-2), now.Add(-time.Nanosecond)); !ok || step != cur-2 {
		t.Errorf("the code of step-2 from step-1: %d, %v", step, ok)
	}
}

func TestMatchRefusesMalformedCodes(t *testing.T) {
	now := time.Unix(59, 0)
	for _, code := range []string{
		"", "28708", "2870820", " 287082", "287082 ", "28708a", "+28708", "-28708",
		"２８７０８２", // full-width digits
		"287\x0082", "94287082", "28 7082",
	} {
		if step, ok := Match(rfcSecret, code, now); ok {
			t.Errorf("Match(%q) accepted, step %d", code, step)
		}
	}
	if _, ok := Match(rfcSecret, "287082", now); !ok {
		t.Fatal("the valid code was refused")
	}
}

func TestMatchRefusesMalformedSecret(t *testing.T) {
	for _, secret := range []string{"", "not base32!", "GEZDGNBV", rfcSecret + "="} {
		if _, ok := Match(secret, "287082", time.Unix(59, 0)); ok {
			t.Errorf("secret %q accepted", secret)
		}
		if _, err := Code(secret, time.Unix(59, 0)); err == nil {
			t.Errorf("Code with secret %q succeeded", secret)
		}
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := NewSecret()
		key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
		if err != nil || len(key) < 20 || strings.Contains(s, "=") {
			t.Fatalf("secret %q: %d bytes, %v", s, len(key), err)
		}
		if seen[s] {
			t.Fatalf("secret %q repeated", s)
		}
		seen[s] = true
	}
}

func TestURI(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for _, c := range []struct {
		issuer, account, want string
	}{
		{"authql", "alice@example.com",
			"otpauth://totp/authql:alice@example.com?secret=" + secret + "&issuer=authql&algorithm=SHA1&digits=6&period=30"},
		{"ACME Co", "bob+tag@example.com",
			"otpauth://totp/ACME%20Co:bob%2Btag@example.com?secret=" + secret + "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"},
		{"a:b&c=d", "x?y#z/é",
			"otpauth://totp/a%3Ab%26c%3Dd:x%3Fy%23z%2F%C3%A9?secret=" + secret + "&issuer=a%3Ab%26c%3Dd&algorithm=SHA1&digits=6&period=30"},
	} {
		got := URI(c.issuer, c.account, secret)
		if got != c.want {
			t.Errorf("URI(%q, %q)\n got %s\nwant %s", c.issuer, c.account, got, c.want)
		}
		// What an app's parser makes of it: the label splits on its one
		// colon, and the parameters decode to what went in.
		u, err := url.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		label := strings.TrimPrefix(u.EscapedPath(), "/")
		parts := strings.Split(label, ":")
		if len(parts) != 2 {
			t.Fatalf("label %q has %d parts", label, len(parts))
		}
		iss, _ := url.PathUnescape(parts[0])
		acc, _ := url.PathUnescape(parts[1])
		q := u.Query()
		if iss != c.issuer || acc != c.account || q.Get("issuer") != c.issuer || q.Get("secret") != secret ||
			q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" || len(q) != 5 {
			t.Errorf("%s parses as issuer %q account %q query %v", got, iss, acc, q)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	secret, now := NewSecret(), time.Now()
	for b.Loop() {
		Match(secret, "123456", now)
	}
}
