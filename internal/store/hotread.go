package store

import (
	"context"
	"errors"
)

// StatementTracer makes a span of a statement the store runs on database/sql
// itself, outside GORM's callbacks (hotReads). A plugin given to Store.Use
// that implements it is called for those statements; end receives the
// statement's text (placeholders, never values), the rows it returned and
// its error.
type StatementTracer interface {
	StartStatement(ctx context.Context, op, table, system string) (end func(query string, rows int64, err error))
}

// hotReads runs the reads of the @auth check, made on every authenticated
// request, on the read pool through database/sql itself: GORM's per-call
// statement building, callback chain and reflection were about a quarter of
// me's allocations. They still pass the failure hook, as any statement
// does, and the statement tracer (the GORM plugin's spans) when one is set.
// Only the Store's own Queries have one: inside a transaction reads go
// through GORM and its transaction.
type hotReads struct {
	pool *stmtPool // the read pool, whose statements are prepared once
	// queue admits as many reads at once as the pool has connections, first
	// come first served. Past it, database/sql would hand a freed connection
	// to a random waiter, not the longest waiting one, and a request could
	// lose that draw many times while 32 clients share SQLite's four read
	// connections.
	queue  chan struct{}
	system string // "sqlite" or "mysql", for spans
	hook   FailureHook
	tracer StatementTracer
	// record sees each statement with its argument once it ran (tests:
	// RecordSQL, as GORM's callbacks show them the others).
	record func(query string, args []any)
}

func newHotReads(pool *stmtPool, system string, hook FailureHook) *hotReads {
	h := &hotReads{pool: pool, system: system, hook: hook}
	if n := pool.db.Stats().MaxOpenConnections; n > 0 {
		h.queue = make(chan struct{}, n)
	}
	return h
}

// row runs query with args and scans its first row into dest: ErrNotFound
// when there is none.
func (h *hotReads) row(ctx context.Context, table, query string, args []any, dest ...any) (err error) {
	if h.hook != nil {
		if err := h.hook(ctx, Statement{Table: table, Kind: "select"}); err != nil {
			return classify(err)
		}
	}
	if h.queue != nil {
		select {
		case h.queue <- struct{}{}:
		case <-ctx.Done():
			return classify(ctx.Err())
		}
		defer func() { <-h.queue }()
	}
	var n int64
	if h.tracer != nil {
		end := h.tracer.StartStatement(ctx, "query", table, h.system)
		defer func() {
			if errors.Is(err, ErrNotFound) {
				end(query, n, nil) // no row is an answer, not a failure
			} else {
				end(query, n, err)
			}
		}()
	}
	rows, err := h.pool.QueryContext(ctx, query, args...)
	if err != nil {
		return classify(err)
	}
	if h.record != nil {
		h.record(query, args)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return classify(err)
		}
		return ErrNotFound
	}
	n = 1
	if err := rows.Scan(dest...); err != nil {
		return classify(err)
	}
	return classify(rows.Close())
}
