// Package password hashes and verifies passwords with argon2id, stored in the
// PHC string format, and enforces the password policy. Hashing is the whole cost
// of a login and holds tens of MiB while it runs, so a Hasher bounds how many
// hashes run at once: memory stays flat however many logins are in flight.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Policy bounds, in characters (not bytes). No composition rules, never truncated.
const (
	MinLength = 8
	MaxLength = 1024
)

var (
	// ErrTooShort and ErrTooLong are the policy violations.
	ErrTooShort = fmt.Errorf("password must be at least %d characters", MinLength)
	ErrTooLong  = fmt.Errorf("password must be at most %d characters", MaxLength)
	// ErrInvalidUTF8 refuses bytes that are not text: a password must be typeable.
	ErrInvalidUTF8 = errors.New("password must be valid UTF-8")
	// ErrMismatch is a wrong password.
	ErrMismatch = errors.New("password does not match")
	// ErrMalformedHash is a stored hash this package cannot read.
	ErrMalformedHash = errors.New("malformed password hash")
	// ErrBusy is returned when no hasher became free within the queue timeout.
	ErrBusy = errors.New("password hashing is saturated")
)

// Validate checks the policy: 8 to 1024 characters, nothing else.
func Validate(pw string) error {
	if !utf8.ValidString(pw) {
		return ErrInvalidUTF8
	}
	switch n := utf8.RuneCountInString(pw); {
	case n < MinLength:
		return ErrTooShort
	case n > MaxLength:
		return ErrTooLong
	}
	return nil
}

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams are OWASP's first recommendation for argon2id (19 MiB, t=2, p=1).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Hasher hashes and verifies with bounded concurrency.
type Hasher struct {
	params  Params
	slots   chan struct{}
	timeout time.Duration
	dummy   string
}

// NewHasher returns a Hasher running at most concurrency hashes at once (0 means
// one per CPU); a caller waits at most queueTimeout for a free slot.
func NewHasher(p Params, concurrency int, queueTimeout time.Duration) *Hasher {
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency), timeout: queueTimeout}
	// A real hash of a random password: verifying against it costs exactly what a
	// real verification costs, which is what an unknown email must spend.
	h.dummy = encode(p, randomBytes(p.SaltLen), argon2.IDKey(randomBytes(32), randomBytes(p.SaltLen), p.Time, p.Memory, p.Threads, p.KeyLen))
	return h
}

func (h *Hasher) acquire(ctx context.Context) (func(), error) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	default:
	}
	timer := time.NewTimer(h.timeout)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	case <-timer.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Hash returns the PHC string of pw with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	salt := randomBytes(h.params.SaltLen)
	key := argon2.IDKey([]byte(pw), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return encode(h.params, salt, key), nil
}

// Verify checks pw against a PHC hash. needsRehash reports that the hash was
// made with other parameters than the Hasher's, so the caller can upgrade it.
func (h *Hasher) Verify(ctx context.Context, pw, phc string) (needsRehash bool, err error) {
	p, salt, want, err := decode(phc)
	if err != nil {
		return false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, ErrMismatch
	}
	return p != h.params, nil
}

// VerifyDummy spends one verification on nothing: a login for an unknown email
// takes as long as one with a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, err := h.Verify(ctx, pw, h.dummy)
	if errors.Is(err, ErrMismatch) {
		return nil
	}
	return err
}

func randomBytes(n uint32) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("password: crypto/rand failed: " + err.Error())
	}
	return b
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses "$argon2id$v=19$m=19456,t=2,p=1$salt$key".
func decode(phc string) (Params, []byte, []byte, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Params{}, nil, nil, ErrMalformedHash
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, ErrMalformedHash
			}
			p.Threads = uint8(n)
		default:
			return Params{}, nil, nil, ErrMalformedHash
		}
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	// Bounds keep a corrupted row from asking for more than 128 MiB or for no work.
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 128 ||
		p.Memory < 8 || p.Memory > 1<<17 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
