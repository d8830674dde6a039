package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// authDirective implements @auth: the field runs only for a caller with a valid
// access token of a live session.
func (r *Resolver) authDirective(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if _, err := r.principal(ctx); err != nil {
		return nil, err
	}
	return next(ctx)
}
