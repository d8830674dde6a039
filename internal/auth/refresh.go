package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/token"
	"github.com/authql/authql/models"
)

// Refresh rotates a refresh token: the presented token is consumed and a new
// pair returned. The immediate predecessor of the current token, presented
// again within the grace window, gets the current token back (racing tabs
// converge on one token); any other used token is reuse and revokes the session.
func (s *Service) Refresh(ctx context.Context, c Client, raw string) (_ *Payload, err error) {
	var outcome refreshOutcome
	defer func() { s.opts.Observer.Refresh(refreshResultOf(outcome, err)) }()
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
	outcome = res.outcome
	if err != nil {
		if errors.Is(err, ErrInvalidRefreshToken) {
			return nil, err
		}
		return nil, s.fail(err)
	}
	if res.outcome == reuseDetected {
		s.opts.Observer.SessionsRevoked(ReasonReuse, 1)
		s.log.WarnContext(ctx, "refresh token reuse detected; session revoked", "session", res.sess.ID, "user", res.sess.UserID, "ip", c.IP)
		return nil, ErrInvalidRefreshToken
	}
	return s.payload(ctx, res.issued, res.user)
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
	outcome refreshOutcome
	issued
	// user is the session's user, read with the session: the access token's
	// facts and the payload's user.
	user *models.User
}

// issued is the refresh token a transaction answers for its session, issued
// or derived again: the caller's answer once the transaction has committed.
type issued struct {
	sess    *models.Session
	refresh string
	exp     time.Time
}

// refreshTx is one attempt at the refresh transaction. Its result is all it
// leaves: an attempt the database aborts runs again from the start.
func (s *Service) refreshTx(ctx context.Context, q *store.Queries, c Client, claims *token.RefreshClaims, hash string) (refreshResult, error) {
	// The session row is locked with the presented token's, in one statement,
	// and every rotation of the session takes the same lock: they run one
	// after another, never interleaved.
	sess, presented, user, err := q.SessionWithToken(ctx, claims.SessionID, claims.ID)
	if err != nil {
		return refreshResult{}, notFoundAs(err, ErrInvalidRefreshToken)
	}
	now := s.now()
	if !liveFor(sess, claims.Subject, now) {
		return refreshResult{}, ErrInvalidRefreshToken
	}
	if presented.SessionID != sess.ID || subtle.ConstantTimeCompare([]byte(presented.Hash), []byte(hash)) != 1 {
		return refreshResult{}, ErrInvalidRefreshToken
	}
	if presented.UsedAt == nil && presented.ID == sess.CurrentTokenID {
		// The audit row is written with the rotation's own statements.
		audit := s.auditRow(Event{Type: EventRefresh, Client: c, UserID: sess.UserID, SessionID: sess.ID})
		next, err := s.rotate(ctx, q, sess, presented, now, audit)
		if err != nil {
			return refreshResult{}, err
		}
		return refreshResult{outcome: rotated, issued: next, user: user}, nil
	}
	current, err := q.RefreshTokenByID(ctx, sess.CurrentTokenID)
	if err != nil {
		return refreshResult{}, err
	}
	inGrace := presented.UsedAt != nil && current.UsedAt == nil &&
		current.ParentID != nil && *current.ParentID == presented.ID &&
		s.opts.ReuseGrace > 0 && now.Sub(*presented.UsedAt) <= s.opts.ReuseGrace && now.Before(current.ExpiresAt)
	if inGrace {
		again, err := s.rederive(sess, current)
		if err != nil {
			return refreshResult{}, err
		}
		return refreshResult{outcome: replayed, issued: again, user: user}, nil
	}
	// Reuse: the revocation and its event commit although the caller is refused.
	if _, err := q.RevokeSession(ctx, sess.UserID, sess.ID, ReasonReuse, now); err != nil {
		return refreshResult{}, err
	}
	if err := s.audit(ctx, q, Event{Type: EventReuseDetected, Client: c, UserID: sess.UserID, SessionID: sess.ID}); err != nil {
		return refreshResult{}, err
	}
	return refreshResult{outcome: reuseDetected, issued: issued{sess: sess}}, nil
}

// rotate consumes the current token of a locked session, issues its
// successor and records audit.
func (s *Service) rotate(ctx context.Context, q *store.Queries, sess *models.Session, current *models.RefreshToken, now time.Time, audit *models.AuditEvent) (issued, error) {
	claims := s.tokens.NewRefresh(sess.UserID, sess.ID, s.opts.RefreshTTL, sess.ExpiresAt)
	raw, row, err := s.signRefresh(claims, &current.ID)
	if err != nil {
		return issued{}, err
	}
	ok, err := q.RotateToken(ctx, current.ID, row, now, audit)
	if err != nil {
		return issued{}, err
	}
	if !ok {
		// The token was consumed although the session lock was taken with it
		// unused: on Galera the lock is local, and a rotation committed on
		// another node was applied through it. Run again: the next attempt
		// sees that rotation and answers as a racing tab (grace) would.
		return issued{}, store.ErrConflict
	}
	return issued{sess: sess, refresh: raw, exp: row.ExpiresAt}, nil
}

// rederive signs the stored claims of the session's current token again: HMAC
// is deterministic, so this is the very token issued before, never a sibling.
func (s *Service) rederive(sess *models.Session, current *models.RefreshToken) (issued, error) {
	claims := token.RefreshClaims{
		Subject: sess.UserID, SessionID: sess.ID, ID: current.ID,
		IssuedAt: current.IssuedAt, ExpiresAt: current.ExpiresAt,
	}
	raw, err := s.tokens.SignRefresh(claims)
	if err != nil {
		return issued{}, err
	}
	if subtle.ConstantTimeCompare([]byte(s.tokens.HashRefresh(raw)), []byte(current.Hash)) != 1 {
		return issued{}, errors.New("auth: re-derived refresh token does not match its stored hash (server secret or issuer changed?)")
	}
	return issued{sess: sess, refresh: raw, exp: current.ExpiresAt}, nil
}
