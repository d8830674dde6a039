// Package storetest gives tests their own databases: a SQLite file always,
// and a uniquely named MySQL database, dropped afterwards, when
// AUTHQL_TEST_MYSQL_URL names a server.
package storetest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql" // the driver behind MySQLDSN

	"github.com/authql/authql/internal/store"
)

// EnvMySQL names the MySQL server tests may use, as
// mysql://USER:PASS@HOST:PORT/ANYDB (a user allowed to create databases).
const EnvMySQL = "AUTHQL_TEST_MYSQL_URL"

// Backend is a database a test runs against.
type Backend struct {
	Name string // "sqlite" or "mysql"
	URL  string // an AUTHQL_DATABASE_URL
}

// Each runs fn as a subtest on SQLite and, when configured, on MySQL; without
// AUTHQL_TEST_MYSQL_URL the MySQL subtest says it is skipped.
func Each(t *testing.T, fn func(t *testing.T, db Backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, MySQL(t)) })
}

// SQLite returns a fresh SQLite database in the test's temporary directory.
func SQLite(t testing.TB) Backend {
	return Backend{Name: "sqlite", URL: "sqlite://" + filepath.Join(t.TempDir(), "authql.db")}
}

// MySQL creates a database of its own on the configured server and drops it
// when the test ends. It skips the test when no server is configured.
func MySQL(t testing.TB) Backend {
	t.Helper()
	base := os.Getenv(EnvMySQL)
	if base == "" {
		t.Skip("MySQL tests skipped: set " + EnvMySQL + "=mysql://root@127.0.0.1:3306/test to run them")
	}
	admin := open(t, base)
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "authql_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db := open(t, base)
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQL, err)
	}
	u.Path = "/" + name
	return Backend{Name: "mysql", URL: u.String()}
}

func open(t testing.TB, rawURL string) *sql.DB {
	t.Helper()
	dsn, err := store.MySQLDSN(rawURL)
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQL, err)
	}
	db, err := sql.Open("mysql", dsn)
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		t.Fatalf("%s: cannot reach the MySQL server: %v", EnvMySQL, err)
	}
	return db
}

// IsMySQL reports whether url names a MySQL database.
func IsMySQL(url string) bool { return strings.HasPrefix(url, "mysql://") }
