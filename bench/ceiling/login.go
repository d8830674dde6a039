package ceiling

import (
	"context"
	"runtime"
	"time"

	"github.com/authql/authql/internal/password"
)

// Hasher is the login ceiling: the argon2id verification of one password
// (authql's parameters and Hasher), looped on every core.
type Hasher struct {
	h        *password.Hasher
	pw, hash string
}

// NewHasher hashes a password to verify with p (password.DefaultParams is
// what authql runs with).
func NewHasher(ctx context.Context, p password.Params) (*Hasher, error) {
	h := password.NewHasher(p, 0, time.Minute)
	const pw = "ceiling-password-correct-horse"
	hash, err := h.Hash(ctx, pw)
	return &Hasher{h: h, pw: pw, hash: hash}, err
}

// Workers is how many verifications the ceiling runs at once: one per core.
func Workers() int { return runtime.GOMAXPROCS(0) }

// Verify runs one verification.
func (h *Hasher) Verify(ctx context.Context) error {
	_, err := h.h.Verify(ctx, h.pw, h.hash)
	return err
}
