package graphtest

import (
	"fmt"
	"strings"
)

// IntrospectionQuery is the query the GraphiQL playground sends (graphql-js's
// getIntrospectionQuery, as GraphiQL 3.9 builds it) with every option on,
// the largest it can be.
const IntrospectionQuery = `
    query IntrospectionQuery {
      __schema {
        description
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          isRepeatable
          locations
          args(includeDeprecated: true) {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      specifiedByURL
      isOneOf
      fields(includeDeprecated: true) {
        name
        description
        args(includeDeprecated: true) {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields(includeDeprecated: true) {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      isDeprecated
      deprecationReason
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                    ofType {
                      kind
                      name
                      ofType {
                        kind
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  `

// FullPages reads, in one query, me, a whole page of sessions and a whole
// page of audit events (first: 100), every field of each, with the
// __typename a client such as Apollo adds to every selection.
const FullPages = `query FullPages {
  me { id email createdAt __typename }
  sessions { id createdAt lastUsedAt expiresAt userAgent ipAddress current __typename }
  myAuditEvents(first: 100) {
    edges { cursor node { id type createdAt sessionId ipAddress userAgent detail __typename } __typename }
    pageInfo { hasNextPage endCursor __typename }
    __typename
  }
}`

const payload = `accessToken refreshToken tokenType expiresIn accessTokenExpiresAt refreshTokenExpiresAt user { id email createdAt }`

// Document is a legitimate request.
type Document struct {
	Name  string
	Query string
	Vars  map[string]any
}

// Legitimate are the schema's legitimate requests that come nearest the
// limits, and one of each operation.
func Legitimate() []Document {
	var logins, logouts strings.Builder
	logins.WriteString("mutation {")
	for i := range 60 {
		fmt.Fprintf(&logins, " l%d: login(input: {email: \"someone@example.com\", password: \"a wrong password\"}) { %s }", i, payload)
	}
	logins.WriteString(" }")
	logouts.WriteString("mutation($t: String) {")
	for i := range 400 {
		fmt.Fprintf(&logouts, " l%d: logout(token: $t)", i)
	}
	logouts.WriteString(" }")
	cred := map[string]any{"e": "someone@example.com", "p": "a password"}
	return []Document{
		{"introspection", IntrospectionQuery, nil},
		{"full pages", FullPages, nil},
		{"60 aliased logins", logins.String(), nil},
		{"400 aliased logouts", logouts.String(), map[string]any{"t": "x"}},
		{"signup", `mutation($e: String!, $p: String!) { signup(input: {email: $e, password: $p}) { ` + payload + ` } }`, cred},
		{"login", `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { ` + payload + ` } }`, cred},
		{"refreshToken", `mutation($t: String) { refreshToken(token: $t) { ` + payload + ` } }`, map[string]any{"t": "x"}},
		{"logout", `mutation($t: String) { logout(token: $t) }`, map[string]any{"t": "x"}},
		{"logoutAll", `mutation { logoutAll }`, nil},
		{"revokeSession", `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": "x"}},
		{"changePassword", `mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { ` + payload + ` } }`, map[string]any{"c": "a password", "n": "another password"}},
		{"fragments and directives", `query Me($full: Boolean = true) { me { ...U } sessions @include(if: $full) { ... on Session { id current } } } fragment U on User { id email @skip(if: false) }`, nil},
	}
}
