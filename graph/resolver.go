// Package graph is authql's GraphQL layer: generated execution code, thin
// resolvers that call the auth service, the @auth directive and the one error
// presenter. It holds no domain logic.
package graph

import (
	"context"
	"time"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/reqctx"
)

// Resolver holds the resolvers' dependencies.
type Resolver struct {
	Auth *auth.Service
}

// client is what the HTTP layer learned of the caller's client.
func client(ctx context.Context) auth.Client {
	return reqctx.From(ctx).Client
}

// principal is the caller proven by the access token, checked once per request.
func (r *Resolver) principal(ctx context.Context) (auth.Principal, error) {
	req := reqctx.From(ctx)
	p, err := req.Memo(func() (*auth.Principal, error) { return r.Auth.Authenticate(ctx, req.Bearer) })
	if err != nil {
		return auth.Principal{}, err
	}
	return *p, nil
}

// deliver hands out a token pair. In cookie mode the refresh token goes into
// the HttpOnly cookie and the payload answers null in its place.
// It is curried so that a resolver can pass a service call's two results whole.
func deliver(ctx context.Context) func(*auth.Payload, error) (*auth.Payload, error) {
	return func(p *auth.Payload, err error) (*auth.Payload, error) {
		if err != nil {
			return nil, err
		}
		if req := reqctx.From(ctx); req.CookieMode && p.RefreshToken != nil {
			req.SetRefreshCookie(*p.RefreshToken, p.RefreshTokenExpiresAt)
			p.RefreshToken = nil
		}
		return p, nil
	}
}

// refreshTokenArg is the token argument, or in cookie mode the cookie when the
// argument is omitted.
func refreshTokenArg(ctx context.Context, token *string) string {
	if token != nil {
		return *token
	}
	if req := reqctx.From(ctx); req.CookieMode {
		return req.RefreshCookie
	}
	return ""
}

// clearCookie removes the refresh cookie after a logout, in cookie mode.
func clearCookie(ctx context.Context, err error) (bool, error) {
	if req := reqctx.From(ctx); req.CookieMode && err == nil {
		req.SetRefreshCookie("", time.Time{})
	}
	return err == nil, err
}
