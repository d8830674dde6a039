package verify

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// claimsKey is the context key for *Claims. Being an unexported type, no
// other package can set or overwrite the claims by accident or on purpose.
type claimsKey struct{}

// ContextWithClaims returns a copy of ctx carrying c. The middleware uses it;
// tests of services built on this package can use it to act as a user.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims of the request's verified access
// token, if it had one.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// Middleware verifies the request's bearer token and, when it is valid, puts
// its claims in the request context. Requests without a token, or with an
// invalid one, go on without claims: a GraphQL endpoint serves public and
// private fields alike, and the private ones are guarded per field by
// [AuthDirective] (or by resolvers calling [ClaimsFromContext]).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := v.Verify(r.Context(), bearerToken(r))
		switch {
		case err == nil:
			r = r.WithContext(ContextWithClaims(r.Context(), claims))
		case !errors.Is(err, ErrMissingToken):
			v.logger.DebugContext(r.Context(), "verify: ignoring invalid bearer token", "error", err)
		}
		next.ServeHTTP(w, r)
	})
}

// RequireAuth is like Middleware but answers 401 Unauthorized, without
// calling next, when the request has no valid token. As RFC 6750 section 3
// asks, the WWW-Authenticate challenge carries error="invalid_token" only
// when a token was presented.
func (v *Verifier) RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := v.Verify(r.Context(), bearerToken(r))
		if err != nil {
			challenge := "Bearer"
			if !errors.Is(err, ErrMissingToken) {
				challenge = `Bearer error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), claims)))
	})
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive), or "" when there is none.
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
