package recovery

import (
	"regexp"
	"testing"
)

func TestGenerate(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)
	seen := map[string]bool{}
	for range 50 {
		codes := Generate()
		if len(codes) != Count {
			t.Fatalf("%d codes", len(codes))
		}
		for _, c := range codes {
			if !shape.MatchString(c) {
				t.Fatalf("code %q: not two groups of five unambiguous characters", c)
			}
			if seen[c] {
				t.Fatalf("code %q repeated", c)
			}
			seen[c] = true
			if n, ok := Normalize(c); !ok || len(n) != Length {
				t.Fatalf("code %q does not normalize: %q", c, n)
			}
		}
	}
}

// TestGenerateUsesWholeAlphabet: every character turns up, so a code carries
// its full 5 bits per character (50 in all).
func TestGenerateUsesWholeAlphabet(t *testing.T) {
	seen := map[rune]bool{}
	for range 20 {
		for _, c := range Generate() {
			for _, r := range c {
				seen[r] = true
			}
		}
	}
	for _, r := range alphabet {
		if !seen[r] {
			t.Errorf("%q never generated", r)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"7k3mq-x9d2a", "7k3mqx9d2a", true},
		{"7K3MQ-X9D2A", "7k3mqx9d2a", true},
		{"7k3mqx9d2a", "7k3mqx9d2a", true},
		{" 7k3mq x9d2a ", "7k3mqx9d2a", true},
		{"7k3-mq-x9-d2a", "7k3mqx9d2a", true},
		{"o0iIlL1abc", "0011111abc", true}, // read as the digits they look like
		{"7k3mq-x9d2", "", false},          // too short
		{"7k3mq-x9d2ab", "", false},        // too long
		{"7k3mq-x9d2u", "", false},         // u is not in the alphabet
		{"7k3mq_x9d2a", "", false},
		{"7k3mq\tx9d2a", "", false},
		{"7k3mqx9d2á", "", false},
		{"７k3mqx9d2a", "", false}, // full-width digit
		{"", "", false},
		{"----------", "", false},
	} {
		got, ok := Normalize(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestHash(t *testing.T) {
	h := NewHasher([]byte("server secret of at least 32 bytes!!"))
	base, ok := h.Hash("user-1", "7k3mq-x9d2a")
	if !ok || len(base) != 64 {
		t.Fatalf("hash %q, %v", base, ok)
	}
	for _, c := range []struct {
		name   string
		hasher *Hasher
		user   string
		code   string
		same   bool
	}{
		{"as typed, loosely", h, "user-1", " 7K3MQ X9D2A", true},
		{"another code", h, "user-1", "7k3mq-x9d2b", false},
		{"another user", h, "user-2", "7k3mq-x9d2a", false},
		{"another secret", NewHasher([]byte("another server secret, 32 bytes!!!")), "user-1", "7k3mq-x9d2a", false},
	} {
		got, ok := c.hasher.Hash(c.user, c.code)
		if !ok || (got == base) != c.same {
			t.Errorf("%s: hash %q (ok %v) equal to the first: %v, want %v", c.name, got, ok, got == base, c.same)
		}
	}
	if got, ok := h.Hash("user-1", "not a code"); ok || got != "" {
		t.Errorf("malformed code hashed: %q", got)
	}
}
