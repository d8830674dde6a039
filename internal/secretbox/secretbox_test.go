package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

var (
	secretA = bytes.Repeat([]byte("a"), 32)
	secretB = bytes.Repeat([]byte("b"), 32)
)

func mustBox(t *testing.T, secret []byte, purpose string) *Box {
	t.Helper()
	b, err := New(secret, purpose)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"empty", nil, []byte("row-1")},
		{"no ad", []byte("JBSWY3DPEHPK3PXP"), nil},
		{"mail body", bytes.Repeat([]byte("x"), 10_000), []byte("outbox_mails:0b1c")},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := mustBox(t, secretA, PurposeTOTPSecret)
			sealed := b.Seal(c.plaintext, c.ad)
			if got, want := len(sealed), 1+nonceLen+len(c.plaintext)+tagLen; got != want {
				t.Errorf("sealed length %d, want %d", got, want)
			}
			if len(c.plaintext) > 0 && bytes.Contains(sealed, c.plaintext) {
				t.Error("the plaintext appears in the sealed value")
			}
			got, err := b.Open(sealed, c.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.plaintext) {
				t.Errorf("opened %q, want %q", got, c.plaintext)
			}
			// Another Box of the same secret and purpose (another instance, or
			// after a restart) opens it too.
			if _, err := mustBox(t, secretA, PurposeTOTPSecret).Open(sealed, c.ad); err != nil {
				t.Errorf("a second box of the same key: %v", err)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	plaintext, ad := []byte("a live reset token"), []byte("row-1")
	sealed := mustBox(t, secretA, PurposeMailBody).Seal(plaintext, ad)
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	for _, c := range []struct {
		name   string
		box    *Box
		sealed []byte
		ad     []byte
	}{
		{"wrong purpose", mustBox(t, secretA, PurposeTOTPSecret), sealed, ad},
		{"wrong secret", mustBox(t, secretB, PurposeMailBody), sealed, ad},
		{"wrong ad (another row)", mustBox(t, secretA, PurposeMailBody), sealed, []byte("row-2")},
		{"missing ad", mustBox(t, secretA, PurposeMailBody), sealed, nil},
		{"version changed", mustBox(t, secretA, PurposeMailBody), flip(0), ad},
		{"nonce tampered", mustBox(t, secretA, PurposeMailBody), flip(1), ad},
		{"ciphertext tampered", mustBox(t, secretA, PurposeMailBody), flip(1 + nonceLen), ad},
		{"tag tampered", mustBox(t, secretA, PurposeMailBody), flip(len(sealed) - 1), ad},
		{"truncated", mustBox(t, secretA, PurposeMailBody), sealed[:len(sealed)-1], ad},
		{"too short", mustBox(t, secretA, PurposeMailBody), sealed[:1+nonceLen+tagLen-1], ad},
		{"empty", mustBox(t, secretA, PurposeMailBody), nil, ad},
		{"extended", mustBox(t, secretA, PurposeMailBody), append(bytes.Clone(sealed), 0), ad},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.box.Open(c.sealed, c.ad)
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
			if got != nil {
				t.Errorf("a refused Open returned %q", got)
			}
		})
	}
}

func TestNonceUniqueness(t *testing.T) {
	b := mustBox(t, secretA, PurposeMailBody)
	seen := make(map[string]bool)
	var first []byte
	for i := range 10_000 {
		sealed := b.Seal([]byte("same plaintext"), []byte("same row"))
		nonce := string(sealed[1 : 1+nonceLen])
		if seen[nonce] {
			t.Fatalf("nonce repeated after %d seals", i)
		}
		seen[nonce] = true
		if first == nil {
			first = sealed
		} else if bytes.Equal(first, sealed) {
			t.Fatal("sealing the same value twice gave the same ciphertext")
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		secret  []byte
		purpose string
	}{
		{"short secret", secretA[:31], PurposeMailBody},
		{"no secret", nil, PurposeMailBody},
		{"no purpose", secretA, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.secret, c.purpose); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
