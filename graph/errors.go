package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/authql/authql/internal/auth"
)

// presentation is what a client sees of an error: its code, its message and
// any further extensions.
type presentation struct {
	code    string
	message string
	ext     map[string]any
}

// internal is the answer to every error the table does not know.
var internal = presentation{code: CodeInternal, message: "internal server error"}

// presentations is the one table from errors to what a client sees, the
// first match winning. Messages are written here, not taken from the errors'
// Error texts: rewording a Go error never changes the API, and the text of
// whatever an error wraps (SQL, driver messages, addresses) never reaches a
// client.
var presentations = []func(error) (presentation, bool){
	// Requests refused before GraphQL runs them (transport.go).
	is(errUpgrade, CodeBadRequest, "protocol upgrades (websockets) are not supported"),
	is(errMethod, CodeBadRequest, "use POST (or GET for queries)"),
	is(errMediaType, CodeBadRequest, "POST /graphql requires Content-Type: application/json"),
	is(errBodyTooLarge, CodeRequestTooLarge, "the request body is too large"),
	is(errBodyUnreadable, CodeBadRequest, "could not read the request body"),
	is(errBodyNotJSON, CodeBadRequest, `the request body is not a JSON GraphQL request ({"query": ..., "variables": {...}}); batches are not supported`),
	is(errQueryString, CodeBadRequest, "the query string is malformed"),
	as(func(e *paramError) presentation {
		return presentation{code: CodeBadRequest, message: e.param + " must be a JSON object"}
	}),
	is(errGetMutation, CodeBadRequest, "GET runs queries only: send mutations with POST"),
	is(errForeignOrigin, CodeForbidden, "mutations are not allowed from this origin"),

	// Errors of the operation.
	as(func(e *auth.InputError) presentation {
		return presentation{code: CodeBadUserInput, message: e.Message, ext: map[string]any{"field": e.Field}}
	}),
	as(func(e *auth.RateLimitError) presentation {
		return presentation{code: CodeRateLimited, message: "too many attempts, try again later", ext: map[string]any{"retryAfter": e.RetryAfterSeconds()}}
	}),
	as(func(e *RepeatLimitError) presentation {
		// The next request may run them at once.
		msg := fmt.Sprintf("at most %d %s fields run in one request: send the others in another", e.Most, e.Field)
		return presentation{code: CodeRateLimited, message: msg, ext: map[string]any{"retryAfter": 1}}
	}),
	is(auth.ErrEmailTaken, CodeEmailTaken, "an account with this email already exists"),
	is(auth.ErrInvalidCredentials, CodeInvalidCredentials, "invalid email or password"),
	is(auth.ErrUnauthenticated, CodeUnauthenticated, "a valid access token is required"),
	is(auth.ErrInvalidRefreshToken, CodeInvalidRefresh, "invalid refresh token"),
	is(auth.ErrNotFound, CodeNotFound, "not found"),
	is(auth.ErrBusy, CodeUnavailable, "too many logins in progress, try again shortly"),
	is(auth.ErrUnavailable, CodeUnavailable, "service temporarily unavailable, try again"),
	is(auth.ErrMailOff, CodeUnavailable, "account mail is turned off on this server"),
	is(auth.ErrInvalidToken, CodeInvalidToken, "the token is invalid, expired or already used"),
	is(auth.ErrInvalidMFACode, CodeInvalidMFACode, "the code is not valid"),
	is(auth.ErrMFAEnabled, CodeBadUserInput, "MFA is already enabled: disable MFA first"),
	is(auth.ErrNoTOTPEnrollment, CodeBadUserInput, "no TOTP enrollment is pending: call enrollTotp first"),
	is(auth.ErrMFANotEnabled, CodeBadUserInput, "MFA is not enabled"),
	as(func(e *auth.MFARequiredError) presentation {
		return presentation{code: CodeMFARequired, message: "a second factor is required: call verifyMfa with the mfaToken and a code", ext: map[string]any{"mfaToken": e.Token}}
	}),
	as(func(e *responseTooLarge) presentation {
		return presentation{code: CodeResponseTooLarge, message: fmt.Sprintf("the response is larger than %d bytes: ask for fewer fields or smaller pages", e.max)}
	}),
}

// is presents every error that is sentinel or wraps it.
func is(sentinel error, code, message string) func(error) (presentation, bool) {
	return func(err error) (presentation, bool) {
		return presentation{code: code, message: message}, errors.Is(err, sentinel)
	}
}

// as presents every error that is, or wraps, an E.
func as[E error](present func(E) presentation) func(error) (presentation, bool) {
	return func(err error) (presentation, bool) {
		var e E
		if !errors.As(err, &e) {
			return presentation{}, false
		}
		return present(e), true
	}
}

// present looks err up in the table; ok is false for an error it does not know.
func present(err error) (p presentation, ok bool) {
	for _, match := range presentations {
		if p, ok := match(err); ok {
			return p, true
		}
	}
	return presentation{}, false
}

func (p presentation) gqlError(path ast.Path, locations []gqlerror.Location, cause error) *gqlerror.Error {
	out := &gqlerror.Error{Message: p.message, Path: path, Locations: locations, Err: cause}
	out.Extensions = map[string]any{"code": p.code}
	for k, v := range p.ext {
		out.Extensions[k] = v
	}
	return out
}

// errorPresenter is the one place that turns an error into what a client
// sees, refusals before GraphQL included: the errors of the table get their
// code and message; gqlgen's own errors (parse, validation, complexity) keep
// theirs; anything else is logged and answered INTERNAL_SERVER_ERROR, never
// with its text. The cause of a SERVICE_UNAVAILABLE is logged too, a few
// lines at most (causeLog), so that an operator learns what is down.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return presenter(log, newCauseLog(log, unavailableLogInterval))
}

func presenter(log *slog.Logger, causes *causeLog) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		cause := gqlErr.Err
		if cause == nil {
			cause = err
		}
		p, ok := present(cause)
		if !ok && isVariableError(gqlErr) {
			// A variable that does not fit its type is a malformed argument: the
			// client's input, named by its field, as for any other bad input.
			gqlErr.Extensions = map[string]any{"code": CodeBadUserInput, "field": variableField(gqlErr.Path)}
			return gqlErr
		}
		if !ok {
			if _, coded := gqlErr.Extensions["code"]; coded && gqlErr.Err == nil {
				return gqlErr // gqlgen's own, already coded
			}
			log.ErrorContext(ctx, "unexpected error", "err", cause, "path", gqlErr.Path.String())
			p = internal
		}
		if p.code == CodeUnavailable {
			causes.warn(ctx, p.message, cause)
		}
		return p.gqlError(gqlErr.Path, gqlErr.Locations, cause)
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

// recoverFunc answers a panic in a resolver like any unexpected error, and
// logs its stack for the operator (never for the client).
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return errors.New("graph: panic in resolver")
	}
}
