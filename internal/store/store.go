// Package store keeps authql's state in a SQL database through GORM: MySQL (or
// MariaDB) in production, an embedded SQLite file by default.
//
// SQLite allows one writer at a time and a deferred transaction that upgrades
// from read to write fails with SQLITE_BUSY however long busy_timeout is. So the
// store writes through exactly one connection whose transactions all BEGIN
// IMMEDIATE, and reads through a separate pool: writers queue in Go instead of
// failing in SQLite, and reads never wait for them (WAL).
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/libtnb/sqlite"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Typed errors, for the service layer to act on.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrDuplicate = errors.New("store: duplicate key")
	// ErrUnavailable means the database cannot be reached; the caller may retry.
	ErrUnavailable = errors.New("store: database unavailable")
	// ErrConflict is what a transaction returns when a conditional write it
	// guarded with a locking read finds the row changed anyway. On one
	// server the lock makes that impossible; on Galera row locks are local
	// to a node, and a transaction committed on another node is applied
	// here through them (the local one is aborted, but its statement may
	// still see the new row first). InTx runs the transaction again, which
	// then reads what the other node wrote.
	ErrConflict = errors.New("store: the rows changed under a lock held on another node")
)

// Store is an open database. Its Queries run on the pools: writes on db,
// reads that need not see the caller's own transaction on read (SQLite's read
// pool; on MySQL the same pool as writes).
type Store struct {
	Queries
	dialect string
	txs     openTxs
	now     func() time.Time
	// writer, on SQLite, runs the transactions on the one writer
	// connection, in the order they arrive.
	writer *writer
	// schema is what the migrations found and did at Open.
	schema Schema
	// checkpoints, on SQLite, copies the log into the database file in the
	// background (checkpointer).
	checkpoints *checkpointer
}

// Open connects to the database named by a URL (sqlite://PATH or
// mysql://USER:PASS@HOST:PORT/DB?PARAMS) and applies the schema migrations
// it lacks (migrate.go).
func Open(ctx context.Context, rawURL string, opts ...Option) (_ *Store, err error) {
	defer wrap(&err, "store.Open")
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	now := storeTime(o.now)
	var s *Store
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		s, err = openSQLite(strings.TrimPrefix(rawURL, "sqlite://"), now)
	case strings.HasPrefix(rawURL, "mysql://"):
		s, err = openMySQL(ctx, rawURL, now, o.maxConns)
	default:
		return nil, errors.New("store: database URL must start with sqlite:// or mysql://")
	}
	if err != nil {
		return nil, err
	}
	s.now = now
	err = s.instrument(s.db, o.failure)
	if err == nil && s.read != s.db {
		err = s.instrument(s.read, o.failure)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	s.hot = newHotReads(s.read.ConnPool.(*stmtPool), s.dialect, o.failure)
	if err := s.migrate(ctx, rawURL, o); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: migrate: %w", classify(err))
	}
	return s, nil
}

func gormConfig(now func() time.Time) *gorm.Config {
	return &gorm.Config{
		// Silent: GORM's logger would print bound values, password hashes among them.
		Logger:         logger.Discard,
		TranslateError: true,
		NowFunc:        now,
		// Every write is already in the transaction the service opened, or is one
		// statement; GORM's implicit per-write transaction would only add round trips.
		SkipDefaultTransaction: true,
		// Statements are prepared by the pool GORM runs on (stmtPool), not by
		// GORM, whose cache prepares a transaction's statements again in
		// every transaction.
		PrepareStmt: false,
	}
}

// openGORM opens driverName's pool on dsn and GORM on it, through dialect
// (given the pool), with statements prepared once per connection.
func openGORM(driverName, dsn string, dialect func(gorm.ConnPool) gorm.Dialector, now func() time.Time) (*gorm.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	g, err := gorm.Open(dialect(newStmtPool(db)), gormConfig(now))
	if err != nil {
		db.Close()
		return nil, err
	}
	return g, nil
}

func sqliteDialect(pool gorm.ConnPool) gorm.Dialector { return sqlite.New(sqlite.Config{Conn: pool}) }

// The parameters of SQLite connections. WAL is a property of the file, set
// by a writer (the store's, or the migrations'); readers only wait for locks
// and never write.
const (
	// Times are written as "2006-01-02 15:04:05.999999999-07:00", the form
	// every earlier release wrote, so that stored times compare as text with
	// the ones bound to queries.
	sqliteCommon = "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_time_format=sqlite&_texttotime=1&_inttotime=1"
	sqliteWriter = sqliteCommon + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate" +
		"&_pragma=wal_autocheckpoint(20000)" // about 80 MB of log: a safety net, see checkpointer
	sqliteReader = sqliteCommon + "&_pragma=query_only(1)"
)

// checkSQLitePath refuses what a sqlite:// URL must not name.
func checkSQLitePath(path string) error {
	if path == "" || strings.Contains(path, "?") || strings.Contains(path, ":memory:") {
		return errors.New("store: sqlite:// needs a file path (an in-memory database cannot be shared by the read and write pools)")
	}
	return nil
}

func openSQLite(path string, now func() time.Time) (*Store, error) {
	if err := checkSQLitePath(path); err != nil {
		return nil, err
	}
	var writer, reader *gorm.DB
	err := retryBusy(func() (err error) {
		writer, err = openGORM("sqlite", path+sqliteWriter, sqliteDialect, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	wdb, _ := writer.DB()
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	// The first connection now, so that WAL is set before readers open.
	if err := retryBusy(wdb.Ping); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	err = retryBusy(func() (err error) {
		reader, err = openGORM("sqlite", path+sqliteReader, sqliteDialect, now)
		return err
	})
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	rdb, _ := reader.DB()
	n := 2 * runtime.GOMAXPROCS(0)
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	cp, err := startCheckpointer(path, sqliteCheckpointEvery)
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	return &Store{Queries: Queries{db: writer, read: reader}, dialect: "sqlite", writer: newWriter(), checkpoints: cp}, nil
}

// retryBusy retries op while SQLite reports the database locked. Opening runs
// PRAGMA journal_mode, whose exclusive lock busy_timeout does not wait for:
// another process opening the same file at that moment makes it fail at once.
func retryBusy(op func() error) error {
	err := op()
	for i := 0; i < 250 && isBusy(err); i++ {
		time.Sleep(20 * time.Millisecond)
		err = op()
	}
	return err
}

// isBusy reports SQLite's "database is locked": SQLITE_BUSY, or SQLITE_LOCKED
// (a conflict within the process), extended codes included.
func isBusy(err error) bool {
	var se *sqlitedriver.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff // the primary code of an extended one
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// MySQLDSN turns a mysql:// URL into a go-sql-driver DSN with the parameters
// authql depends on forced on: parseTime, UTC, utf8mb4, and interpolateParams
// (client-side interpolation: one round trip per query instead of
// prepare/execute/close; safe because the charset is utf8mb4).
func MySQLDSN(rawURL string) (_ string, err error) {
	defer wrap(&err, "store.MySQLDSN")
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "mysql" || u.Host == "" {
		return "", errors.New("store: malformed mysql URL (want mysql://USER:PASS@HOST:PORT/DB?PARAMS)")
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" {
		return "", errors.New("store: the mysql URL names no database")
	}
	cfg.Timeout = 5 * time.Second
	dsn := cfg.FormatDSN()
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", errors.New("store: the mysql URL's parameters are malformed")
	}
	// time_zone: the driver sets it on every new connection (SET
	// time_zone='+00:00'), so that what the server computes (NOW(), goose's
	// tstamp DEFAULT CURRENT_TIMESTAMP, TIMESTAMP columns) is in UTC, as loc
	// reads it; on a server not set to UTC, migrate status was hours off.
	for k, v := range map[string]string{"parseTime": "true", "loc": "UTC", "time_zone": "'+00:00'", "charset": "utf8mb4", "interpolateParams": "true"} {
		q.Set(k, v)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + q.Encode()
	if _, err := mysql.ParseDSN(dsn); err != nil {
		// The driver's message can quote the DSN, password included: say less.
		return "", errors.New("store: the mysql URL has an unknown or malformed parameter")
	}
	return dsn, nil
}

func openMySQL(ctx context.Context, rawURL string, now func() time.Time, maxConns int) (*Store, error) {
	dsn, err := MySQLDSN(rawURL)
	if err != nil {
		return nil, err
	}
	mcfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("store: the mysql URL has an unknown or malformed parameter")
	}
	// On Galera every connection reads causally (see galeraSyncWait).
	galera, err := causal(ctx, mcfg)
	if err != nil {
		return nil, fmt.Errorf("store: open mysql: %w", classify(err))
	}
	// Several statements in one round trip: a rotation's inserts and update
	// are one (Queries.RotateToken). Every value reaches the server through
	// interpolateParams' escaping, never pasted into SQL, so this opens no
	// way to smuggle a statement in.
	//
	// Not on Galera. There a transaction can be aborted from outside, between
	// two statements of a batch, when a write set replicated from another
	// node conflicts with it (a brute-force abort). The server rolls the
	// transaction back but runs the rest of the batch anyway, each statement
	// committing on its own, and the Exec reports no error: a rotation was
	// answered while its session pointed at a token that was never stored
	// (TestRefreshUnderConflictingWrites). Sent one at a time, the abort
	// surfaces as 1213 on the statement it cut short (read to its end, see
	// scanRow) or on the next one, COMMIT included, and the transaction runs
	// again.
	mcfg.MultiStatements = !galera
	dsn = mcfg.FormatDSN()
	db, err := openGORM("mysql", dsn, func(pool gorm.ConnPool) gorm.Dialector {
		return gormmysql.New(gormmysql.Config{Conn: pool})
	}, now)
	if err != nil {
		return nil, fmt.Errorf("store: open mysql: %w", classify(err))
	}
	sqlDB, _ := db.DB()
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxLifetime(5 * time.Minute)
	return &Store{Queries: Queries{db: db, read: db, mysql: true, batches: !galera}, dialect: "mysql"}, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "store.Ping")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one int
	if err := s.read.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return classify(err)
	}
	return nil
}

// Close closes every pool.
func (s *Store) Close() (err error) {
	defer wrap(&err, "store.Close")
	var errs []error
	if s.writer != nil {
		s.writer.close()
	}
	if s.checkpoints != nil {
		errs = append(errs, s.checkpoints.close())
	}
	for _, g := range []*gorm.DB{s.db, s.read} {
		if db, err := g.DB(); err == nil {
			errs = append(errs, db.Close())
		}
		if s.db == s.read {
			break
		}
	}
	return errors.Join(errs...)
}

// classify maps driver errors onto the store's typed errors, keeping the
// original for logs.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrDuplicate), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, ErrConflict):
		// Contention that outlasted InTx's attempts, as 1213 and 1205 below.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %w", ErrDuplicate, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var netErr net.Error
	var opErr *net.OpError
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &netErr) || errors.As(err, &opErr) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && unavailable[me.Number] {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// unavailable are the server's errors that say it cannot serve now, not that
// the request is wrong: the client may retry, perhaps on another node.
var unavailable = map[uint16]bool{
	1040: true, // too many connections
	1045: true, // access denied
	1049: true, // unknown database
	1053: true, // server shutdown in progress
	1205: true, // lock wait timeout, after InTx's retries; on Galera also a causal read the node cannot do
	1213: true, // deadlock or certification conflict that outlasted InTx's retries
	// Galera: the node is not in the primary component (lost its peers, still
	// joining, or isolated), or a commit failed because it left it meanwhile.
	1047: true, // WSREP has not yet prepared node for application use
	1180: true, // got error during COMMIT
	1927: true, // connection was killed (a node shutting down or aborting its clients)
}

// Redact hides the password of a database URL, for logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		if strings.HasPrefix(rawURL, "sqlite://") {
			return rawURL
		}
		return "(unparsable database URL)"
	}
	return u.Redacted()
}

// wrap names the operation that failed, as every exported method of the
// store does on its way out (defer wrap(&err, "store.Method")): a log line
// then says which statement met the outage or the conflict. The error stays
// itself for errors.Is and errors.As: ErrNotFound, ErrDuplicate,
// ErrUnavailable and the driver's errors are found through it.
func wrap(errp *error, op string) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", op, *errp)
	}
}
