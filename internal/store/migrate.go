package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/authql/authql/internal/store/migrationlock"
	"github.com/authql/authql/internal/store/migrations"
)

// VersionTable is where goose records the applied migrations.
const VersionTable = "authql_schema_migrations"

// Schema is the state of a database's schema after a migration run.
type Schema struct {
	// Version is the newest migration applied to the database.
	Version int64
	// Newest is the newest migration this binary knows.
	Newest int64
	// Applied lists the versions this run applied (or, for DownTo, rolled
	// back), oldest first.
	Applied []int64
}

// Newer reports a database migrated by a newer release than this binary, as
// during a rolling deploy where a new instance migrated first. The binary
// still serves: every migration it knows is applied.
func (s Schema) Newer() bool { return s.Version > s.Newest }

// MigrationStatus is one migration this binary knows and whether the
// database has it.
type MigrationStatus struct {
	Version   int64
	Name      string // the file, e.g. 00001_baseline.sql
	Applied   bool
	AppliedAt time.Time // zero when pending
}

// Migrator runs the schema migrations of one database, each run under the
// migration lock (package migrationlock).
type Migrator struct {
	db       *sql.DB
	dialect  string
	provider *goose.Provider
	lock     *migrationlock.Locker
	newest   int64

	mu     sync.Mutex
	cancel context.CancelCauseFunc // of the run in progress
}

// OpenMigrator connects to the database named by a URL, as Open does,
// without migrating it.
func OpenMigrator(ctx context.Context, rawURL string, opts ...Option) (_ *Migrator, err error) {
	defer wrap(&err, "store.OpenMigrator")
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return openMigrator(ctx, rawURL, o)
}

func openMigrator(ctx context.Context, rawURL string, o options) (*Migrator, error) {
	db, dialect, err := openMigrationDB(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	m := &Migrator{db: db, dialect: dialect}
	fsys := o.migrations
	if fsys == nil {
		if fsys, err = migrations.FS(dialect); err != nil {
			db.Close()
			return nil, err
		}
	}
	lc := o.lock
	lc.Dialect = dialect
	lc.OnLost = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.cancel != nil {
			m.cancel(migrationlock.ErrLost)
		}
	}
	m.lock, err = migrationlock.New(lc)
	if err != nil {
		db.Close()
		return nil, err
	}
	gd := goose.DialectMySQL
	if dialect == "sqlite" {
		gd = goose.DialectSQLite3
	}
	m.provider, err = goose.NewProvider(gd, db, fsys,
		goose.WithTableName(VersionTable),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	for _, src := range m.provider.ListSources() {
		m.newest = max(m.newest, src.Version)
	}
	return m, nil
}

// openMigrationDB opens a small pool of its own for migrations. On SQLite it
// must be separate from the store's one writer connection: goose keeps a
// connection for the whole run while the lock's heartbeat needs another.
func openMigrationDB(ctx context.Context, rawURL string) (*sql.DB, string, error) {
	var db *sql.DB
	var dialect string
	var err error
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		dialect = "sqlite"
		path := strings.TrimPrefix(rawURL, "sqlite://")
		if err := checkSQLitePath(path); err != nil {
			return nil, "", err
		}
		db, err = sql.Open("sqlite", path+sqliteWriter)
	case strings.HasPrefix(rawURL, "mysql://"):
		dialect = "mysql"
		var dsn string
		if dsn, err = MySQLDSN(rawURL); err != nil {
			return nil, "", err
		}
		db, err = sql.Open("mysql", dsn)
	default:
		return nil, "", errors.New("store: database URL must start with sqlite:// or mysql://")
	}
	if err != nil {
		return nil, "", fmt.Errorf("store: open %s: %w", dialect, err)
	}
	db.SetMaxOpenConns(3)
	db.SetMaxIdleConns(3)
	if err := retryBusy(func() error { return db.PingContext(ctx) }); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("store: open %s: %w", dialect, classify(err))
	}
	return db, dialect, nil
}

// run calls fn under the migration lock, with a context the lock cancels if
// its lease is lost. Every goose call that may write (even Up's first look,
// which creates the version table) runs inside.
func (m *Migrator) run(ctx context.Context, fn func(context.Context) error) (err error) {
	if err := m.lock.Lock(ctx, m.db); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.lock.Unlock(ctx, m.db)) }()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	m.mu.Lock()
	m.cancel = cancel
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.cancel = nil
		m.mu.Unlock()
	}()
	err = fn(ctx)
	if cause := context.Cause(ctx); errors.Is(cause, migrationlock.ErrLost) {
		return cause
	}
	return err
}

// Up applies every migration the database lacks. A database that already has
// newer ones than this binary knows is left as it is (Schema.Newer).
func (m *Migrator) Up(ctx context.Context) (_ Schema, err error) {
	defer wrap(&err, "store.Migrator.Up")
	var res []*goose.MigrationResult
	err = m.run(ctx, func(ctx context.Context) (err error) {
		res, err = m.provider.Up(ctx)
		return err
	})
	if err != nil {
		return Schema{}, m.explain(ctx, err)
	}
	return m.schema(ctx, res)
}

// DownTo rolls back every migration newer than version (0: all of them).
func (m *Migrator) DownTo(ctx context.Context, version int64) (_ Schema, err error) {
	defer wrap(&err, "store.Migrator.DownTo")
	if version < 0 {
		return Schema{}, errors.New("cannot migrate below version 0")
	}
	var res []*goose.MigrationResult
	err = m.run(ctx, func(ctx context.Context) (err error) {
		res, err = m.provider.DownTo(ctx, version)
		return err
	})
	if err != nil {
		return Schema{}, err
	}
	return m.schema(ctx, res)
}

// Status lists the migrations this binary knows, oldest first, with the
// database's version (which may be newer).
func (m *Migrator) Status(ctx context.Context) (_ []MigrationStatus, _ Schema, err error) {
	defer wrap(&err, "store.Migrator.Status")
	var st []*goose.MigrationStatus
	err = m.run(ctx, func(ctx context.Context) (err error) {
		st, err = m.provider.Status(ctx)
		return err
	})
	if err != nil {
		return nil, Schema{}, err
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{
			Version: s.Source.Version, Name: baseName(s.Source.Path),
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt,
		})
	}
	schema, err := m.schema(ctx, nil)
	return out, schema, err
}

func (m *Migrator) schema(ctx context.Context, res []*goose.MigrationResult) (Schema, error) {
	current, _, err := m.provider.GetVersions(ctx)
	if err != nil {
		return Schema{}, err
	}
	s := Schema{Version: current, Newest: m.newest}
	for _, r := range res {
		s.Applied = append(s.Applied, r.Source.Version)
	}
	return s, nil
}

// explain says what a failed Up means when the database is ahead of this
// binary but lacks one of its migrations (goose's "missing migrations").
func (m *Migrator) explain(ctx context.Context, err error) error {
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		return err
	}
	current, _, verr := m.provider.GetVersions(ctx)
	if verr == nil && current > m.newest {
		return fmt.Errorf("the database is at schema version %d, newer than this binary's %d, but lacks some of this binary's migrations: %w", current, m.newest, err)
	}
	return err
}

// Close closes the migrator's connections.
func (m *Migrator) Close() error { return m.db.Close() }

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// migrate brings the schema up to date before the store serves: on its own
// connections, under the migration lock.
func (s *Store) migrate(ctx context.Context, rawURL string, o options) error {
	m, err := openMigrator(ctx, rawURL, o)
	if err != nil {
		return err
	}
	defer m.Close()
	s.schema, err = m.Up(ctx)
	return err
}

// Schema reports the schema version Open found or made. Schema().Newer()
// means a newer release migrated the database; this binary serves anyway.
func (s *Store) Schema() Schema { return s.schema }
