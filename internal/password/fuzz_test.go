package password

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fzCheap keeps argon2id's shape at a fuzzer's price.
var fzCheap = Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// FuzzValidate checks that Validate never panics and accepts exactly the
// valid UTF-8 strings of 8 to 1024 characters (runes, not bytes), refusing
// the rest with the matching error: ErrInvalidUTF8, ErrTooShort or ErrTooLong.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"",
		"1234567",
		"12345678",
		"correct horse battery staple",
		"ééééééé",  // 7 runes, 14 bytes
		"éééééééé", // 8 runes
		"😀😀😀😀😀😀😀😀",
		"\x00\x00\x00\x00\x00\x00\x00\x00",
		"       \t",
		"abcdefg\xff",
		"\xc3\x28abcdefgh",
		"\xed\xa0\x80abcdefgh", // an encoded surrogate
		strings.Repeat("a", 1024),
		strings.Repeat("a", 1025),
		strings.Repeat("é", 1024),
		strings.Repeat("é", 1025),
		strings.Repeat("😀", 1024),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		err := Validate(pw)
		n := utf8.RuneCountInString(pw)
		var want error
		switch {
		case !utf8.ValidString(pw):
			want = ErrInvalidUTF8
		case n < 8:
			want = ErrTooShort
		case n > 1024:
			want = ErrTooLong
		}
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Fatalf("Validate(%q) (%d bytes, %d runes) = %v, want %v", pw, len(pw), n, err, want)
		}
	})
}

// FuzzHashVerify checks that a password is never truncated or altered on
// its way through Hash and Verify: Verify accepts the very password that was
// hashed, and refuses it with one byte more, one byte less, or its last byte
// changed; Hash's output decodes to the Hasher's parameters. It runs with a
// cheap argon2id cost.
func FuzzHashVerify(f *testing.F) {
	h := NewHasher(fzCheap, 1, time.Minute)
	ctx := context.Background()
	for _, s := range []string{
		"correct horse battery staple",
		"12345678",
		strings.Repeat("a", 72) + "b", // past bcrypt's 72-byte cut
		strings.Repeat("x", 1024),
		"pass\x00word",
		"\x00\x00\x00\x00\x00\x00\x00\x00",
		"éééééééé",
		"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) > 4096 {
			t.Skip("longer than any password the policy admits")
		}
		phc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		p, _, _, err := decode(phc)
		if err != nil || p != fzCheap {
			t.Fatalf("Hash(%q) = %q: decodes to (%+v, %v), want %+v", pw, phc, p, err, fzCheap)
		}
		if rehash, err := h.Verify(ctx, pw, phc); err != nil || rehash {
			t.Fatalf("Verify(%q, its own hash) = (%v, %v), want (false, nil)", pw, rehash, err)
		}
		others := []string{pw + "\x00", pw + "a"}
		if pw != "" {
			last := pw[len(pw)-1]
			others = append(others, pw[:len(pw)-1], pw[:len(pw)-1]+string([]byte{last ^ 1}))
		}
		for _, o := range others {
			if _, err := h.Verify(ctx, o, phc); !errors.Is(err, ErrMismatch) {
				t.Fatalf("Verify(%q, hash of %q) = %v, want ErrMismatch", o, pw, err)
			}
		}
	})
}

// FuzzDecodeHash checks that decoding a stored PHC string never panics, that
// whatever it accepts is within the bounds that keep a corrupted row from
// asking for gigabytes or zero work (memory 8 KiB..1 GiB, time 1..16, at
// least one thread, salt of at least 8 bytes, key of 16..128 bytes), and that
// re-encoding what it accepted decodes to the same parameters, salt and key.
// Nothing is hashed: a fuzzed memory cost could be a gigabyte.
func FuzzDecodeHash(f *testing.F) {
	good := encode(DefaultParams, []byte("0123456789abcdef"), bytes.Repeat([]byte{7}, 32))
	for _, s := range []string{
		good,
		encode(fzCheap, []byte("saltsalt"), bytes.Repeat([]byte{1}, 16)),
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=1048577,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=0$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=256$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,m=8,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=-1,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5=",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"",
		"$$$$$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, phc string) {
		p, salt, key, err := decode(phc)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("decode(%q) = %v, want ErrMalformedHash", phc, err)
			}
			return
		}
		if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 ||
			len(salt) < 8 || len(key) < 16 || len(key) > 128 ||
			p.SaltLen != uint32(len(salt)) || p.KeyLen != uint32(len(key)) {
			t.Fatalf("decode(%q) accepted out-of-bounds %+v (salt %d, key %d bytes)", phc, p, len(salt), len(key))
		}
		p2, salt2, key2, err := decode(encode(p, salt, key))
		if err != nil || p2 != p || !bytes.Equal(salt2, salt) || !bytes.Equal(key2, key) {
			t.Fatalf("decode(%q) = %+v, which does not survive encode/decode: (%+v, %v)", phc, p, p2, err)
		}
	})
}
