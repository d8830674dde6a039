// Package tracing installs OpenTelemetry tracing when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set:
// spans are batched and exported over OTLP/HTTP, configured by the standard
// OTEL_* variables (headers, timeout, service name, sampler). Without it
// nothing is installed and every tracer is OpenTelemetry's no-op.
package tracing

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Enabled reports whether getenv asks for spans to be exported.
func Enabled(getenv func(string) string) bool {
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Off reports whether tp is OpenTelemetry's no-op provider, Setup's when
// nothing is exported: a caller then skips the spans altogether, whose
// names and attributes would otherwise still be built on every request.
func Off(tp trace.TracerProvider) bool {
	_, ok := tp.(noop.TracerProvider)
	return ok
}

// Setup installs the OTLP exporter when getenv asks for it and returns the
// provider with the function that flushes and stops it; otherwise the no-op
// provider and a shutdown that does nothing.
func Setup(ctx context.Context, getenv func(string) string, version string) (trace.TracerProvider, func(context.Context) error, error) {
	if !Enabled(getenv) {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName("authql"), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, nil, err
	}
	// OTEL_SERVICE_NAME, read by resource.Default, still wins over "authql".
	res, err = resource.Merge(res, resource.Environment())
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp, tp.Shutdown, nil
}
