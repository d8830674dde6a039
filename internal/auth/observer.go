package auth

import (
	"errors"
	"reflect"

	"github.com/authql/authql/internal/ratelimit"
)

// Observer learns of the events an operator counts: logins, refreshes,
// revocations and rate-limit refusals. The service calls it once an event is
// decided, from many goroutines at once; it must not block. Every label it
// is given is one of the constants below or a rule or reason name of this
// package: a bounded set, never a client's text.
type Observer interface {
	Login(result string)
	Refresh(result string)
	SessionsRevoked(reason string, n int)
	RateLimited(rule string)
}

// Login results.
const (
	LoginSuccess            = "success"
	LoginInvalidCredentials = "invalid_credentials"
	LoginInvalidInput       = "invalid_input"
	LoginMFARequired        = "mfa_required"
	LoginRateLimited        = "rate_limited"
	LoginError              = "error" // ours: busy hashers, an unreachable database
)

// Refresh results.
const (
	RefreshRotated       = "rotated"
	RefreshGrace         = "grace" // the predecessor within the grace window
	RefreshReuseDetected = "reuse_detected"
	RefreshInvalid       = "invalid"
	RefreshRateLimited   = "rate_limited"
	RefreshError         = "error"
)

// LoginResults and RefreshResults are every result, for an observer that
// shows them all from the start.
var (
	LoginResults   = []string{LoginSuccess, LoginInvalidCredentials, LoginInvalidInput, LoginMFARequired, LoginRateLimited, LoginError}
	RefreshResults = []string{RefreshRotated, RefreshGrace, RefreshReuseDetected, RefreshInvalid, RefreshRateLimited, RefreshError}
	// RevokeReasons are the reasons a session is revoked.
	RevokeReasons = []string{ReasonLogout, ReasonLogoutAll, ReasonRevoked, ReasonPasswordChange, ReasonReuse, ReasonEvicted}
)

// NopObserver observes nothing.
type NopObserver struct{}

func (NopObserver) Login(string)                {}
func (NopObserver) Refresh(string)              {}
func (NopObserver) SessionsRevoked(string, int) {}
func (NopObserver) RateLimited(string)          {}

// loginResult is the result of a login that returned err.
func loginResult(err error) string {
	var input *InputError
	var limited *RateLimitError
	var mfa *MFARequiredError
	switch {
	case err == nil:
		return LoginSuccess
	case errors.Is(err, ErrInvalidCredentials):
		return LoginInvalidCredentials
	case errors.As(err, &input):
		return LoginInvalidInput
	case errors.As(err, &limited):
		return LoginRateLimited
	case errors.As(err, &mfa):
		return LoginMFARequired
	}
	return LoginError
}

// refreshResult is the result of a refresh whose transaction ended in
// outcome (zero when it did not run) and that returned err.
func refreshResultOf(outcome refreshOutcome, err error) string {
	var limited *RateLimitError
	switch {
	case outcome == reuseDetected:
		return RefreshReuseDetected
	case err == nil && outcome == replayed:
		return RefreshGrace
	case err == nil:
		return RefreshRotated
	case errors.Is(err, ErrInvalidRefreshToken):
		return RefreshInvalid
	case errors.As(err, &limited):
		return RefreshRateLimited
	}
	return RefreshError
}

// RuleNames are the names of l's rules, the labels RateLimited is given.
func (l Limits) RuleNames() []string {
	v := reflect.ValueOf(l)
	var out []string
	for i := range v.NumField() {
		if r, ok := v.Field(i).Interface().(ratelimit.Rule); ok && r.Name != "" {
			out = append(out, r.Name)
		}
	}
	return out
}
