package auth

import (
	"context"
	"errors"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/models"
)

// lockLiveSession locks the caller's session inside q's transaction and
// refuses it if it was revoked or has expired since the @auth check let the
// request in. An operation that races with a logout, a logoutAll, a
// revokeSession or a password change elsewhere then either sees the
// revocation or commits before it: never after it. Call it after locking the
// user's row, the order every transaction takes (see makeRoom).
func (s *Service) lockLiveSession(ctx context.Context, q *store.Queries, p Principal) (*models.Session, error) {
	sess, err := q.SessionByID(ctx, p.SessionID)
	if err != nil {
		return nil, notFoundAs(err, ErrUnauthenticated)
	}
	if !liveFor(sess, p.UserID, s.now()) {
		return nil, ErrUnauthenticated
	}
	return sess, nil
}

// liveFor reports whether sess is userID's, not revoked and not expired at
// now: what a token of the session is worth. (The @auth read asks the same
// in SQL: store.LiveSessionUser.)
func liveFor(sess *models.Session, userID string, now time.Time) bool {
	return sess.UserID == userID && sess.RevokedAt == nil && now.Before(sess.ExpiresAt)
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
	n, err := store.InTxValue(ctx, s.store, func(q *store.Queries) (int64, error) {
		n, err := q.RevokeUserSessions(ctx, p.UserID, "", ReasonLogoutAll, now)
		if err != nil {
			return 0, err
		}
		return n, s.audit(ctx, q, Event{Type: EventLogoutAll, Client: c, UserID: p.UserID, SessionID: p.SessionID})
	})
	if err == nil {
		s.opts.Observer.SessionsRevoked(ReasonLogoutAll, int(n))
	}
	return s.fail(err)
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
	revoked, err := store.InTxValue(ctx, s.store, func(q *store.Queries) (bool, error) {
		revoked, err := q.RevokeSession(ctx, userID, id, reason, now)
		if err != nil || !revoked {
			// Not revoked: a racing call did it, and wrote its event.
			return false, err
		}
		return true, s.audit(ctx, q, Event{Type: event, Client: c, UserID: userID, SessionID: id})
	})
	if revoked {
		s.opts.Observer.SessionsRevoked(reason, 1)
	}
	return true, s.fail(err)
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

// makeRoom revokes the least recently used live sessions of a user at the
// session cap, so that one more leaves the user at the cap, each revocation
// audited with the session's start. The caller has locked the user row
// already (startSession's entitlement): on MySQL the session starts of one
// user then count and evict one after another, and racing logins cannot
// overshoot (SQLite's single writer serialises them already). The count locks
// the sessions it counts, so every transaction that locks a user and its
// sessions takes the user first.
func (s *Service) makeRoom(ctx context.Context, q *store.Queries, c Client, userID string, now time.Time) error {
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
	// Counted before the commit: a transaction that runs again after a
	// deadlock counts its evictions again, a rare overcount of a rare event.
	s.opts.Observer.SessionsRevoked(ReasonEvicted, len(ids))
	return nil
}
