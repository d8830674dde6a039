// Package auth is authql's domain: accounts, sessions and the rotation of
// refresh tokens. It knows nothing of GraphQL or HTTP: callers pass what they
// know of the client (Client) and of the caller (Principal), and get typed
// errors back (errors.go).
//
// One file per flow: signup_login.go, refresh.go, sessions.go (logout,
// revocation, listing and the session cap), password.go (password changes and
// checks), authenticate.go; limits.go takes and refunds rate-limit attempts,
// audit.go writes the trail and prunes. This file holds what they share.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/ratelimit"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/token"
	"github.com/authql/authql/models"
)

// Client is what the transport knows of the caller's client.
type Client struct {
	IP        string
	UserAgent string
	// Network keys the per-client limits: the IPv4 address, or the IPv6
	// network (a /64 by default) of IP. IP is what audit and sessions keep.
	Network string
}

// limitKey is what the per-client limits count by: Network, or the address
// itself for a client whose network nobody worked out.
func (c Client) limitKey() string {
	if c.Network != "" {
		return c.Network
	}
	return c.IP
}

// Principal is a caller proven by a valid access token of a live session.
type Principal struct {
	UserID    string
	SessionID string
	// User is the user as the check read it with the session, when it did
	// (without the password hash): what Me answers.
	User *models.User
}

// Payload is the answer to every operation that issues tokens.
type Payload struct {
	AccessToken           string
	RefreshToken          *string
	TokenType             string
	ExpiresIn             int
	AccessTokenExpiresAt  time.Time
	RefreshTokenExpiresAt time.Time
	// UserID always; User when the operation already had it loaded.
	UserID string
	User   *models.User
}

// SessionView is one session as its owner sees it.
type SessionView struct {
	ID         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	UserAgent  *string
	IPAddress  *string
	Current    bool
}

// Options are the service's policies.
type Options struct {
	RefreshTTL    time.Duration
	SessionMaxAge time.Duration
	ReuseGrace    time.Duration
	// MaxSessionsPerUser bounds a user's live sessions: starting one more
	// revokes the least recently used. Zero means DefaultMaxSessionsPerUser.
	MaxSessionsPerUser int
	Limits             Limits
	// MFA is what the second factor needs (NewMFAOptions).
	MFA MFAOptions
	// Mail is account mail (verification, reset); a nil Mailer turns it off.
	Mail MailOptions
	// Observer counts events for metrics; nil counts nothing.
	Observer Observer
}

// DefaultMaxSessionsPerUser is the session cap when Options sets none.
const DefaultMaxSessionsPerUser = 100

// Service implements the operations. It is safe for concurrent use.
type Service struct {
	store   *store.Store
	tokens  *token.Service
	hasher  *password.Hasher
	limiter ratelimit.Limiter
	opts    Options
	log     *slog.Logger
	// now is the store's clock: every time the service reads is written, or
	// compared with a stored one, so both agree on it to the millisecond.
	now func() time.Time
	// emailKey hashes email tokens; resets works off password reset requests
	// (nil while mail is off).
	emailKey []byte
	resets   *resetWorkers
}

// New wires a Service. limiter may be ratelimit.Disabled{}. The service reads
// the time from st (store.WithClock), tokens from its own Config.Now: give
// both the same clock.
func New(st *store.Store, tokens *token.Service, hasher *password.Hasher, limiter ratelimit.Limiter, opts Options, log *slog.Logger) *Service {
	if opts.MaxSessionsPerUser <= 0 {
		opts.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if opts.Observer == nil {
		opts.Observer = NopObserver{}
	}
	s := &Service{store: st, tokens: tokens, hasher: hasher, limiter: limiter, opts: opts, log: log, now: st.Now,
		emailKey: emailTokenKey(opts.Mail.Secret)}
	if opts.Mail.Mailer != nil {
		s.resets = startResetWorkers(s, opts.Mail.ResetWorkers, opts.Mail.ResetQueue)
	}
	return s
}

// User returns a user by id.
func (s *Service) User(ctx context.Context, id string) (*models.User, error) {
	u, err := s.store.UserByID(ctx, id)
	return u, s.fail(notFoundAs(err, ErrUnauthenticated))
}

// Me is the caller's user: the one read with the session by Authenticate,
// or read now for a principal that came without it.
func (s *Service) Me(ctx context.Context, p Principal) (*models.User, error) {
	if p.User != nil && p.User.ID == p.UserID {
		return p.User, nil
	}
	return s.User(ctx, p.UserID)
}

// signRefresh signs claims and returns the token with the row that stores its hash.
func (s *Service) signRefresh(c token.RefreshClaims, parent *string) (string, *models.RefreshToken, error) {
	raw, err := s.tokens.SignRefresh(c)
	if err != nil {
		return "", nil, err
	}
	return raw, &models.RefreshToken{
		ID: c.ID, SessionID: c.SessionID, ParentID: parent, Hash: s.tokens.HashRefresh(raw),
		IssuedAt: c.IssuedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC(),
	}, nil
}

// payload answers a token pair of the session: the refresh token issued and a
// new access token, whose email_verified and amr claims come from the user and
// the session, as the operation read them.
func (s *Service) payload(ctx context.Context, i issued, u *models.User) (*Payload, error) {
	sess := i.sess
	facts := token.Facts{EmailVerified: u.EmailVerified, AMR: strings.Fields(sess.AMR)}
	access, exp, err := s.tokens.IssueAccess(sess.UserID, sess.ID, sess.ExpiresAt, facts)
	if err != nil {
		return nil, s.fail(err)
	}
	return &Payload{
		AccessToken: access, RefreshToken: &i.refresh, TokenType: "Bearer",
		ExpiresIn:            int(exp.Sub(s.now()).Round(time.Second) / time.Second),
		AccessTokenExpiresAt: exp.UTC(), RefreshTokenExpiresAt: i.exp.UTC(),
		UserID: sess.UserID, User: u,
	}, nil
}

// fail turns infrastructure errors into domain errors, keeping domain errors as
// they are. Unknown errors pass through for the presenter to hide and log.
func (s *Service) fail(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, password.ErrBusy):
		return ErrBusy
	}
	return err
}

func notFoundAs(err, as error) error {
	if errors.Is(err, store.ErrNotFound) {
		return as
	}
	return err
}

// clip keeps what the client sent as valid UTF-8 of at most n bytes; nil when empty.
func clip(s string, n int) *string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "")
	if s == "" {
		return nil
	}
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return &s
}
