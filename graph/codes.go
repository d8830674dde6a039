package graph

import "github.com/99designs/gqlgen/graphql/errcode"

// The codes a client finds in errors[].extensions.code: the whole list, in
// one place. Each is written here and nowhere else; what error answers which
// code, and with what message, is the presenter's table (errors.go).
const (
	// Refused before the operation runs.
	CodeBadRequest       = "BAD_REQUEST"       // not GraphQL over HTTP as served here
	CodeRequestTooLarge  = "REQUEST_TOO_LARGE" // a body over the limit
	CodeParseFailed      = errcode.ParseFailed // gqlgen's: a document that does not parse
	CodeValidationFailed = errcode.ValidationFailed
	// CodeQueryTooComplex refuses a document over the Limits or an operation
	// over the complexity limit (gqlgen's own code for the latter).
	CodeQueryTooComplex = "COMPLEXITY_LIMIT_EXCEEDED"
	CodeForbidden       = "FORBIDDEN" // a mutation from a foreign origin

	// Answered by the operation.
	CodeBadUserInput       = "BAD_USER_INPUT"
	CodeEmailTaken         = "EMAIL_TAKEN"
	CodeInvalidCredentials = "INVALID_CREDENTIALS"
	CodeUnauthenticated    = "UNAUTHENTICATED"
	CodeInvalidRefresh     = "INVALID_REFRESH_TOKEN"
	CodeNotFound           = "NOT_FOUND"
	CodeRateLimited        = "RATE_LIMITED"
	CodeUnavailable        = "SERVICE_UNAVAILABLE"
	CodeInternal           = "INTERNAL_SERVER_ERROR"
	CodeInvalidToken       = "INVALID_TOKEN"    // an email token or mfaToken that does not work
	CodeMFARequired        = "MFA_REQUIRED"     // the password was right; extensions.mfaToken goes on
	CodeInvalidMFACode     = "INVALID_MFA_CODE" // a TOTP or recovery code that does not work
	// CodeResponseTooLarge withholds a result larger than the response cap.
	CodeResponseTooLarge = "RESPONSE_TOO_LARGE"
)
