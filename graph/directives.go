package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/authql/authql/internal/auth"
)

// authDirective implements @auth: the field runs only for a caller with a valid
// access token of a live session, and finds that caller with caller(ctx).
func (r *Resolver) authDirective(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	p, err := r.principal(ctx)
	if err != nil {
		return nil, err
	}
	// The memoized principal itself: boxing a copy cost an allocation per field.
	return next(context.WithValue(ctx, principalKey{}, p))
}

type principalKey struct{}

// caller is the principal @auth proved for this field. A field without @auth
// gets the zero Principal, whom no query finds: it fails closed.
func caller(ctx context.Context) auth.Principal {
	if p, ok := ctx.Value(principalKey{}).(*auth.Principal); ok && p != nil {
		return *p
	}
	return auth.Principal{}
}
