// Package ceiling is what authql's hot operations cannot avoid, done with
// nothing around it: the bounds its benchmarks measure authql against.
//
//   - me: a bare net/http handler that verifies the same HS256 access token
//     and reads the user by primary key through GORM, on the same driver and
//     database as authql (MeHandler; served by bench/ceiling/me).
//   - refresh: the rotation's statements run directly through database/sql in
//     one transaction, with the same tokens signed and hashed (Rotator).
//   - login: the same argon2id verification, looped on every core (Hash).
//
// The runner (bench/runner) runs authql and these alternately and prints
// the ratios.
package ceiling

import (
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/libtnb/sqlite"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/authql/authql/internal/store"
)

// Open opens the database at url (sqlite:// or mysql://, as authql takes
// it) the way authql reads it: on SQLite a read-only pool of two
// connections per core, on MySQL the same DSN parameters and pool size. The
// tables must exist (authql created them).
func Open(url string) (*gorm.DB, error) {
	// Prepared statements, as authql prepares its statements on both.
	cfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, PrepareStmt: true}
	var (
		db  *gorm.DB
		err error
		n   int
	)
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		db, err = gorm.Open(sqlite.Open(path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_time_format=sqlite"), cfg)
		n = 2 * runtime.GOMAXPROCS(0)
	case strings.HasPrefix(url, "mysql://"):
		var dsn string
		if dsn, err = store.MySQLDSN(url); err == nil {
			db, err = gorm.Open(gormmysql.New(gormmysql.Config{DSN: dsn}), cfg)
		}
		n = 16
	default:
		return nil, errors.New("ceiling: database URL must start with sqlite:// or mysql://")
	}
	if err != nil {
		return nil, fmt.Errorf("ceiling: open: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	sqlDB.SetConnMaxLifetime(5 * time.Minute)
	return db, nil
}

// OpenSQL opens the database for writing through database/sql alone: on
// SQLite one connection whose transactions begin immediately (as authql's
// writer), on MySQL authql's DSN and pool size.
func OpenSQL(url string) (*sql.DB, string, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite")
		if err != nil {
			return nil, "", err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		return db, "sqlite", nil
	case strings.HasPrefix(url, "mysql://"):
		dsn, err := store.MySQLDSN(url)
		if err != nil {
			return nil, "", err
		}
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return nil, "", err
		}
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		return db, "mysql", nil
	}
	return nil, "", errors.New("ceiling: database URL must start with sqlite:// or mysql://")
}
