package tracing

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// GORM is the plugin that makes a span of each database statement, a child
// of the span in the statement's context (the GraphQL operation's).
//
// A span records the statement with its placeholders, never the values bound
// to them (password hashes, token hashes, addresses), and an error's class,
// never its text, which may quote a value (MySQL's "Duplicate entry ..."). It
// is a few callbacks rather than gorm.io/plugin/opentelemetry, which links the
// ClickHouse, PostgreSQL and SQL Server drivers into the binary to name
// servers authql never talks to.
func GORM(tp trace.TracerProvider) gorm.Plugin {
	return gormPlugin{tracer: tp.Tracer("github.com/authql/authql/internal/store")}
}

type gormPlugin struct{ tracer trace.Tracer }

func (gormPlugin) Name() string { return "authql:tracing" }

// spanKey keeps a statement's span between its before and after callbacks.
const spanKey = "authql:tracing:span"

func (p gormPlugin) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	type registrar interface {
		Register(name string, fn func(*gorm.DB)) error
	}
	hooks := []struct {
		op            string
		before, after registrar
	}{
		{"create", cb.Create().Before("gorm:create"), cb.Create().After("gorm:create")},
		{"query", cb.Query().Before("gorm:query"), cb.Query().After("gorm:query")},
		{"update", cb.Update().Before("gorm:update"), cb.Update().After("gorm:update")},
		{"delete", cb.Delete().Before("gorm:delete"), cb.Delete().After("gorm:delete")},
		{"row", cb.Row().Before("gorm:row"), cb.Row().After("gorm:row")},
		{"raw", cb.Raw().Before("gorm:raw"), cb.Raw().After("gorm:raw")},
	}
	for _, h := range hooks {
		if err := h.before.Register("authql:trace_before_"+h.op, p.before(h.op)); err != nil {
			return err
		}
		if err := h.after.Register("authql:trace_after_"+h.op, p.after); err != nil {
			return err
		}
	}
	return nil
}

func (p gormPlugin) before(op string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		ctx := db.Statement.Context
		if !trace.SpanFromContext(ctx).IsRecording() {
			return // no operation being traced: no orphan statement spans
		}
		name := "db." + op
		if db.Statement.Table != "" {
			name += " " + db.Statement.Table
		}
		_, span := p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", db.Dialector.Name())))
		db.InstanceSet(spanKey, span)
	}
}

func (gormPlugin) after(db *gorm.DB) {
	v, ok := db.InstanceGet(spanKey)
	if !ok {
		return
	}
	span := v.(trace.Span)
	defer span.End()
	span.SetAttributes(
		attribute.String("db.query.text", strings.TrimSpace(db.Statement.SQL.String())),
		attribute.Int64("db.response.rows_affected", db.RowsAffected),
	)
	if db.Error != nil && !errors.Is(db.Error, gorm.ErrRecordNotFound) {
		span.SetStatus(codes.Error, "statement failed")
		span.SetAttributes(attribute.String("error.type", errorType(db.Error)))
	}
}

// errorType is the error's class: its Go type, never its text.
func errorType(err error) string { return fmt.Sprintf("%T", err) }
