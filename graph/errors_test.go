package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/auth"
)

// TestErrorPresenter pins the one mapping from domain errors to the
// contract's codes, and that nothing else reaches a client verbatim.
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
		{"input", &auth.InputError{Field: "email", Message: "email is required"}, CodeBadUserInput, "email is required", map[string]any{"field": "email"}},
		{"wrapped input", fmt.Errorf("signup: %w", &auth.InputError{Field: "newPassword", Message: "too short"}), CodeBadUserInput, "too short", map[string]any{"field": "newPassword"}},
		{"rate limited", &auth.RateLimitError{RetryAfter: 1500 * time.Millisecond}, CodeRateLimited, "too many attempts, try again later", map[string]any{"retryAfter": 2}},
		{"email taken", auth.ErrEmailTaken, CodeEmailTaken, auth.ErrEmailTaken.Error(), nil},
		{"credentials", auth.ErrInvalidCredentials, CodeInvalidCredentials, auth.ErrInvalidCredentials.Error(), nil},
		{"unauthenticated", auth.ErrUnauthenticated, CodeUnauthenticated, auth.ErrUnauthenticated.Error(), nil},
		{"refresh", auth.ErrInvalidRefreshToken, CodeInvalidRefresh, auth.ErrInvalidRefreshToken.Error(), nil},
		{"not found", auth.ErrNotFound, CodeNotFound, auth.ErrNotFound.Error(), nil},
		{"unavailable hides the driver", fmt.Errorf("%w: dial tcp 10.0.0.5:3306: connection refused", auth.ErrUnavailable), CodeUnavailable, auth.ErrUnavailable.Error(), nil},
		{"busy", auth.ErrBusy, CodeUnavailable, auth.ErrBusy.Error(), nil},
		{"unknown hides SQL", errors.New("Error 1146: Table 'authql.users' doesn't exist: SELECT * FROM users WHERE email = 'a@b.c'"), CodeInternal, "internal server error", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := present(context.Background(), c.err)
			if got.Extensions["code"] != c.code || got.Message != c.message {
				t.Fatalf("got %q %v", got.Message, got.Extensions)
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
