// Package verify lets other Go services accept authql access tokens without
// sharing a secret with authql: it verifies them against the public keys
// authql publishes at <base>/.well-known/jwks.json.
//
// It accepts only tokens that authql signed as access tokens: header typ
// "at+jwt", alg EdDSA, ES256 or RS256 matching the published key named by
// kid, the configured iss and aud, and an exp in the future (nbf is honoured
// when present). HS256 tokens, which authql issues when it runs without a
// JWKS file, cannot be verified here by design.
//
// The key set is cached as long as its Cache-Control max-age says (within
// bounds) and refreshed when a token names an unknown kid, at most once per
// [Config.MinRefreshInterval], so rotated keys are picked up without letting
// forged kids hammer authql. A failed refresh keeps the keys already known.
//
// # Using it in a gqlgen server
//
// Declare the directive in the schema and mark the fields that need a user:
//
//	directive @auth on FIELD_DEFINITION
//
//	type Query {
//	  publicPosts: [Post!]!
//	  me: User! @auth
//	}
//
// Then, in a service laid out by "gqlgen init" (package graph holds the
// generated code and the resolvers), main.go is:
//
//	package main
//
//	import (
//		"context"
//		"log"
//		"net/http"
//
//		"github.com/99designs/gqlgen/graphql/handler"
//		"github.com/99designs/gqlgen/graphql/handler/transport"
//		"github.com/authql/authql/verify"
//
//		"example.com/myservice/graph"
//	)
//
//	func main() {
//		v, err := verify.New(context.Background(), verify.Config{
//			JWKSURL:  "https://auth.example.com/.well-known/jwks.json",
//			Issuer:   "https://auth.example.com",
//			Audience: "myservice",
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//
//		cfg := graph.Config{Resolvers: &graph.Resolver{}}
//		cfg.Directives.Auth = verify.AuthDirective()
//		srv := handler.New(graph.NewExecutableSchema(cfg))
//		srv.AddTransport(transport.POST{})
//
//		http.Handle("/query", v.Middleware(srv))
//		log.Fatal(http.ListenAndServe(":8080", nil))
//	}
//
// A resolver reads the user with [ClaimsFromContext]:
//
//	func (r *queryResolver) Me(ctx context.Context) (*model.User, error) {
//		claims, _ := verify.ClaimsFromContext(ctx) // present: @auth checked it
//		return r.users.Get(ctx, claims.Subject)
//	}
//
// For endpoints that are private as a whole, wrap them with
// [Verifier.RequireAuth] instead; it answers 401 without calling them.
package verify
