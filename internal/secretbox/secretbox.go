// Package secretbox seals small secrets that authql must store but must be
// able to read back (TOTP secrets, queued mail bodies): AES-256-GCM under a
// key derived from the server secret with HKDF-SHA-256, one key per purpose.
//
// A sealed value is
//
//	version (1 byte) || nonce (12 bytes, random) || ciphertext || tag (16 bytes)
//
// The version names the key generation that sealed it, so that the server
// secret can rotate later: a new generation gets a new version byte and values
// sealed under the old one stay readable while they are re-sealed. The
// version byte is authenticated with the associated data.
//
// Associated data binds a value to where it is stored (a row id, say): a
// ciphertext copied into another row, or a purpose's ciphertext presented
// under another purpose, does not open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Purpose labels: the info of the HKDF derivation. Each purpose has a key of
// its own, so a value sealed for one can never be opened as another.
const (
	PurposeTOTPSecret = "authql totp secret v1"
	PurposeMailBody   = "authql mail body v1"
)

// MinSecretLen is the shortest server secret accepted, as for token signing.
const MinSecretLen = 32

// version1 is the only key generation so far: HKDF-SHA-256 of the server
// secret, no salt, the purpose as info.
const version1 byte = 1

const (
	nonceLen = 12
	tagLen   = 16
)

// ErrOpen is every failure to open: a wrong key, purpose or associated data,
// a tampered or truncated value, an unknown version. The causes are not told
// apart, which would only help an attacker.
var ErrOpen = errors.New("secretbox: cannot open sealed value")

// Box seals and opens values for one purpose. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New derives the purpose's key from the server secret.
func New(secret []byte, purpose string) (*Box, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("secretbox: the server secret must be at least %d bytes", MinSecretLen)
	}
	if purpose == "" {
		return nil, errors.New("secretbox: a purpose label is required")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("secretbox: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to ad under a fresh random nonce. Random
// 96-bit nonces keep collisions negligible up to 2^32 values per key, far
// beyond what one server secret seals.
func (b *Box) Seal(plaintext, ad []byte) []byte {
	out := make([]byte, 1+nonceLen, 1+nonceLen+len(plaintext)+tagLen)
	out[0] = version1
	// crypto/rand.Read never returns an error: it crashes the program rather
	// than hand out a predictable nonce.
	_, _ = rand.Read(out[1:])
	return b.aead.Seal(out, out[1:], plaintext, associated(version1, ad))
}

// Open decrypts a value sealed by Seal for the same purpose, secret and ad.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1+nonceLen+tagLen || sealed[0] != version1 {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+nonceLen], sealed[1+nonceLen:], associated(sealed[0], ad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// associated authenticates the version byte with the caller's data, so that a
// value cannot be relabelled as another generation.
func associated(version byte, ad []byte) []byte {
	out := make([]byte, 0, 1+len(ad))
	return append(append(out, version), ad...)
}
