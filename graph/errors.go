package graph

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/authql/authql/internal/auth"
)

// Error codes of the contract (errors[].extensions.code).
const (
	CodeBadUserInput       = "BAD_USER_INPUT"
	CodeEmailTaken         = "EMAIL_TAKEN"
	CodeInvalidCredentials = "INVALID_CREDENTIALS"
	CodeUnauthenticated    = "UNAUTHENTICATED"
	CodeInvalidRefresh     = "INVALID_REFRESH_TOKEN"
	CodeNotFound           = "NOT_FOUND"
	CodeRateLimited        = "RATE_LIMITED"
	CodeUnavailable        = "SERVICE_UNAVAILABLE"
	CodeInternal           = "INTERNAL_SERVER_ERROR"
	CodeForbidden          = "FORBIDDEN"
)

// errorPresenter is the one place that turns an error into what a client sees:
// domain errors get their contract code and message; gqlgen's own errors
// (parse, validation, complexity) keep theirs; anything else is logged and
// answered with a generic INTERNAL_SERVER_ERROR, never its text.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		cause := gqlErr.Err
		if cause == nil {
			cause = err
		}
		code, ext := classify(cause)
		if code == "" {
			if _, ok := gqlErr.Extensions["code"]; ok && gqlErr.Err == nil {
				return gqlErr // gqlgen's own, already coded
			}
			if errors.Is(cause, context.Canceled) {
				code = CodeUnavailable
			} else {
				log.ErrorContext(ctx, "unexpected error", "err", cause, "path", gqlErr.Path.String())
				code = CodeInternal
			}
		}
		out := &gqlerror.Error{Message: publicMessage(code, cause), Path: gqlErr.Path, Locations: gqlErr.Locations, Err: cause}
		out.Extensions = map[string]any{"code": code}
		for k, v := range ext {
			out.Extensions[k] = v
		}
		return out
	}
}

// classify maps a domain error onto its code and extra extensions; "" when it
// is not a domain error.
func classify(err error) (string, map[string]any) {
	var input *auth.InputError
	var limited *auth.RateLimitError
	switch {
	case errors.As(err, &input):
		return CodeBadUserInput, map[string]any{"field": input.Field}
	case errors.As(err, &limited):
		return CodeRateLimited, map[string]any{"retryAfter": limited.RetryAfterSeconds()}
	case errors.Is(err, auth.ErrEmailTaken):
		return CodeEmailTaken, nil
	case errors.Is(err, auth.ErrInvalidCredentials):
		return CodeInvalidCredentials, nil
	case errors.Is(err, auth.ErrUnauthenticated):
		return CodeUnauthenticated, nil
	case errors.Is(err, auth.ErrInvalidRefreshToken):
		return CodeInvalidRefresh, nil
	case errors.Is(err, auth.ErrNotFound):
		return CodeNotFound, nil
	case errors.Is(err, auth.ErrUnavailable), errors.Is(err, auth.ErrBusy):
		return CodeUnavailable, nil
	}
	return "", nil
}

func publicMessage(code string, err error) string {
	switch code {
	case CodeInternal:
		return "internal server error"
	case CodeUnavailable:
		if errors.Is(err, auth.ErrBusy) {
			return auth.ErrBusy.Error()
		}
		return auth.ErrUnavailable.Error()
	}
	// Domain errors' own messages are written for clients (auth/errors.go).
	var input *auth.InputError
	if errors.As(err, &input) {
		return input.Message
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) == nil {
			return e.Error()
		}
	}
	return err.Error()
}

// recoverFunc answers a panic in a resolver like any unexpected error, and
// logs its stack for the operator (never for the client).
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return errors.New("internal server error")
	}
}
