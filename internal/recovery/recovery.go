// Package recovery makes the single-use codes that stand in for a TOTP code
// when the authenticator is lost, and the only form in which they are stored.
//
// A code is 10 characters of Crockford's base32 (50 random bits), shown as two
// groups of five: "7k3mq-x9d2a". Input is read the forgiving way: any case,
// with or without the dash or spaces, and the letters o, i and l read as the
// digits they look like, which is why the alphabet has none of them.
package recovery

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	// Count is how many codes a user gets at a time.
	Count = 10
	// Length is the number of characters in a code, dash excluded.
	Length = 10
	// alphabet is Crockford's base32: no i, l, o or u.
	alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
)

// Generate returns Count distinct new codes in their display form.
func Generate() []string {
	codes := make([]string, 0, Count)
	seen := make(map[string]bool, Count)
	var b [Length]byte
	for len(codes) < Count {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails: it crashes the program instead
		for i := range b {
			// 256 is a multiple of 32: the low five bits are uniform.
			b[i] = alphabet[b[i]&31]
		}
		c := string(b[:5]) + "-" + string(b[5:])
		if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	return codes
}

// Normalize turns what a user typed into a code's canonical form (10
// lower-case characters of the alphabet, no dash), and reports whether it is
// one at all.
func Normalize(input string) (string, bool) {
	var b strings.Builder
	b.Grow(Length)
	for _, r := range input {
		switch {
		case r == '-' || r == ' ':
			continue
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		}
		switch r {
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(alphabet, r) || b.Len() == Length {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != Length {
		return "", false
	}
	return b.String(), true
}

// Hasher computes the stored form of codes.
//
// A fast keyed hash (HMAC-SHA-256), not a password hash, is the right tool:
// a code carries 50 random bits, so there is no small space of likely values
// for a slow hash to protect, and the key, derived from the server secret and
// absent from the database, makes a copy of the table useless for guessing.
// Being fast, checking a code costs nothing an attacker could use to load the
// server. The user id is hashed in too: a code works for its own account only,
// and hashes of different accounts never collide on the unique index.
type Hasher struct{ key []byte }

// NewHasher derives the hashing key from the server secret, under a label of
// its own, so the key serves no other purpose.
func NewHasher(serverSecret []byte) *Hasher {
	key, err := hkdf.Key(sha256.New, serverSecret, nil, "authql recovery code hash v1", sha256.Size)
	if err != nil {
		// Only a key longer than HKDF can produce fails, and sha256.Size is not.
		panic(err)
	}
	return &Hasher{key: key}
}

// Hash returns the stored form (64 hex digits) of a user's code as typed, and
// false when it cannot be a code, to be refused without a database lookup.
func (h *Hasher) Hash(userID, input string) (string, bool) {
	code, ok := Normalize(input)
	if !ok {
		return "", false
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(userID))
	m.Write([]byte{0}) // user ids hold no NUL: the boundary is unambiguous
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil)), true
}
