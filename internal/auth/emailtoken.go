package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/token"
	"github.com/authql/authql/models"
)

// Kinds of email token, as stored, and of the mail that carries each.
const (
	MailVerifyEmail   = "verify_email"
	MailPasswordReset = "password_reset"
)

// Mailer queues account mail. auth decides when a mail goes and what token
// it carries; the Mailer knows templates, links and transports, so that this
// package knows nothing of SMTP.
type Mailer interface {
	// Queue queues the mail of kind carrying token to the address on q, the
	// transaction that stores the token: both commit or neither. now is the
	// store's time, expires the token's end (an undelivered mail dies with it).
	Queue(ctx context.Context, q *store.Queries, kind, to, token string, now, expires time.Time) error
	// Notify asks for delivery now, after the transaction has committed.
	Notify()
}

// MailOptions configure account mail.
type MailOptions struct {
	// Mailer queues the mail; nil turns account mail off (AUTHQL_MAIL=off).
	Mailer    Mailer
	VerifyTTL time.Duration
	ResetTTL  time.Duration
	// Secret is the server secret, from which the key that hashes email
	// tokens is derived.
	Secret []byte
	// ResetWorkers and ResetQueue size the pool that does the work of a
	// password reset request after its answer. Zero takes the defaults.
	ResetWorkers int
	ResetQueue   int
}

// emailTokenLabel derives the key that hashes email tokens from the server
// secret, apart from the one that hashes refresh tokens (the secret itself):
// a hash of one kind is never the hash of a value of the other.
const emailTokenLabel = "authql email token hash v1"

// emailTokenKey derives the hash key of email tokens.
func emailTokenKey(secret []byte) []byte {
	// HKDF with SHA-256 fails only for an output longer than 255 blocks.
	key, _ := hkdf.Key(sha256.New, secret, nil, emailTokenLabel, 32)
	return key
}

// newEmailToken is 256 random bits, base64url without padding: nothing to
// guess, and safe in a URL fragment as it is.
func newEmailToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashEmailToken is the only form of an email token that is stored.
func (s *Service) hashEmailToken(raw string) string {
	m := hmac.New(sha256.New, s.emailKey)
	m.Write([]byte(raw))
	return hex.EncodeToString(m.Sum(nil))
}

// mailToken creates a token of kind for u and queues the mail that carries
// it, both on q.
func (s *Service) mailToken(ctx context.Context, q *store.Queries, u *models.User, kind string, ttl time.Duration) error {
	now := s.now()
	raw := newEmailToken()
	t := &models.EmailToken{
		ID: token.NewID(), UserID: u.ID, Kind: kind, Hash: s.hashEmailToken(raw),
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := q.CreateEmailToken(ctx, t); err != nil {
		return err
	}
	return s.opts.Mail.Mailer.Queue(ctx, q, kind, u.Email, raw, now, t.ExpiresAt)
}

// spendEmailToken spends a token of kind of the user in the transaction of q;
// ErrInvalidToken unless it is unused, not voided and unexpired.
func (s *Service) spendEmailToken(ctx context.Context, q *store.Queries, hash, kind, userID string) error {
	ok, err := q.ConsumeEmailToken(ctx, hash, kind, userID, s.now())
	if err != nil {
		return err
	}
	if !ok {
		return ErrInvalidToken
	}
	return nil
}

// findEmailToken looks a presented token up, for its user: ErrInvalidToken
// when it cannot work (unknown, of the other kind, used, voided or expired).
// The spend in the transaction decides again; this spares that transaction,
// and a password hash, to a token that is dead already.
func (s *Service) findEmailToken(ctx context.Context, raw, kind string) (*models.EmailToken, string, error) {
	if raw == "" || len(raw) > 128 {
		return nil, "", ErrInvalidToken
	}
	hash := s.hashEmailToken(raw)
	t, err := s.store.EmailTokenByHash(ctx, hash)
	if err != nil {
		return nil, "", s.fail(notFoundAs(err, ErrInvalidToken))
	}
	if t.Kind != kind || t.UsedAt != nil || t.VoidedAt != nil || !s.now().Before(t.ExpiresAt) {
		return nil, "", ErrInvalidToken
	}
	return t, hash, nil
}
