package verify

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// AuthDirective implements a schema directive such as
//
//	directive @auth on FIELD_DEFINITION
//
// for gqlgen: assign it to the generated config's Directives.Auth. A field
// marked @auth resolves only when [Verifier.Middleware] (or RequireAuth) put
// verified claims in the context; otherwise it fails with the message
// "authentication required" and extensions.code "UNAUTHENTICATED", the code
// GraphQL clients (Apollo and others) conventionally look for.
func AuthDirective() func(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	return func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
		if _, ok := ClaimsFromContext(ctx); !ok {
			return nil, &gqlerror.Error{
				Message:    "authentication required",
				Extensions: map[string]any{"code": "UNAUTHENTICATED"},
			}
		}
		return next(ctx)
	}
}
