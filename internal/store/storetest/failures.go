package storetest

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver behind the store's SQLite

	"github.com/authql/authql/internal/store"
)

// Failures is a failure hook a test steers while the store runs: open the
// store with store.WithFailureHook(f.Hook), then Set what should fail.
type Failures struct {
	fn atomic.Pointer[store.FailureHook]
}

// Hook is the store.FailureHook to open the store with.
func (f *Failures) Hook(ctx context.Context, st store.Statement) error {
	if p := f.fn.Load(); p != nil {
		return (*p)(ctx, st)
	}
	return nil
}

// Set makes hook decide from now on; nil lets every statement run.
func (f *Failures) Set(hook store.FailureHook) {
	if hook == nil {
		f.fn.Store(nil)
		return
	}
	f.fn.Store(&hook)
}

// SQL opens the backend's database directly, bypassing the store, for a test
// to look at the rows; it is closed when the test ends.
func SQL(t testing.TB, b Backend) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if IsMySQL(b.URL) {
		db = open(t, b.URL)
	} else {
		db, err = sql.Open("sqlite", strings.TrimPrefix(b.URL, "sqlite://")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Close() })
	return db
}
