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
)

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
