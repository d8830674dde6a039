package auth

import (
	"context"
	"errors"

	"github.com/authql/authql/models"
)

// errNotBuilt stands for the flows of this file until they land.
var errNotBuilt = errors.New("auth: not built yet")

// RequestPasswordReset mails a reset link to the account of email, if any.
func (s *Service) RequestPasswordReset(ctx context.Context, c Client, email string) error {
	return errNotBuilt
}

// ResetPassword consumes a reset token and sets the password.
func (s *Service) ResetPassword(ctx context.Context, c Client, token, newPassword string) (*Payload, error) {
	return nil, errNotBuilt
}

// VerifyEmail consumes a verification token.
func (s *Service) VerifyEmail(ctx context.Context, c Client, token string) (*models.User, error) {
	return nil, errNotBuilt
}

// ResendVerificationEmail mails a new verification link to the caller.
func (s *Service) ResendVerificationEmail(ctx context.Context, c Client, p Principal) error {
	return errNotBuilt
}
