package verify

import (
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

func TestAuthDirective(t *testing.T) {
	// The directive must fit the field gqlgen generates for
	// "directive @auth on FIELD_DEFINITION".
	var generated struct {
		Auth func(ctx context.Context, obj any, next graphql.Resolver) (res any, err error)
	}
	generated.Auth = AuthDirective()

	tests := []struct {
		name     string
		ctx      context.Context
		wantNext bool
	}{
		{"without claims", context.Background(), false},
		{"with claims", ContextWithClaims(context.Background(), &Claims{Subject: "user-1"}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			next := func(ctx context.Context) (any, error) {
				called = true
				c, _ := ClaimsFromContext(ctx)
				return "secret of " + c.Subject, nil
			}
			res, err := generated.Auth(tt.ctx, nil, next)
			if called != tt.wantNext {
				t.Fatalf("next called = %v, want %v", called, tt.wantNext)
			}
			if tt.wantNext {
				if err != nil || res != "secret of user-1" {
					t.Errorf("got %v, %v", res, err)
				}
				return
			}
			var gqlErr *gqlerror.Error
			if !errors.As(err, &gqlErr) {
				t.Fatalf("err = %#v, want *gqlerror.Error", err)
			}
			if gqlErr.Message != "authentication required" || gqlErr.Extensions["code"] != "UNAUTHENTICATED" {
				t.Errorf("err = %q %v", gqlErr.Message, gqlErr.Extensions)
			}
			if res != nil {
				t.Errorf("res = %v, want nil", res)
			}
		})
	}
}
