package auth

import (
	"context"
	"errors"

	"github.com/authql/authql/internal/store"
)

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
