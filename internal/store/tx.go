package store

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/authql/authql/internal/store/migrationlock"
)

// The retry policy of a transaction the database aborted to break a deadlock,
// a lock wait timeout or (on Galera) a certification conflict. Such a
// transaction left nothing behind, so its whole closure runs again, after a
// pause that doubles from txBackoffBase up to txBackoffMax, each drawn at
// random from its upper half so that the transactions that collided do not
// collide again in step. Five attempts wait at most 75 ms in all.
const (
	txAttempts    = 5
	txBackoffBase = 5 * time.Millisecond
	txBackoffMax  = 80 * time.Millisecond
)

// InTx runs fn in one transaction: on SQLite an immediate one on the single
// writer connection, on MySQL a normal one whose locking reads take row locks.
// See InTxValue.
func (s *Store) InTx(ctx context.Context, fn func(q *Queries) error) error {
	// Named by InTxValue.
	_, err := InTxValue(ctx, s, func(q *Queries) (struct{}, error) { return struct{}{}, fn(q) })
	return err
}

// InTxValue runs fn in one transaction and returns what it returns once the
// transaction has committed.
//
// The transaction commits only when fn returns nil and no statement of it
// failed: an error that fn handled, or ignored, still rolls everything back,
// because after a deadlock InnoDB has already rolled the transaction back and
// every later statement would commit on its own.
//
// A transaction aborted by a deadlock, a lock wait timeout or a certification
// conflict runs again from the start (see txAttempts). fn must therefore
// derive everything from q and from values it does not change: its result is
// its outcome, and nothing it captured may carry state from an attempt that
// rolled back.
func InTxValue[T any](ctx context.Context, s *Store, fn func(q *Queries) (T, error)) (_ T, err error) {
	defer wrap(&err, "store.InTx")
	var v T
	err = retrying(ctx, func() (err error) {
		v, err = runTx(ctx, s, fn)
		return err
	})
	if err != nil {
		var zero T
		return zero, classify(err)
	}
	return v, nil
}

// retrying runs op, and again after a pause while it fails with contention
// (retryable), at most txAttempts times in all. It returns op's last error,
// or the context's if it ends during a pause.
func retrying(ctx context.Context, op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if !retryable(err) || attempt == txAttempts {
			return err
		}
		if err := pause(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

func runTx[T any](ctx context.Context, s *Store, fn func(q *Queries) (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	run := func() {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			st := s.txs.track(tx.Statement.ConnPool)
			defer s.txs.forget(tx.Statement.ConnPool)
			var err error
			v, err = fn(&Queries{db: tx, read: tx, locking: s.dialect == "mysql", mysql: s.dialect == "mysql", batches: s.batches})
			// A failed statement outranks whatever fn made of it: it is the cause,
			// and the only error that tells whether to retry.
			if failed := st.failed(); failed != nil {
				return failed
			}
			return err
		})
	}
	if s.writer == nil {
		run()
		return v, err
	}
	// SQLite: the writer's goroutine runs it, in the order transactions
	// arrived (writer).
	if werr := s.writer.do(ctx, run); werr != nil {
		var zero T
		return zero, werr
	}
	return v, err
}

// retryable reports contention that running the transaction again may not
// meet: a deadlock or certification conflict (1213), which rolled it back
// already, a lock wait timeout (1205), after which it is rolled back whole
// as any transaction with a failed statement is, or ErrConflict from fn.
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.Is(err, ErrConflict) || errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// backoff is the pause before attempt+1: exponential, capped, jittered.
func backoff(attempt int) time.Duration {
	d := min(txBackoffBase<<(attempt-1), txBackoffMax)
	return d/2 + rand.N(d/2)
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// txState is what the store knows of one open transaction: the first
// statement that failed in it.
type txState struct {
	mu  sync.Mutex
	err error
}

func (t *txState) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

func (t *txState) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// openTxs finds the transaction a statement runs in by the connection it runs
// on (GORM hands every statement of a transaction the same *sql.Tx).
type openTxs struct{ m sync.Map }

func (o *openTxs) track(conn gorm.ConnPool) *txState {
	st := &txState{}
	o.m.Store(conn, st)
	// A statement the server cannot prepare runs on the transaction under
	// GORM's prepared one (Queries.unprepared): the same transaction.
	if tx, ok := conn.(*stmtTx); ok {
		o.m.Store(tx.Tx, st)
	}
	return st
}

func (o *openTxs) forget(conn gorm.ConnPool) {
	o.m.Delete(conn)
	if tx, ok := conn.(*stmtTx); ok {
		o.m.Delete(tx.Tx)
	}
}

func (o *openTxs) lookup(conn gorm.ConnPool) *txState {
	if v, ok := o.m.Load(conn); ok {
		return v.(*txState)
	}
	return nil
}

// Statement describes a statement about to run, for a FailureHook.
type Statement struct {
	Table string // "users", "sessions", "refresh_tokens", "audit_events"; "" for raw SQL
	Kind  string // "select", "insert", "update", "delete" or "raw"
	InTx  bool
}

// FailureHook decides whether a statement fails, and with which error, instead
// of running; nil lets it run. It is how tests break a transaction at each of
// its statements: authql itself never sets one.
type FailureHook func(ctx context.Context, st Statement) error

// Option adjusts Open.
type Option func(*options)

type options struct {
	failure  FailureHook
	now      func() time.Time
	maxConns int // WithMaxConns; 0: DefaultMaxConns
	// migrations replaces the embedded migrations (tests: an older or newer
	// release's set); lock tunes the migration lock (tests: short leases).
	migrations fs.FS
	lock       migrationlock.Config
}

// WithFailureHook makes statements fail as hook decides. For tests only.
func WithFailureHook(hook FailureHook) Option {
	return func(o *options) { o.failure = hook }
}

// instrument registers the store's callbacks on a GORM handle. Before each
// statement: a transaction in which a statement failed refuses to run another
// (after a deadlock InnoDB has rolled the transaction back, and what ran next
// would commit on its own), then the failure hook, if any, decides. After it:
// a failure poisons the statement's transaction.
func (s *Store) instrument(db *gorm.DB, hook FailureHook) error {
	cb := db.Callback()
	return errors.Join(
		cb.Create().Before("gorm:create").Register("authql:before", s.before(hook, "insert")),
		cb.Query().Before("gorm:query").Register("authql:before", s.before(hook, "select")),
		cb.Update().Before("gorm:update").Register("authql:before", s.before(hook, "update")),
		cb.Delete().Before("gorm:delete").Register("authql:before", s.before(hook, "delete")),
		cb.Row().Before("gorm:row").Register("authql:before", s.before(hook, "select")),
		cb.Raw().Before("gorm:raw").Register("authql:before", s.before(hook, "raw")),
		cb.Create().After("gorm:create").Register("authql:after", s.after),
		cb.Query().After("gorm:query").Register("authql:after", s.after),
		cb.Update().After("gorm:update").Register("authql:after", s.after),
		cb.Delete().After("gorm:delete").Register("authql:after", s.after),
		cb.Row().After("gorm:row").Register("authql:after", s.after),
		cb.Raw().After("gorm:raw").Register("authql:after", s.after),
	)
}

func (s *Store) before(hook FailureHook, kind string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.Error != nil {
			return
		}
		tx := s.txs.lookup(db.Statement.ConnPool)
		if tx != nil {
			if err := tx.failed(); err != nil {
				db.AddError(err)
				return
			}
		}
		if hook == nil {
			return
		}
		err := hook(db.Statement.Context, Statement{Table: db.Statement.Table, Kind: kind, InTx: tx != nil})
		if err == nil {
			return
		}
		var me *mysql.MySQLError
		if tx != nil && errors.As(err, &me) && me.Number == 1213 {
			// What InnoDB does to the victim of a deadlock: the whole transaction
			// is rolled back at once, and the connection goes on in autocommit.
			_, _ = db.Statement.ConnPool.ExecContext(db.Statement.Context, "ROLLBACK")
		}
		db.AddError(err)
	}
}

// after records a failed statement against its transaction. Not finding a row
// is an answer, not a failure.
func (s *Store) after(db *gorm.DB) {
	if db.Error == nil || errors.Is(db.Error, gorm.ErrRecordNotFound) {
		return
	}
	if tx := s.txs.lookup(db.Statement.ConnPool); tx != nil {
		tx.fail(db.Error)
	}
}
