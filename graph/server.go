package graph

import (
	"context"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/reqctx"
)

// Options configure the GraphQL server. Zero values take the defaults.
type Options struct {
	Introspection bool
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
	Log                *slog.Logger
}

// Defaults of Options.
const (
	// DefaultComplexityLimit lets one request read a whole page of sessions
	// (every field, DefaultMaxSessions of them, 801 with __typename), a whole
	// page of audit events (every field, first: 100, 1701 with __typename)
	// and me: 2507 in all.
	DefaultComplexityLimit = 3000
	// DefaultMaxResponseBytes is above the largest legitimate response: those
	// two full pages with every user agent at its 512 bytes.
	DefaultMaxResponseBytes = 1 << 20
)

// NewServer builds the gqlgen server: POST with JSON (the only way to run a
// mutation) and GET for queries (httpTransport); no form or multipart
// transports, which is what keeps cross-site forms from running mutations.
//
// A request is bounded at every step: the body by the HTTP server, the
// document by Limits before validation (which gqlgen runs before the
// complexity limit), the operation by the complexity limit before
// execution, repeated mutation fields as they run, and the response by
// MaxResponseBytes.
func NewServer(svc *auth.Service, opts Options) *handler.Server {
	opts = opts.orDefaults()
	r := &Resolver{Auth: svc}
	cfg := Config{Resolvers: r}
	cfg.Directives.Auth = r.authDirective
	listCosts(&cfg.Complexity, opts.MaxSessions)
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(httpTransport{maxResponseBytes: opts.MaxResponseBytes})
	cache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(cache)
	srv.Use(documentLimits{limits: opts.Limits, cache: cache})
	srv.SetParserTokenLimit(opts.Limits.Tokens)
	srv.SetValidationRulesFn(validationRules(opts.Introspection, opts.Limits.Errors))
	srv.SetDisableSuggestion(!opts.Introspection)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.FixedComplexityLimit(opts.ComplexityLimit))
	srv.AroundOperations(refuseForeignMutations)
	if opts.MaxMutationRepeats > 0 {
		srv.AroundOperations(countMutationRuns)
		srv.AroundFields(boundMutationRuns(opts.MaxMutationRepeats))
	}
	srv.SetErrorPresenter(errorPresenter(opts.Log))
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
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return o
}

// refuseForeignMutations stops a browser page of an origin that is not allowed
// from running mutations, even when it manages to send the request.
func refuseForeignMutations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	if op.Operation != nil && op.Operation.Operation == ast.Mutation && reqctx.From(ctx).ForeignOrigin {
		err := gqlerror.Errorf("mutations are not allowed from this origin")
		err.Extensions = map[string]any{"code": CodeForbidden}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{err}})
	}
	return next(ctx)
}
