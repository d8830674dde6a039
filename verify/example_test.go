package verify_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/authql/authql/verify"
)

// The wiring of a gqlgen server that declares "directive @auth on
// FIELD_DEFINITION" in its schema and accepts authql's access tokens. In a
// service laid out by "gqlgen init", DirectiveRoot is the generated
// graph.DirectiveRoot (set it as cfg.Directives, cfg being
// graph.Config{Resolvers: &graph.Resolver{}}), and graphqlHandler is
// handler.New(graph.NewExecutableSchema(cfg)) with transport.POST{} added.
func Example() {
	v, err := verify.New(context.Background(), verify.Config{
		JWKSURL:  "https://auth.example.com/.well-known/jwks.json",
		Issuer:   "https://auth.example.com", // authql's AUTHQL_ISSUER
		Audience: "myservice",                // authql's AUTHQL_AUDIENCE
	})
	if err != nil {
		log.Fatal(err)
	}

	type DirectiveRoot struct {
		Auth func(ctx context.Context, obj any, next graphql.Resolver) (res any, err error)
	}
	var directives DirectiveRoot
	directives.Auth = verify.AuthDirective() // UNAUTHENTICATED without a valid token
	_ = directives

	var graphqlHandler http.Handler = http.NotFoundHandler()
	http.Handle("/query", v.Middleware(graphqlHandler)) // puts verified claims in the context
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// A resolver (or any handler behind the middleware) reads the verified user
// from its context.
func ExampleClaimsFromContext() {
	me := func(ctx context.Context) (string, error) {
		claims, ok := verify.ClaimsFromContext(ctx)
		if !ok {
			return "", verify.ErrMissingToken
		}
		return claims.Subject + " in session " + claims.SessionID, nil
	}

	// In production the middleware fills the context; tests can do it directly.
	ctx := verify.ContextWithClaims(context.Background(), &verify.Claims{Subject: "u_42", SessionID: "s_7"})
	user, _ := me(ctx)
	fmt.Println(user)
	_, err := me(context.Background())
	fmt.Println(err)
	// Output:
	// u_42 in session s_7
	// verify: missing token
}

// A field that needs a second factor gates on the amr claim: the session
// must have been authenticated with a one-time code (verifyMfa), not the
// password alone.
func ExampleClaims_AuthenticatedWith() {
	requireOTP := func(ctx context.Context) error {
		claims, ok := verify.ClaimsFromContext(ctx)
		if !ok {
			return verify.ErrMissingToken
		}
		if !claims.AuthenticatedWith("otp") {
			return errors.New("this needs a login with a second factor")
		}
		return nil
	}

	password := verify.ContextWithClaims(context.Background(), &verify.Claims{Subject: "u_42", AMR: []string{"pwd"}})
	otp := verify.ContextWithClaims(context.Background(), &verify.Claims{Subject: "u_42", EmailVerified: true, AMR: []string{"pwd", "otp"}})
	fmt.Println(requireOTP(password))
	fmt.Println(requireOTP(otp))
	// Output:
	// this needs a login with a second factor
	// <nil>
}
