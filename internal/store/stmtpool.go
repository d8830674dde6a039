package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// maxPreparedStatements bounds a pool's statement cache. authql runs a few
// dozen distinct statements; a query whose text varies with its input (an IN
// list of some length) would otherwise grow the cache, and the server's own
// count of prepared statements, without end. Past the bound, a new statement
// runs unprepared.
const maxPreparedStatements = 512

// stmtPool is the connection pool GORM runs on: every statement is prepared
// once on the pool and reused on each connection it meets, inside
// transactions too. SQLite then compiles a statement once per connection
// instead of on every call, and MySQL parses it once.
//
// It replaces GORM's PrepareStmt, which caches a statement first prepared
// inside a transaction as bound to that transaction: database/sql cannot move
// such a statement to another one, so every later transaction prepared it
// again (SQLite compiled each statement of a refresh on every refresh, and
// MySQL paid a round trip to prepare and one to close). Statements prepared
// here belong to the pool, and (*sql.Tx).StmtContext reuses the one already
// prepared on the transaction's connection.
type stmtPool struct {
	db    *sql.DB
	mu    sync.Mutex // serializes preparing, so each query is prepared once
	stmts sync.Map   // query → *sql.Stmt
	n     atomic.Int32
}

func newStmtPool(db *sql.DB) *stmtPool { return &stmtPool{db: db} }

// stmt is query's statement prepared on the pool, preparing it now if it is
// new. It is nil, with no error, when query is to run unprepared: the cache
// is full, or the server refused to prepare it (running it answers why, if it
// fails). An error means the database could not be reached or the caller gave
// up: running the query unprepared would only try, and wait, again.
func (p *stmtPool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := p.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	if p.n.Load() >= maxPreparedStatements {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		if c := classify(err); errors.Is(c, ErrUnavailable) || ctx.Err() != nil {
			return nil, err
		}
		return nil, nil
	}
	p.stmts.Store(query, s)
	p.n.Add(1)
	return s, nil
}

func (p *stmtPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, query)
}

func (p *stmtPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := p.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case s != nil:
		return s.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p *stmtPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := p.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case s != nil:
		return s.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

// QueryRowContext cannot return stmt's error itself (a *sql.Row carries only
// the errors database/sql makes), so a query whose preparation failed runs
// unprepared and fails there.
func (p *stmtPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s, err := p.stmt(ctx, query); s != nil && err == nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// BeginTx starts a transaction whose statements use the pool's.
func (p *stmtPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &stmtTx{Tx: tx, pool: p}, nil
}

// GetDBConn is the pool's *sql.DB (gorm.DB.DB).
func (p *stmtPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

// Ping checks the database (gorm.Open).
func (p *stmtPool) Ping() error { return p.db.Ping() }

// stmtTx is a transaction of a stmtPool.
type stmtTx struct {
	*sql.Tx
	pool *stmtPool
	// fresh are the statements this transaction ran that the pool had not
	// prepared yet: they run unprepared, and are prepared on the pool once
	// the transaction has ended. Preparing on the pool needs a connection of
	// its own, and while every connection is held by a transaction waiting
	// for one (SQLite's writer pool has one), none would come.
	fresh []string
}

// on is query's statement on the transaction's connection, or nil to run it
// unprepared.
func (t *stmtTx) on(ctx context.Context, query string) *sql.Stmt {
	s, ok := t.pool.stmts.Load(query)
	if !ok {
		if !slices.Contains(t.fresh, query) {
			t.fresh = append(t.fresh, query)
		}
		return nil
	}
	return t.Tx.StmtContext(ctx, s.(*sql.Stmt))
}

// Commit commits, then prepares the transaction's fresh statements.
func (t *stmtTx) Commit() error {
	defer t.prepareFresh()
	return t.Tx.Commit()
}

// Rollback rolls back, then prepares the transaction's fresh statements.
func (t *stmtTx) Rollback() error {
	defer t.prepareFresh()
	return t.Tx.Rollback()
}

func (t *stmtTx) prepareFresh() {
	if len(t.fresh) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, q := range t.fresh {
		_, _ = t.pool.stmt(ctx, q) // unprepared until a later transaction's end, if it fails
	}
	t.fresh = nil
}

func (t *stmtTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s := t.on(ctx, query)
	if s == nil {
		return t.Tx.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}

func (t *stmtTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s := t.on(ctx, query)
	if s == nil {
		return t.Tx.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

func (t *stmtTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s := t.on(ctx, query)
	if s == nil {
		return t.Tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// GetDBConn is the pool's *sql.DB.
func (t *stmtTx) GetDBConn() (*sql.DB, error) { return t.pool.db, nil }
