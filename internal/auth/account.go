package auth

import (
	"context"
	"errors"

	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store"
)

// EventAccountDeleteFailed is a deleteAccount refused for its password. It
// stays in the trail of the account, which was not deleted.
const EventAccountDeleteFailed = "account_delete_failed"

// DeleteAccount deletes the caller's account, once its password is proven,
// with every row of it in one transaction: sessions and refresh tokens (so
// every token of the account dies with it), second factor, email tokens,
// queued mail and audit events. The address is free to sign up again.
//
// A wrong password is INVALID_CREDENTIALS, and attempts count against the
// changePassword limit of the account: both answer whether a password is
// right, so they share one budget.
func (s *Service) DeleteAccount(ctx context.Context, c Client, p Principal, pw string) error {
	if err := validatePassword("password", pw); err != nil {
		return err
	}
	if err := s.take(ctx, c, s.opts.Limits.ChangePassword, p.UserID, func() string { return p.UserID }); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return s.fail(notFoundAs(err, ErrUnauthenticated))
	}
	if _, err := s.hasher.Verify(ctx, pw, u.PasswordHash); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			s.auditBestEffort(ctx, Event{Type: EventAccountDeleteFailed, Client: c, UserID: u.ID, SessionID: p.SessionID, Detail: "wrong_password"})
			return ErrInvalidCredentials
		}
		return s.fail(err)
	}
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		v, err := q.LockCredentials(ctx, u.ID)
		if err != nil {
			return notFoundAs(err, ErrUnauthenticated)
		}
		// The password proven above must still be the account's.
		if v != u.CredentialsVersion {
			return ErrInvalidCredentials
		}
		if _, err := s.lockLiveSession(ctx, q, p); err != nil {
			return err
		}
		if _, err := q.DeleteQueuedMail(ctx, u.Email); err != nil {
			return err
		}
		return q.DeleteUser(ctx, u.ID)
	})
	if err != nil {
		return s.fail(err)
	}
	// The trail went with the account: the operator's log keeps the fact.
	s.log.InfoContext(ctx, "account deleted", "user", u.ID, "ip", c.IP)
	return nil
}
