package graph

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
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
	// CodeQueryTooComplex refuses a document over the Limits or an operation
	// over the complexity limit (gqlgen's own code for the latter).
	CodeQueryTooComplex = "COMPLEXITY_LIMIT_EXCEEDED"
	// CodeResponseTooLarge withholds a result larger than the response cap.
	CodeResponseTooLarge = "RESPONSE_TOO_LARGE"
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
		code, message, ext := classify(cause)
		if code == "" && isVariableError(gqlErr) {
			// A variable that does not fit its type is a malformed argument: the
			// client's input, named by its field, as for any other bad input.
			gqlErr.Extensions = map[string]any{"code": CodeBadUserInput, "field": variableField(gqlErr.Path)}
			return gqlErr
		}
		if code == "" {
			if _, ok := gqlErr.Extensions["code"]; ok && gqlErr.Err == nil {
				return gqlErr // gqlgen's own, already coded
			}
			log.ErrorContext(ctx, "unexpected error", "err", cause, "path", gqlErr.Path.String())
			code, message = CodeInternal, "internal server error"
		}
		out := &gqlerror.Error{Message: message, Path: gqlErr.Path, Locations: gqlErr.Locations, Err: cause}
		out.Extensions = map[string]any{"code": code}
		for k, v := range ext {
			out.Extensions[k] = v
		}
		return out
	}
}

// isVariableError reports gqlgen's coercion errors of variables, whose path
// is ["variable", name, field...].
func isVariableError(e *gqlerror.Error) bool {
	if len(e.Path) < 2 || e.Err != nil {
		return false
	}
	first, ok := e.Path[0].(ast.PathName)
	return ok && first == "variable"
}

// variableField is the innermost named element of a variable's path: the
// input field ("password") or else the variable itself.
func variableField(p ast.Path) string {
	for i := len(p) - 1; i >= 1; i-- {
		if name, ok := p[i].(ast.PathName); ok {
			return string(name)
		}
	}
	return ""
}

// classify maps a domain error onto its code, the message a client sees and
// extra extensions; code is "" when err is not a domain error. Messages are
// the sentinels' own, written for clients: never the text of whatever an
// error wraps.
func classify(err error) (code, message string, ext map[string]any) {
	var input *auth.InputError
	var limited *auth.RateLimitError
	var repeated *RepeatLimitError
	switch {
	case errors.As(err, &input):
		return CodeBadUserInput, input.Message, map[string]any{"field": input.Field}
	case errors.As(err, &limited):
		return CodeRateLimited, limited.Error(), map[string]any{"retryAfter": limited.RetryAfterSeconds()}
	case errors.As(err, &repeated):
		// The next request may run them at once.
		return CodeRateLimited, repeated.Error(), map[string]any{"retryAfter": 1}
	}
	for _, m := range []struct {
		sentinel error
		code     string
	}{
		{auth.ErrEmailTaken, CodeEmailTaken},
		{auth.ErrInvalidCredentials, CodeInvalidCredentials},
		{auth.ErrUnauthenticated, CodeUnauthenticated},
		{auth.ErrInvalidRefreshToken, CodeInvalidRefresh},
		{auth.ErrNotFound, CodeNotFound},
		{auth.ErrBusy, CodeUnavailable},
		{auth.ErrUnavailable, CodeUnavailable},
	} {
		if errors.Is(err, m.sentinel) {
			return m.code, m.sentinel.Error(), nil
		}
	}
	return "", "", nil
}

// recoverFunc answers a panic in a resolver like any unexpected error, and
// logs its stack for the operator (never for the client).
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return errors.New("internal server error")
	}
}
