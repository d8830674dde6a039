package auth

import (
	"errors"
	"fmt"
	"time"
)

// The domain's errors. The GraphQL layer maps each onto one contract code in
// its error presenter; nothing else decides what a client sees.
var (
	ErrEmailTaken          = errors.New("an account with this email already exists")
	ErrInvalidCredentials  = errors.New("invalid email or password")
	ErrUnauthenticated     = errors.New("a valid access token is required")
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	ErrNotFound            = errors.New("not found")
	// ErrUnavailable means a required backend (the database) cannot be reached.
	ErrUnavailable = errors.New("service temporarily unavailable, try again")
	// ErrBusy means every password hasher stayed busy for the queue timeout.
	ErrBusy = errors.New("too many logins in progress, try again shortly")
	// ErrMailOff refuses what needs account mail while AUTHQL_MAIL is off.
	ErrMailOff = errors.New("account mail is turned off")
	// ErrInvalidToken is an email token (verification, reset) or an mfaToken
	// that is unknown, used, expired, voided or of the other kind.
	ErrInvalidToken = errors.New("invalid or expired token")
	// ErrInvalidMFACode is a TOTP or recovery code that does not work.
	ErrInvalidMFACode = errors.New("invalid second-factor code")
)

// MFARequiredError answers a login whose password was right for an account
// with a second factor: no tokens yet, only Token, the mfaToken that
// verifyMfa takes with a code.
type MFARequiredError struct {
	Token string
}

func (e *MFARequiredError) Error() string { return "a second factor is required" }

// InputError is invalid input, naming the input field by its GraphQL name.
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// RateLimitError refuses an attempt over a limit.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string { return "too many attempts, try again later" }

// RetryAfterSeconds rounds up, so that a client waiting that long is let in.
func (e *RateLimitError) RetryAfterSeconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
