package auth

import (
	"context"
	"errors"

	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/models"
)

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
	// The transaction's outcome: the caller's rotated token, and how many
	// other sessions the change revoked (for the metrics, once committed).
	type outcome struct {
		issued
		revoked int64
	}
	res, err := store.InTxValue(ctx, s.store, func(q *store.Queries) (outcome, error) {
		// The user row before any of its sessions, the order of a session
		// start (see makeRoom): the reverse would deadlock with a login.
		if _, err := q.LockCredentials(ctx, u.ID); err != nil {
			return outcome{}, notFoundAs(err, ErrUnauthenticated)
		}
		sess, err := s.lockLiveSession(ctx, q, p)
		if err != nil {
			return outcome{}, err
		}
		now := s.now()
		// Only if the password verified above is still the current one: of two
		// racing changes, the second is refused instead of silently winning.
		changed, err := q.ChangePassword(ctx, u.ID, u.CredentialsVersion, hash, now)
		if err != nil {
			return outcome{}, err
		}
		if !changed {
			return outcome{}, ErrInvalidCredentials
		}
		n, err := q.RevokeUserSessions(ctx, u.ID, sess.ID, ReasonPasswordChange, now)
		if err != nil {
			return outcome{}, err
		}
		// A reset link mailed before the change must not undo it.
		if _, err := q.VoidEmailTokens(ctx, u.ID, MailPasswordReset, now); err != nil {
			return outcome{}, err
		}
		currentToken, err := q.RefreshTokenByID(ctx, sess.CurrentTokenID)
		if err != nil {
			return outcome{}, err
		}
		audit := s.auditRow(Event{Type: EventPasswordChanged, Client: c, UserID: u.ID, SessionID: sess.ID})
		next, err := s.rotate(ctx, q, sess, currentToken, now, audit)
		if err != nil {
			return outcome{}, err
		}
		return outcome{issued: next, revoked: n}, nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	s.opts.Observer.SessionsRevoked(ReasonPasswordChange, int(res.revoked))
	u.PasswordHash = hash
	u.CredentialsVersion++
	return s.payload(ctx, res.issued, u)
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

func validatePassword(field, pw string) error {
	if err := password.Validate(pw); err != nil {
		return &InputError{Field: field, Message: err.Error()}
	}
	return nil
}
