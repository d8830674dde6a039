package tracing

import (
	"context"
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
		db.InstanceSet(spanKey, p.start(ctx, op, db.Statement.Table, db.Dialector.Name()))
	}
}

// start opens the span of a statement of kind op on table ("" for raw SQL).
func (p gormPlugin) start(ctx context.Context, op, table, system string) trace.Span {
	name := "db." + op
	if table != "" {
		name += " " + table
	}
	_, span := p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", system)))
	return span
}

// end records a statement's text, rows and error class, and closes its span.
func end(span trace.Span, query string, rows int64, err error) {
	defer span.End()
	span.SetAttributes(
		attribute.String("db.query.text", strings.TrimSpace(query)),
		attribute.Int64("db.response.rows_affected", rows),
	)
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		span.SetStatus(codes.Error, "statement failed")
		span.SetAttributes(attribute.String("error.type", errorType(err)))
	}
}

// StartStatement is store.StatementTracer: the same span for a statement
// the store runs on database/sql itself.
func (p gormPlugin) StartStatement(ctx context.Context, op, table, system string) func(query string, rows int64, err error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return func(string, int64, error) {}
	}
	span := p.start(ctx, op, table, system)
	return func(query string, rows int64, err error) { end(span, query, rows, err) }
}

func (gormPlugin) after(db *gorm.DB) {
	// The same test as before's, first: InstanceGet formats a key on every
	// call, a cost every statement paid with tracing off.
	if !trace.SpanFromContext(db.Statement.Context).IsRecording() {
		return
	}
	v, ok := db.InstanceGet(spanKey)
	if !ok {
		return
	}
	end(v.(trace.Span), db.Statement.SQL.String(), db.RowsAffected, db.Error)
}

// errorType is the error's class: its Go type, never its text.
func errorType(err error) string { return fmt.Sprintf("%T", err) }
