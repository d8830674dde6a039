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

// Options configure the GraphQL server.
type Options struct {
	Introspection bool
	// ComplexityLimit refuses, before execution, an operation costing more
	// (one per field by default).
	ComplexityLimit int
	// TokenLimit bounds how many tokens the parser reads.
	TokenLimit int
	Log        *slog.Logger
}

// NewServer builds the gqlgen server: POST with JSON (the only way to run a
// mutation) and GET for queries (httpTransport); no form or multipart
// transports, which is what keeps cross-site forms from running mutations.
func NewServer(svc *auth.Service, opts Options) *handler.Server {
	r := &Resolver{Auth: svc}
	cfg := Config{Resolvers: r}
	cfg.Directives.Auth = r.authDirective
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(httpTransport{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(opts.TokenLimit)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.FixedComplexityLimit(opts.ComplexityLimit))
	srv.AroundOperations(refuseForeignMutations)
	srv.SetErrorPresenter(errorPresenter(opts.Log))
	srv.SetRecoverFunc(recoverFunc(opts.Log))
	return srv
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
