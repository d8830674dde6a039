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
// Then set [AuthDirective] as the @auth directive of the generated config and
// wrap the GraphQL handler in [Verifier.Middleware], which puts the verified
// claims in the request's context: the package's Example is that main.go.
// A resolver reads the user with [ClaimsFromContext] (ExampleClaimsFromContext).
// Besides who the user is, [Claims] say whether they verified their email
// (EmailVerified) and how the session was authenticated (AMR): gate what
// needs a second factor on [Claims.AuthenticatedWith]("otp")
// (ExampleClaims_AuthenticatedWith).
//
// For endpoints that are private as a whole, wrap them with
// [Verifier.RequireAuth] instead; it answers 401 without calling them.
package verify
