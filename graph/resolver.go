// Package graph is authql's GraphQL layer: generated execution code, thin
// resolvers that call the auth service, the @auth directive, the HTTP
// transport that refuses what it does not serve, and the one error presenter
// with every code (codes.go). It holds no domain logic.
package graph

//go:generate go run github.com/99designs/gqlgen generate

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/reqctx"
)

// Resolver holds the resolvers' dependencies.
type Resolver struct {
	Auth *auth.Service
	// CookieMode hands refresh tokens out in the HttpOnly cookie, and takes
	// the cookie when a mutation omits its token.
	CookieMode bool
}

// client is what the HTTP layer learned of the caller's client.
func client(ctx context.Context) auth.Client {
	return reqctx.From(ctx).Client
}

// principal is the caller proven by the access token. The fields of a query
// only read, and share one check per request: no one may change the principal
// it returns. A mutation's fields run one after another, and one may end the
// caller's session (logoutAll, revokeSession): each checks the token again, so
// that none runs on a session a field before it revoked.
func (r *Resolver) principal(ctx context.Context) (*auth.Principal, error) {
	req := reqctx.From(ctx)
	if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Mutation {
		return r.Auth.Authenticate(ctx, req.Bearer)
	}
	return req.Memo(func() (*auth.Principal, error) { return r.Auth.Authenticate(ctx, req.Bearer) })
}

// deliver hands out a token pair. In cookie mode the refresh token goes into
// the HttpOnly cookie and the payload answers null in its place.
// It is curried so that a resolver can pass a service call's two results whole.
func (r *Resolver) deliver(ctx context.Context) func(*auth.Payload, error) (*auth.Payload, error) {
	return func(p *auth.Payload, err error) (*auth.Payload, error) {
		if err != nil {
			return nil, err
		}
		if r.CookieMode && p.RefreshToken != nil {
			reqctx.From(ctx).SetRefreshCookie(*p.RefreshToken, p.RefreshTokenExpiresAt)
			p.RefreshToken = nil
		}
		return p, nil
	}
}

// refreshTokenArg is the token argument, or in cookie mode the cookie when the
// argument is omitted.
func (r *Resolver) refreshTokenArg(ctx context.Context, token *string) string {
	if token != nil {
		return *token
	}
	if r.CookieMode {
		return reqctx.From(ctx).RefreshCookie
	}
	return ""
}

// clearCookie removes the refresh cookie after a logout, in cookie mode.
func (r *Resolver) clearCookie(ctx context.Context, err error) (bool, error) {
	if r.CookieMode && err == nil {
		reqctx.From(ctx).SetRefreshCookie("", time.Time{})
	}
	return err == nil, err
}
