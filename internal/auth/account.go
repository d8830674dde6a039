package auth

import "context"

// DeleteAccount deletes the caller's account.
func (s *Service) DeleteAccount(ctx context.Context, c Client, p Principal, password string) error {
	return errNotBuilt
}
