// Package migrationlock is the lock schema migrations run under: one row in
// a table, held by whoever inserted it, with a lease its holder renews.
//
// A row, not a server-side named lock: MySQL's GET_LOCK is local to one
// server, so instances started together on different Galera nodes all got it
// and raced to create the same tables. A row write is certified by Galera
// across the cluster (a concurrent insert on another node fails with a
// duplicate key or deadlock 1213), and works the same on one server and on
// SQLite. The lease lets a later instance take over from a holder that died
// without releasing it; the heartbeat keeps a long migration's lease alive.
package migrationlock

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Table is the lock's table; it holds at most one row, id 1.
const Table = "authql_migration_lock"

// ErrLost is the cause of the context cancellation a holder sees when its
// lease ran out and another instance took the lock over.
var ErrLost = errors.New("migration lock lost: its lease expired and another instance took it over")

// ErrTimeout is what Lock returns, wrapped with the holder's name, when the
// lock stayed held for the whole wait.
var ErrTimeout = errors.New("migration lock not acquired")

// Config tunes a Locker. Zero fields take the defaults.
type Config struct {
	// Dialect is "mysql" or "sqlite".
	Dialect string
	// Holder names this instance in the row and in the errors of the others;
	// by default host-pid-random.
	Holder string
	// Lease is how long the lock outlives its holder's last renewal (30s).
	Lease time.Duration
	// Heartbeat is how often the holder renews the lease (Lease/6).
	Heartbeat time.Duration
	// Wait bounds how long Lock waits for another holder (5m).
	Wait time.Duration
	// OnLost is called once if the lease is lost while held, so that the
	// caller can stop migrating.
	OnLost func()
}

// Locker takes and releases the lock. Its methods have the shape of goose's
// lock.Locker, but the store takes it around the whole goose run rather than
// through goose.WithLocker: goose's Up first calls HasPending without the
// locker, which creates goose's version table unlocked, a CREATE TABLE
// racing across Galera nodes. One Locker holds the lock at most once at a
// time.
type Locker struct {
	cfg   Config
	nowMS string // the database's clock in Unix milliseconds, as SQL

	mu   sync.Mutex // held from Lock to Unlock
	stop context.CancelFunc
	done chan struct{}
}

// New returns a Locker for a dialect.
func New(cfg Config) (*Locker, error) {
	l := &Locker{cfg: cfg}
	switch cfg.Dialect {
	case "mysql":
		// UNIX_TIMESTAMP does not depend on the session's time zone.
		l.nowMS = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"
	case "sqlite":
		l.nowMS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
	default:
		return nil, fmt.Errorf("migrationlock: unknown dialect %q", cfg.Dialect)
	}
	if l.cfg.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = crand.Read(b[:])
		l.cfg.Holder = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if l.cfg.Lease <= 0 {
		l.cfg.Lease = 30 * time.Second
	}
	if l.cfg.Heartbeat <= 0 {
		l.cfg.Heartbeat = l.cfg.Lease / 6
	}
	if l.cfg.Wait <= 0 {
		l.cfg.Wait = 5 * time.Minute
	}
	return l, nil
}

// CreateTable creates the lock table unless it exists. Every instance runs
// it before taking the lock, so it must tolerate the others doing the same.
func CreateTable(ctx context.Context, db *sql.DB, dialect string) error {
	q := "CREATE TABLE IF NOT EXISTS " + Table + " (id INTEGER NOT NULL PRIMARY KEY, holder VARCHAR(255) NOT NULL, " +
		"acquired_at_ms BIGINT NOT NULL, expires_at_ms BIGINT NOT NULL)"
	if dialect == "mysql" {
		q += " ENGINE=InnoDB"
	}
	_, err := db.ExecContext(ctx, q)
	return err
}

// Lock takes the lock, waiting with jittered backoff while another instance
// holds a live lease and taking over one that expired. It gives up after
// the configured wait with an error naming the holder.
func (l *Locker) Lock(ctx context.Context, db *sql.DB) error {
	l.mu.Lock()
	if err := l.lock(ctx, db); err != nil {
		l.mu.Unlock()
		return err
	}
	hbCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop, l.done = stop, make(chan struct{})
	go l.heartbeat(hbCtx, db, l.done)
	return nil
}

func (l *Locker) lock(ctx context.Context, db *sql.DB) error {
	if err := CreateTable(ctx, db, l.cfg.Dialect); err != nil {
		return fmt.Errorf("create the migration lock table: %w", err)
	}
	deadline := time.Now().Add(l.cfg.Wait)
	backoff := 10 * time.Millisecond
	insert := "INSERT INTO " + Table + " (id, holder, acquired_at_ms, expires_at_ms) VALUES (1, ?, " + l.nowMS + ", " + l.nowMS + " + ?)"
	for {
		_, err := db.ExecContext(ctx, insert, l.cfg.Holder, l.cfg.Lease.Milliseconds())
		if err == nil {
			return nil
		}
		if !l.contended(err) {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		// A holder whose lease ran out died or lost the database: clear its
		// row and race for the lock again at once. The DELETE is a write,
		// certified like the INSERT, so two instances cannot both clear it
		// and both insert.
		res, err := db.ExecContext(ctx, "DELETE FROM "+Table+" WHERE id = 1 AND expires_at_ms < "+l.nowMS)
		if err == nil {
			if n, _ := res.RowsAffected(); n > 0 {
				continue
			}
		} else if !l.contended(err) {
			return fmt.Errorf("clear an expired migration lock: %w", err)
		}
		sleep := backoff/2 + rand.N(backoff)
		if time.Now().Add(sleep).After(deadline) {
			return l.timeout(ctx, db)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (l *Locker) timeout(ctx context.Context, db *sql.DB) error {
	var holder string
	var left int64
	err := db.QueryRowContext(ctx, "SELECT holder, expires_at_ms - "+l.nowMS+" FROM "+Table+" WHERE id = 1").Scan(&holder, &left)
	if err != nil {
		return fmt.Errorf("%w within %s: another instance holds it", ErrTimeout, l.cfg.Wait)
	}
	return fmt.Errorf("%w within %s: held by %s, whose lease runs %s more (a live holder renews it; a dead one's expires)",
		ErrTimeout, l.cfg.Wait, holder, time.Duration(left)*time.Millisecond)
}

// heartbeat renews the lease until stopped. When the row is no longer ours
// (the lease expired while this instance could not reach the database, and
// another took over) or could not be renewed for a whole lease, it reports
// the loss once and stops.
func (l *Locker) heartbeat(ctx context.Context, db *sql.DB, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.cfg.Heartbeat)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ours, err := l.renew(ctx, db)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && ours:
			renewed = time.Now()
			continue
		case err == nil || time.Since(renewed) >= l.cfg.Lease:
			if l.cfg.OnLost != nil {
				l.cfg.OnLost()
			}
			return
		}
	}
}

func (l *Locker) renew(ctx context.Context, db *sql.DB) (bool, error) {
	res, err := db.ExecContext(ctx, "UPDATE "+Table+" SET expires_at_ms = "+l.nowMS+" + ? WHERE id = 1 AND holder = ?",
		l.cfg.Lease.Milliseconds(), l.cfg.Holder)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return true, nil
	}
	// MySQL counts only changed rows: a renewal within the same millisecond
	// changes nothing. Ask whose row it is.
	var holder string
	err = db.QueryRowContext(ctx, "SELECT holder FROM "+Table+" WHERE id = 1").Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return holder == l.cfg.Holder, err
}

// Unlock stops the heartbeat and deletes the row if it is still ours.
func (l *Locker) Unlock(ctx context.Context, db *sql.DB) error {
	defer l.mu.Unlock()
	if l.stop != nil {
		l.stop()
		<-l.done
		l.stop, l.done = nil, nil
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	for range 10 {
		_, err = db.ExecContext(ctx, "DELETE FROM "+Table+" WHERE id = 1 AND holder = ?", l.cfg.Holder)
		if err == nil || !l.contended(err) {
			break
		}
		time.Sleep(time.Duration(10+rand.N(40)) * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("release the migration lock (it expires with its lease): %w", err)
	}
	return nil
}

// contended reports an error that means "someone else got there": a
// duplicate key, a deadlock or Galera certification failure (1213), a lock
// wait timeout, SQLite busy. Retrying is the answer to each.
func (l *Locker) contended(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062 || me.Number == 1213 || me.Number == 1205
	}
	var se *sqlitedriver.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}
