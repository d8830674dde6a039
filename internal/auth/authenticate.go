package auth

import (
	"context"
	"errors"

	"github.com/authql/authql/internal/store"
)

// Authenticate verifies an access token and that its session is still live:
// revocation takes effect at once, for this and every other instance. The
// session check and the read of its user are one statement, so the
// principal comes with the user (me answers it without another read).
func (s *Service) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, ErrUnauthenticated
	}
	claims, err := s.tokens.VerifyAccess(raw)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	u, err := s.store.LiveSessionUser(ctx, claims.SessionID, claims.Subject, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return &Principal{UserID: claims.Subject, SessionID: claims.SessionID, User: u}, nil
}
