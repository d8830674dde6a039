package graph

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/reqctx"
)

// Options configure the GraphQL handler. Zero values take the defaults.
type Options struct {
	Introspection bool
	// CookieMode hands refresh tokens out in the HttpOnly cookie, and takes
	// the cookie when a mutation omits its token.
	CookieMode bool
	// MaxBodyBytes bounds a request body (REQUEST_TOO_LARGE past it).
	MaxBodyBytes int64
	// ComplexityLimit refuses, before execution, an operation costing more:
	// one per field, and a list field its selection once per item it may hold.
	ComplexityLimit int
	// Limits bound a document before gqlgen validates it.
	Limits Limits
	// MaxSessions is the most live sessions a user has: the cost of sessions.
	MaxSessions int
	// MaxResponseBytes caps an encoded response (RESPONSE_TOO_LARGE past it).
	MaxResponseBytes int
	// MaxMutationRepeats is how many times one request may run the same root
	// mutation field (aliases); each further one answers RATE_LIMITED
	// without running. Zero runs them all.
	MaxMutationRepeats int
	// Observe learns of each request: its operation (see Operations) and how
	// long it took. Nil observes nothing.
	Observe func(operation string, took time.Duration)
	// TracerProvider makes a span per operation; nil makes none.
	TracerProvider trace.TracerProvider
	Log            *slog.Logger
}

// Defaults of Options.
const (
	// DefaultComplexityLimit lets one request read a whole page of sessions
	// (every field, DefaultMaxSessions of them, 801 with __typename), a whole
	// page of audit events (every field, first: 100, 1701 with __typename)
	// and me: 2507 in all.
	DefaultComplexityLimit = 3000
	// DefaultMaxBodyBytes is far above the largest legitimate request, whose
	// document the Limits bound to 32 kB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxResponseBytes is above the largest legitimate response: those
	// two full pages with every user agent at its 512 bytes.
	DefaultMaxResponseBytes = 1 << 20
)

// NewHandler builds the GraphQL handler: POST with JSON (the only way to run
// a mutation) and GET for queries (httpTransport); no form or multipart
// transports, which is what keeps cross-site forms from running mutations.
// Every error it answers, refusals before GraphQL runs included, goes through
// the one error presenter.
//
// A request is bounded at every step: the body by the transport, the
// document by Limits before validation (which gqlgen runs before the
// complexity limit), the operation by the complexity limit before
// execution, repeated mutation fields as they run, and the response by
// MaxResponseBytes.
func NewHandler(svc *auth.Service, opts Options) *handler.Server {
	opts = opts.orDefaults()
	present := errorPresenter(opts.Log)
	r := &Resolver{Auth: svc, CookieMode: opts.CookieMode}
	cfg := Config{Resolvers: r}
	cfg.Directives.Auth = r.authDirective
	listCosts(&cfg.Complexity, opts.MaxSessions)
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(httpTransport{maxBodyBytes: opts.MaxBodyBytes, maxResponseBytes: opts.MaxResponseBytes, present: present, observe: opts.Observe})
	cache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(cache)
	srv.Use(documentLimits{limits: opts.Limits, cache: cache})
	srv.SetParserTokenLimit(opts.Limits.Tokens)
	srv.SetValidationRulesFn(validationRules(opts.Introspection, opts.Limits.Errors))
	srv.SetDisableSuggestion(!opts.Introspection)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(newComplexityLimit(opts.ComplexityLimit))
	if opts.TracerProvider != nil {
		srv.Use(newTracing(opts.TracerProvider))
	}
	srv.AroundOperations(refuseForeignMutations(present))
	if opts.MaxMutationRepeats > 0 {
		srv.AroundOperations(countMutationRuns)
		srv.AroundFields(boundMutationRuns(opts.MaxMutationRepeats))
	}
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(recoverFunc(opts.Log))
	return srv
}

func (o Options) orDefaults() Options {
	o.Limits = o.Limits.orDefaults()
	if o.ComplexityLimit <= 0 {
		o.ComplexityLimit = DefaultComplexityLimit
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Observe == nil {
		o.Observe = func(string, time.Duration) {}
	}
	return o
}

// errForeignOrigin refuses a mutation from a browser page of an origin that
// is not allowed.
var errForeignOrigin = errors.New("graph: mutation from a foreign origin")

// refuseForeignMutations stops a browser page of an origin that is not allowed
// from running mutations, even when it manages to send the request.
func refuseForeignMutations(present graphql.ErrorPresenterFunc) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		if op.Operation != nil && op.Operation.Operation == ast.Mutation && reqctx.From(ctx).ForeignOrigin {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{present(ctx, errForeignOrigin)}})
		}
		return next(ctx)
	}
}
