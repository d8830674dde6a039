package auth

import "context"

// TOTPEnrollment is a factor being enrolled: its secret for manual entry and
// its otpauth:// URI for a QR code.
type TOTPEnrollment struct {
	Secret string
	URI    string
}

// EnrollTOTP starts enrolling a TOTP factor for the caller.
func (s *Service) EnrollTOTP(ctx context.Context, c Client, p Principal) (*TOTPEnrollment, error) {
	return nil, errNotBuilt
}

// ConfirmTOTP activates the caller's factor and returns recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, c Client, p Principal, code string) ([]string, error) {
	return nil, errNotBuilt
}

// DisableTOTP turns the caller's second factor off.
func (s *Service) DisableTOTP(ctx context.Context, c Client, p Principal, code string) error {
	return errNotBuilt
}

// VerifyMFA is a login's second step.
func (s *Service) VerifyMFA(ctx context.Context, c Client, mfaToken, code string) (*Payload, error) {
	return nil, errNotBuilt
}
