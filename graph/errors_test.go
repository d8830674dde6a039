package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/requestid"
	"github.com/authql/authql/internal/testkit/logbuf"
)

// TestErrorPresenter pins what a client sees of each error: the contract's
// code and the very message served, written out here rather than taken from
// the errors, so that rewording a Go error fails this test instead of
// changing the API. Nothing else reaches a client verbatim.
func TestErrorPresenter(t *testing.T) {
	var logs strings.Builder
	present := errorPresenter(slog.New(slog.NewTextHandler(&logs, nil)))
	cases := []struct {
		name    string
		err     error
		code    string
		message string
		ext     map[string]any
	}{
		{"input", &auth.InputError{Field: "email", Message: "email is required"}, "BAD_USER_INPUT", "email is required", map[string]any{"field": "email"}},
		{"wrapped input", fmt.Errorf("signup: %w", &auth.InputError{Field: "newPassword", Message: "too short"}), "BAD_USER_INPUT", "too short", map[string]any{"field": "newPassword"}},
		{"rate limited", &auth.RateLimitError{RetryAfter: 1500 * time.Millisecond}, "RATE_LIMITED", "too many attempts, try again later", map[string]any{"retryAfter": 2}},
		{"repeated mutation", &RepeatLimitError{Field: "login", Most: 10}, "RATE_LIMITED", "at most 10 login fields run in one request: send the others in another", map[string]any{"retryAfter": 1}},
		{"email taken", auth.ErrEmailTaken, "EMAIL_TAKEN", "an account with this email already exists", nil},
		{"credentials", auth.ErrInvalidCredentials, "INVALID_CREDENTIALS", "invalid email or password", nil},
		{"unauthenticated", auth.ErrUnauthenticated, "UNAUTHENTICATED", "a valid access token is required", nil},
		{"refresh", auth.ErrInvalidRefreshToken, "INVALID_REFRESH_TOKEN", "invalid refresh token", nil},
		{"not found", auth.ErrNotFound, "NOT_FOUND", "not found", nil},
		{"unavailable hides the driver", fmt.Errorf("%w: dial tcp 10.0.0.5:3306: connection refused", auth.ErrUnavailable), "SERVICE_UNAVAILABLE", "service temporarily unavailable, try again", nil},
		{"busy", auth.ErrBusy, "SERVICE_UNAVAILABLE", "too many logins in progress, try again shortly", nil},
		{"mfa required", &auth.MFARequiredError{Token: "t0k"}, "MFA_REQUIRED", "a second factor is required: call verifyMfa with the mfaToken and a code", map[string]any{"mfaToken": "t0k"}},
		{"mfa code", fmt.Errorf("store.InTx: %w", auth.ErrInvalidMFACode), "INVALID_MFA_CODE", "the code is not valid", nil},
		{"mfa on", auth.ErrMFAEnabled, "BAD_USER_INPUT", "MFA is already enabled: disable MFA first", nil},
		{"no enrollment", auth.ErrNoTOTPEnrollment, "BAD_USER_INPUT", "no TOTP enrollment is pending: call enrollTotp first", nil},
		{"mfa off", auth.ErrMFANotEnabled, "BAD_USER_INPUT", "MFA is not enabled", nil},
		{"foreign origin", errForeignOrigin, "FORBIDDEN", "mutations are not allowed from this origin", nil},
		{"response too large", &responseTooLarge{max: 1 << 20}, "RESPONSE_TOO_LARGE", "the response is larger than 1048576 bytes: ask for fewer fields or smaller pages", nil},
		{"unknown hides SQL", errors.New("Error 1146: Table 'authql.users' doesn't exist: SELECT * FROM users WHERE email = 'a@b.c'"), "INTERNAL_SERVER_ERROR", "internal server error", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := present(context.Background(), c.err)
			if got.Extensions["code"] != c.code || got.Message != c.message {
				t.Fatalf("got %q %v, want %q %s", got.Message, got.Extensions, c.message, c.code)
			}
			if len(got.Extensions) != len(c.ext)+1 {
				t.Fatalf("extensions %v, want code and %v", got.Extensions, c.ext)
			}
			for k, v := range c.ext {
				if got.Extensions[k] != v {
					t.Fatalf("extension %s = %v, want %v", k, got.Extensions[k], v)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "Table 'authql.users'") {
		t.Error("the unexpected error's detail must reach the operator's log")
	}
}

func TestRecoverHidesThePanic(t *testing.T) {
	var logs strings.Builder
	err := recoverFunc(slog.New(slog.NewTextHandler(&logs, nil)))(context.Background(), "index out of range [3] with length 2")
	got := errorPresenter(slog.New(slog.DiscardHandler))(context.Background(), err)
	if got.Extensions["code"] != CodeInternal || strings.Contains(got.Message, "index") {
		t.Fatalf("%q %v", got.Message, got.Extensions)
	}
	if !strings.Contains(logs.String(), "goroutine ") {
		t.Error("no stack in the log")
	}
}

// TestUnavailableCauseIsLogged: while the database is down, the cause of
// SERVICE_UNAVAILABLE reaches the operator's log at warn level, once per
// class of cause and interval, counting the answers it left out, instead of
// once per request.
func TestUnavailableCauseIsLogged(t *testing.T) {
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	causes := newCauseLog(log, 5*time.Second)
	now := time.Unix(1_700_000_000, 0)
	causes.now = func() time.Time { return now }
	present := presenter(log, causes)
	request := func(err error) {
		t.Helper()
		if got := present(context.Background(), err); got.Extensions["code"] != CodeUnavailable || strings.Contains(got.Message, "refused") {
			t.Fatalf("%q %v", got.Message, got.Extensions)
		}
	}
	down := fmt.Errorf("%w: %w", auth.ErrUnavailable,
		fmt.Errorf("store.UserByEmail: %w: %w", errors.New("store: database unavailable"), &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}))
	full := fmt.Errorf("%w: %w", auth.ErrUnavailable, errors.New("Error 1040: Too many connections"))

	for range 100 {
		request(down)
	}
	request(full)
	request(auth.ErrBusy)
	now = now.Add(6 * time.Second)
	request(down)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	want := []string{"connection refused", "Too many connections", "too many logins", "suppressed=99"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), logs.String())
	}
	for i, l := range lines {
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, want[i]) {
			t.Fatalf("line %d lacks %q: %s", i, want[i], l)
		}
	}
	if !strings.Contains(lines[0], "store.UserByEmail") {
		t.Fatalf("the cause does not name the operation: %s", lines[0])
	}
}

// TestInternalErrorQuotesTheRequestID: an INTERNAL_SERVER_ERROR carries the
// request's id for the user to quote; other errors do not.
func TestInternalErrorQuotesTheRequestID(t *testing.T) {
	ctx := requestid.With(context.Background(), "req-42")
	present := errorPresenter(slog.New(slog.DiscardHandler))
	if got := present(ctx, errors.New("boom")); got.Extensions["code"] != CodeInternal || got.Extensions["requestId"] != "req-42" {
		t.Fatalf("%v", got.Extensions)
	}
	if got := present(ctx, auth.ErrInvalidCredentials); got.Extensions["requestId"] != nil {
		t.Fatalf("%v", got.Extensions)
	}
}
