package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracing is a span per GraphQL operation, the parent of the spans of the
// database statements it runs. Its name and attributes are the operation's
// type and root field and the codes of its errors: never the document, the
// variables or the arguments, which carry passwords and tokens. (That is why
// it is authql's own rather than a contributed gqlgen tracer, which records
// all three.) With no tracer provider installed it costs a no-op span.
type tracing struct{ tracer trace.Tracer }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = tracing{}

// tracerName is the instrumentation scope of authql's GraphQL spans.
const tracerName = "github.com/authql/authql/graph"

func newTracing(tp trace.TracerProvider) tracing {
	return tracing{tracer: tp.Tracer(tracerName)}
}

func (tracing) ExtensionName() string                   { return "authql tracing" }
func (tracing) Validate(graphql.ExecutableSchema) error { return nil }
func (t tracing) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	op := graphql.GetOperationContext(ctx)
	kind, label := "", operationLabel(op.Operation)
	if op.Operation != nil {
		kind = string(op.Operation.Operation)
	}
	ctx, span := t.tracer.Start(ctx, kind+" "+label, trace.WithAttributes(
		attribute.String("graphql.operation.type", kind),
		attribute.String("authql.graphql.operation", label),
	))
	defer span.End()
	resp := next(ctx)
	if resp != nil && len(resp.Errors) > 0 && span.IsRecording() {
		errCodes := make([]string, 0, len(resp.Errors))
		for _, e := range resp.Errors {
			if c, ok := e.Extensions["code"].(string); ok {
				errCodes = append(errCodes, c)
			}
		}
		span.SetAttributes(attribute.StringSlice("authql.graphql.error_codes", errCodes))
		span.SetStatus(codes.Error, "the operation answered errors")
	}
	return resp
}
