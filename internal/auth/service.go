// Package auth is authql's domain: accounts, sessions and the rotation of
// refresh tokens. It knows nothing of GraphQL or HTTP: callers pass what they
// know of the client (Client) and of the caller (Principal), and get typed
// errors back (errors.go).
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

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
}

// DefaultMaxSessionsPerUser is the session cap when Options sets none.
const DefaultMaxSessionsPerUser = 100

// Limits are the rate-limit rules; a zero rule is not enforced.
type Limits struct {
	LoginAccountIP ratelimit.Rule
	LoginIP        ratelimit.Rule
	LoginAccount   ratelimit.Rule
	Signup         ratelimit.Rule
	Refresh        ratelimit.Rule
	Logout         ratelimit.Rule
	ChangePassword ratelimit.Rule
}

// Service implements the operations. It is safe for concurrent use.
type Service struct {
	store   *store.Store
	tokens  *token.Service
	hasher  *password.Hasher
	limiter ratelimit.Limiter
	opts    Options
	log     *slog.Logger
	now     func() time.Time
}

// New wires a Service. limiter may be ratelimit.Disabled{}.
func New(st *store.Store, tokens *token.Service, hasher *password.Hasher, limiter ratelimit.Limiter, opts Options, log *slog.Logger) *Service {
	if opts.MaxSessionsPerUser <= 0 {
		opts.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	return &Service{store: st, tokens: tokens, hasher: hasher, limiter: limiter, opts: opts, log: log, now: store.Now}
}

// Signup creates an account and its first session.
func (s *Service) Signup(ctx context.Context, c Client, email, pw string) (*Payload, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := validatePassword("password", pw); err != nil {
		return nil, err
	}
	if err := s.take(ctx, c, s.opts.Limits.Signup, c.limitKey(), nil); err != nil {
		return nil, err
	}
	// A cheap look first spares an argon2id hash for a taken address; the unique
	// index still decides between racing signups.
	if _, err := s.store.UserByEmail(ctx, email); err == nil {
		return nil, ErrEmailTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, s.fail(err)
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return nil, s.fail(err)
	}
	now := s.now()
	u := &models.User{ID: token.NewID(), Email: email, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	p, err := s.startSession(ctx, c, u, EventSignup, func(q *store.Queries) error { return q.CreateUser(ctx, u) })
	if errors.Is(err, store.ErrDuplicate) {
		return nil, ErrEmailTaken
	}
	return p, err
}

// Login checks credentials and starts a session. Unknown email and wrong
// password are one error, and both spend one password verification.
func (s *Service) Login(ctx context.Context, c Client, email, pw string) (*Payload, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := validatePassword("password", pw); err != nil {
		return nil, err
	}
	// Attempts are taken before the password is checked and given back when it
	// was right, so only failures count and racing attempts cannot overshoot.
	if err := s.take(ctx, c, s.opts.Limits.LoginIP, c.limitKey(), nil); err != nil {
		return nil, err
	}
	accountKey := email + "\x00" + c.limitKey()
	// A refusal for the account shows in that account's own audit trail.
	owner := func() string {
		if u, err := s.store.UserByEmail(ctx, email); err == nil {
			return u.ID
		}
		return ""
	}
	if err := s.take(ctx, c, s.opts.Limits.LoginAccountIP, accountKey, owner); err != nil {
		s.refund(ctx, s.opts.Limits.LoginIP, c.limitKey())
		return nil, err
	}
	// Successes per account, from anywhere, are bounded too: one account must
	// not keep the hashers busy and mint sessions without end. Failures count
	// above, so they give this one back.
	if err := s.take(ctx, c, s.opts.Limits.LoginAccount, email, owner); err != nil {
		s.refund(ctx, s.opts.Limits.LoginAccountIP, accountKey)
		s.refund(ctx, s.opts.Limits.LoginIP, c.limitKey())
		return nil, err
	}
	u, err := s.checkPassword(ctx, c, email, pw)
	if err != nil {
		s.refund(ctx, s.opts.Limits.LoginAccount, email)
	}
	if !errors.Is(err, ErrInvalidCredentials) {
		// Only wrong credentials count: a success, or a failure of ours (busy
		// hashers, an unreachable database), gives the attempt back.
		s.refund(ctx, s.opts.Limits.LoginAccountIP, accountKey)
		s.refund(ctx, s.opts.Limits.LoginIP, c.limitKey())
	}
	if err != nil {
		return nil, err
	}
	p, err := s.startSession(ctx, c, u, EventLogin, credentialsUnchanged(ctx, u))
	if errors.Is(err, ErrInvalidCredentials) {
		s.auditBestEffort(ctx, Event{Type: EventLoginFailed, Client: c, UserID: u.ID, Detail: "password_changed"})
	}
	return p, err
}

// credentialsUnchanged refuses, in the transaction that creates a login's
// session, a login whose password was changed after it was read and verified:
// the change revoked every session it could see, and this one would escape it.
// The locked read makes the check and the session one step for a change.
func credentialsUnchanged(ctx context.Context, u *models.User) func(q *store.Queries) error {
	return func(q *store.Queries) error {
		v, err := q.LockCredentials(ctx, u.ID)
		if err != nil {
			return notFoundAs(err, ErrInvalidCredentials)
		}
		if v != u.CredentialsVersion {
			return ErrInvalidCredentials
		}
		return nil
	}
}

// checkPassword finds the account of email and checks its password.
func (s *Service) checkPassword(ctx context.Context, c Client, email, pw string) (*models.User, error) {
	u, err := s.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, s.fail(err)
		}
		s.auditBestEffort(ctx, Event{Type: EventLoginFailed, Client: c, Detail: "unknown_email"})
		return nil, ErrInvalidCredentials
	case err != nil:
		return nil, s.fail(err)
	}
	rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrMismatch) {
		s.auditBestEffort(ctx, Event{Type: EventLoginFailed, Client: c, UserID: u.ID, Detail: "wrong_password"})
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, s.fail(err)
	}
	if rehash {
		// Parameters were raised since this hash was made: upgrade it now that
		// the password is known, unless a change replaced it meanwhile. Failing
		// to is not the caller's problem.
		if h, err := s.hasher.Hash(ctx, pw); err == nil {
			if _, err := s.store.RehashPassword(ctx, u.ID, u.PasswordHash, h, s.now()); err != nil {
				s.log.WarnContext(ctx, "password rehash failed", "err", err)
			}
		}
	}
	return u, nil
}

// startSession creates a session of u with its first refresh token and answers
// the token pair. In the same transaction it first runs what entitles u to the
// session: the signup that creates u, or the check that the credentials a
// login verified are still u's; then it makes room under the session cap.
func (s *Service) startSession(ctx context.Context, c Client, u *models.User, event string, entitle func(q *store.Queries) error) (*Payload, error) {
	now := s.now()
	sess := &models.Session{
		ID: token.NewID(), UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(s.opts.SessionMaxAge).Truncate(time.Second),
		UserAgent: clip(c.UserAgent, 512), IPAddress: clip(c.IP, 45),
	}
	claims := s.tokens.NewRefresh(u.ID, sess.ID, s.opts.RefreshTTL, sess.ExpiresAt)
	refresh, row, err := s.signRefresh(claims, nil)
	if err != nil {
		return nil, s.fail(err)
	}
	sess.CurrentTokenID = row.ID
	// The rows are built once; a transaction that runs again inserts them as
	// they are, since the attempt before left nothing behind.
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		if err := entitle(q); err != nil {
			return err
		}
		if err := s.makeRoom(ctx, q, c, u.ID, now); err != nil {
			return err
		}
		if err := q.CreateSession(ctx, sess, row); err != nil {
			return err
		}
		return s.audit(ctx, q, Event{Type: event, Client: c, UserID: u.ID, SessionID: sess.ID})
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return s.payload(sess, u, refresh, row.ExpiresAt)
}

// makeRoom revokes the least recently used live sessions of a user at the
// session cap, so that one more leaves the user at the cap, each revocation
// audited with the session's start. The user row is locked first: on MySQL the
// session starts of one user then count and evict one after another, and
// racing logins cannot overshoot (SQLite's single writer serialises them
// already). The count locks the sessions it counts, so every transaction that
// locks a user and its sessions takes the user first.
func (s *Service) makeRoom(ctx context.Context, q *store.Queries, c Client, userID string, now time.Time) error {
	if _, err := q.LockCredentials(ctx, userID); err != nil {
		return err
	}
	n, err := q.CountLiveSessions(ctx, userID, now)
	if err != nil || n < int64(s.opts.MaxSessionsPerUser) {
		return err
	}
	ids, err := q.LeastRecentlyUsedSessions(ctx, userID, now, int(n)-s.opts.MaxSessionsPerUser+1)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := q.RevokeSession(ctx, userID, id, ReasonEvicted, now); err != nil {
			return err
		}
		if err := s.audit(ctx, q, Event{Type: EventSessionRevoked, Client: c, UserID: userID, SessionID: id, Detail: "session_limit"}); err != nil {
			return err
		}
	}
	return nil
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

// payload answers a token pair of the session: the refresh token given and a
// new access token. u is the user when the operation has it loaded already.
func (s *Service) payload(sess *models.Session, u *models.User, refresh string, refreshExp time.Time) (*Payload, error) {
	access, exp, err := s.tokens.IssueAccess(sess.UserID, sess.ID, sess.ExpiresAt)
	if err != nil {
		return nil, s.fail(err)
	}
	return &Payload{
		AccessToken: access, RefreshToken: &refresh, TokenType: "Bearer",
		ExpiresIn:            int(exp.Sub(s.now()).Round(time.Second) / time.Second),
		AccessTokenExpiresAt: exp.UTC(), RefreshTokenExpiresAt: refreshExp.UTC(),
		UserID: sess.UserID, User: u,
	}, nil
}

// Refresh rotates a refresh token: the presented token is consumed and a new
// pair returned. The immediate predecessor of the current token, presented
// again within the grace window, gets the current token back (racing tabs
// converge on one token); any other used token is reuse and revokes the session.
func (s *Service) Refresh(ctx context.Context, c Client, raw string) (*Payload, error) {
	if raw == "" {
		return nil, ErrInvalidRefreshToken
	}
	if err := s.take(ctx, c, s.opts.Limits.Refresh, c.limitKey(), nil); err != nil {
		return nil, err
	}
	claims, err := s.tokens.VerifyRefresh(raw)
	if err != nil {
		return nil, ErrInvalidRefreshToken
	}
	hash := s.tokens.HashRefresh(raw)
	res, err := store.InTxValue(ctx, s.store, func(q *store.Queries) (refreshResult, error) {
		return s.refreshTx(ctx, q, c, claims, hash)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidRefreshToken) {
			return nil, err
		}
		return nil, s.fail(err)
	}
	if res.outcome == reuseDetected {
		s.log.WarnContext(ctx, "refresh token reuse detected; session revoked", "session", res.sess.ID, "user", res.sess.UserID, "ip", c.IP)
		return nil, ErrInvalidRefreshToken
	}
	return s.payload(res.sess, nil, res.refresh, res.refreshExp)
}

// refreshOutcome is what a refresh transaction did.
type refreshOutcome int

const (
	rotated       refreshOutcome = iota + 1 // consumed the current token, issued its successor
	replayed                                // predecessor within the grace window: the current token again
	reuseDetected                           // any other spent token: the session is revoked
)

// refreshResult is the outcome of a refresh transaction with what to answer.
type refreshResult struct {
	outcome    refreshOutcome
	sess       *models.Session
	refresh    string
	refreshExp time.Time
}

// refreshTx is one attempt at the refresh transaction. Its result is all it
// leaves: an attempt the database aborts runs again from the start.
func (s *Service) refreshTx(ctx context.Context, q *store.Queries, c Client, claims *token.RefreshClaims, hash string) (refreshResult, error) {
	// The session row is locked first and every rotation of the session takes
	// the same lock: they run one after another, never interleaved.
	sess, err := q.SessionByID(ctx, claims.SessionID)
	if err != nil {
		return refreshResult{}, notFoundAs(err, ErrInvalidRefreshToken)
	}
	now := s.now()
	if sess.UserID != claims.Subject || sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) {
		return refreshResult{}, ErrInvalidRefreshToken
	}
	presented, err := q.RefreshTokenByID(ctx, claims.ID)
	if err != nil {
		return refreshResult{}, notFoundAs(err, ErrInvalidRefreshToken)
	}
	if presented.SessionID != sess.ID || subtle.ConstantTimeCompare([]byte(presented.Hash), []byte(hash)) != 1 {
		return refreshResult{}, ErrInvalidRefreshToken
	}
	if presented.UsedAt == nil && presented.ID == sess.CurrentTokenID {
		refresh, exp, err := s.rotate(ctx, q, sess, presented, now)
		if err != nil {
			return refreshResult{}, err
		}
		if err := s.audit(ctx, q, Event{Type: EventRefresh, Client: c, UserID: sess.UserID, SessionID: sess.ID}); err != nil {
			return refreshResult{}, err
		}
		return refreshResult{outcome: rotated, sess: sess, refresh: refresh, refreshExp: exp}, nil
	}
	current, err := q.RefreshTokenByID(ctx, sess.CurrentTokenID)
	if err != nil {
		return refreshResult{}, err
	}
	inGrace := presented.UsedAt != nil && current.UsedAt == nil &&
		current.ParentID != nil && *current.ParentID == presented.ID &&
		now.Sub(*presented.UsedAt) <= s.opts.ReuseGrace && now.Before(current.ExpiresAt)
	if inGrace {
		refresh, exp, err := s.rederive(sess, current)
		if err != nil {
			return refreshResult{}, err
		}
		return refreshResult{outcome: replayed, sess: sess, refresh: refresh, refreshExp: exp}, nil
	}
	// Reuse: the revocation and its event commit although the caller is refused.
	if _, err := q.RevokeSession(ctx, sess.UserID, sess.ID, ReasonReuse, now); err != nil {
		return refreshResult{}, err
	}
	if err := s.audit(ctx, q, Event{Type: EventReuseDetected, Client: c, UserID: sess.UserID, SessionID: sess.ID}); err != nil {
		return refreshResult{}, err
	}
	return refreshResult{outcome: reuseDetected, sess: sess}, nil
}

// rotate consumes the current token of a locked session and issues its successor.
func (s *Service) rotate(ctx context.Context, q *store.Queries, sess *models.Session, current *models.RefreshToken, now time.Time) (string, time.Time, error) {
	ok, err := q.MarkTokenUsed(ctx, current.ID, now)
	if err != nil {
		return "", time.Time{}, err
	}
	if !ok {
		// Unreachable while the session lock holds; refuse rather than fork the family.
		return "", time.Time{}, ErrInvalidRefreshToken
	}
	claims := s.tokens.NewRefresh(sess.UserID, sess.ID, s.opts.RefreshTTL, sess.ExpiresAt)
	raw, row, err := s.signRefresh(claims, &current.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := q.InsertRefreshToken(ctx, row, now); err != nil {
		return "", time.Time{}, err
	}
	sess.CurrentTokenID, sess.LastUsedAt = row.ID, now
	return raw, row.ExpiresAt, nil
}

// rederive signs the stored claims of the session's current token again: HMAC
// is deterministic, so this is the very token issued before, never a sibling.
func (s *Service) rederive(sess *models.Session, current *models.RefreshToken) (string, time.Time, error) {
	claims := token.RefreshClaims{
		Subject: sess.UserID, SessionID: sess.ID, ID: current.ID,
		IssuedAt: jwt.NewNumericDate(current.IssuedAt), ExpiresAt: jwt.NewNumericDate(current.ExpiresAt),
	}
	raw, err := s.tokens.SignRefresh(claims)
	if err != nil {
		return "", time.Time{}, err
	}
	if subtle.ConstantTimeCompare([]byte(s.tokens.HashRefresh(raw)), []byte(current.Hash)) != 1 {
		return "", time.Time{}, errors.New("auth: re-derived refresh token does not match its stored hash (server secret or issuer changed?)")
	}
	return raw, current.ExpiresAt, nil
}

// Logout revokes the session of a genuine refresh token. A token of a session
// already revoked, expired or pruned logs out all the same: logout is idempotent.
func (s *Service) Logout(ctx context.Context, c Client, raw string) error {
	if raw == "" {
		return ErrInvalidRefreshToken
	}
	if err := s.take(ctx, c, s.opts.Limits.Logout, c.limitKey(), nil); err != nil {
		return err
	}
	claims, err := s.tokens.VerifyRefreshIgnoringExpiry(raw)
	if err != nil {
		return ErrInvalidRefreshToken
	}
	_, err = s.revoke(ctx, c, claims.Subject, claims.SessionID, EventLogout, ReasonLogout)
	return err
}

// LogoutAll revokes every session of the caller.
func (s *Service) LogoutAll(ctx context.Context, c Client, p Principal) error {
	now := s.now()
	return s.fail(s.store.InTx(ctx, func(q *store.Queries) error {
		if _, err := q.RevokeUserSessions(ctx, p.UserID, "", ReasonLogoutAll, now); err != nil {
			return err
		}
		return s.audit(ctx, q, Event{Type: EventLogoutAll, Client: c, UserID: p.UserID, SessionID: p.SessionID})
	}))
}

// RevokeSession revokes one of the caller's sessions; ErrNotFound for any id
// that is not the caller's, so other users' sessions are never revealed.
func (s *Service) RevokeSession(ctx context.Context, c Client, p Principal, id string) error {
	found, err := s.revoke(ctx, c, p.UserID, id, EventSessionRevoked, ReasonRevoked)
	if err == nil && !found {
		return ErrNotFound
	}
	return err
}

// revoke revokes session id of userID and reports whether the user has such a
// session (one already revoked counts). Revoking a revoked session writes
// nothing, neither the session nor an event: logout is idempotent, and the
// trail shows each revocation once.
func (s *Service) revoke(ctx context.Context, c Client, userID, id, event, reason string) (bool, error) {
	if id == "" || len(id) > 64 {
		return false, nil
	}
	st, err := s.store.SessionStateByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, s.fail(err)
	case st.UserID != userID:
		return false, nil
	case st.RevokedAt != nil:
		return true, nil
	}
	now := s.now()
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		revoked, err := q.RevokeSession(ctx, userID, id, reason, now)
		if err != nil || !revoked {
			// Not revoked: a racing call did it, and wrote its event.
			return err
		}
		return s.audit(ctx, q, Event{Type: event, Client: c, UserID: userID, SessionID: id})
	})
	return true, s.fail(err)
}

// ChangePassword checks the current password, sets the new one, revokes every
// other session of the user and rotates the caller's own session.
func (s *Service) ChangePassword(ctx context.Context, c Client, p Principal, current, next string) (*Payload, error) {
	if err := validatePassword("currentPassword", current); err != nil {
		return nil, err
	}
	if err := validatePassword("newPassword", next); err != nil {
		return nil, err
	}
	if err := s.take(ctx, c, s.opts.Limits.ChangePassword, p.UserID, func() string { return p.UserID }); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, s.fail(notFoundAs(err, ErrUnauthenticated))
	}
	if _, err := s.hasher.Verify(ctx, current, u.PasswordHash); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			s.auditBestEffort(ctx, Event{Type: EventPasswordChangeFailed, Client: c, UserID: u.ID, SessionID: p.SessionID, Detail: "wrong_password"})
			return nil, ErrInvalidCredentials
		}
		return nil, s.fail(err)
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return nil, s.fail(err)
	}
	res, err := store.InTxValue(ctx, s.store, func(q *store.Queries) (refreshResult, error) {
		// The user row before any of its sessions, the order of a session
		// start (see makeRoom): the reverse would deadlock with a login.
		if _, err := q.LockCredentials(ctx, u.ID); err != nil {
			return refreshResult{}, notFoundAs(err, ErrUnauthenticated)
		}
		sess, err := q.SessionByID(ctx, p.SessionID)
		if err != nil {
			return refreshResult{}, notFoundAs(err, ErrUnauthenticated)
		}
		now := s.now()
		if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) {
			return refreshResult{}, ErrUnauthenticated
		}
		// Only if the password verified above is still the current one: of two
		// racing changes, the second is refused instead of silently winning.
		changed, err := q.ChangePassword(ctx, u.ID, u.CredentialsVersion, hash, now)
		if err != nil {
			return refreshResult{}, err
		}
		if !changed {
			return refreshResult{}, ErrInvalidCredentials
		}
		if _, err := q.RevokeUserSessions(ctx, u.ID, sess.ID, ReasonPasswordChange, now); err != nil {
			return refreshResult{}, err
		}
		currentToken, err := q.RefreshTokenByID(ctx, sess.CurrentTokenID)
		if err != nil {
			return refreshResult{}, err
		}
		refresh, exp, err := s.rotate(ctx, q, sess, currentToken, now)
		if err != nil {
			return refreshResult{}, err
		}
		if err := s.audit(ctx, q, Event{Type: EventPasswordChanged, Client: c, UserID: u.ID, SessionID: sess.ID}); err != nil {
			return refreshResult{}, err
		}
		return refreshResult{outcome: rotated, sess: sess, refresh: refresh, refreshExp: exp}, nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	u.PasswordHash = hash
	u.CredentialsVersion++
	return s.payload(res.sess, u, res.refresh, res.refreshExp)
}

// Authenticate verifies an access token and that its session is still live:
// revocation takes effect at once, for this and every other instance. The
// session check is one primary-key read.
func (s *Service) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, ErrUnauthenticated
	}
	claims, err := s.tokens.VerifyAccess(raw)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	st, err := s.store.SessionStateByID(ctx, claims.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, s.fail(err)
	}
	if st.RevokedAt != nil || st.UserID != claims.Subject || !s.now().Before(st.ExpiresAt) {
		return nil, ErrUnauthenticated
	}
	return &Principal{UserID: claims.Subject, SessionID: claims.SessionID}, nil
}

// User returns a user by id.
func (s *Service) User(ctx context.Context, id string) (*models.User, error) {
	u, err := s.store.UserByID(ctx, id)
	return u, s.fail(notFoundAs(err, ErrUnauthenticated))
}

// Sessions lists the caller's live sessions, marking the calling one.
func (s *Service) Sessions(ctx context.Context, p Principal) ([]*SessionView, error) {
	rows, err := s.store.LiveSessions(ctx, p.UserID, s.now())
	if err != nil {
		return nil, s.fail(err)
	}
	out := make([]*SessionView, len(rows))
	for i, r := range rows {
		out[i] = &SessionView{
			ID: r.ID, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, ExpiresAt: r.ExpiresAt,
			UserAgent: r.UserAgent, IPAddress: r.IPAddress, Current: r.ID == p.SessionID,
		}
	}
	return out, nil
}

// take counts one attempt against rule. A refused attempt is audited, in the
// trail of the account owner names (nil when the limit is not an account's).
func (s *Service) take(ctx context.Context, c Client, rule ratelimit.Rule, key string, owner func() string) error {
	if rule.Limit <= 0 {
		return nil
	}
	res, err := s.limiter.Take(ctx, rule, key)
	if err != nil {
		// The limiter already falls back to in-process state when Redis is down;
		// an error here is unexpected, and refusing every login would be worse.
		s.log.ErrorContext(ctx, "rate limiter failed", "rule", rule.Name, "err", err)
		return nil
	}
	if res.Allowed {
		return nil
	}
	e := Event{Type: EventRateLimited, Client: c, Detail: rule.Name}
	if owner != nil {
		e.UserID = owner()
	}
	s.auditRateLimited(ctx, e, rule)
	return &RateLimitError{RetryAfter: res.RetryAfter}
}

func (s *Service) refund(ctx context.Context, rule ratelimit.Rule, key string) {
	if rule.Limit <= 0 {
		return
	}
	if err := s.limiter.Refund(ctx, rule, key); err != nil {
		s.log.WarnContext(ctx, "rate limiter refund failed", "rule", rule.Name, "err", err)
	}
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

func validatePassword(field, pw string) error {
	if err := password.Validate(pw); err != nil {
		return &InputError{Field: field, Message: err.Error()}
	}
	return nil
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
