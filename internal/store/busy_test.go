package store

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver behind the store's SQLite
)

// TestRetryBusy: opening retries while another connection holds SQLite's
// lock, whatever wraps the driver's error, and only then: an error whose text
// merely mentions SQLITE_BUSY fails at once.
func TestRetryBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	lock, err := holder.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	contender, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer contender.Close()

	for name, wrapErr := range map[string]func(error) error{
		"driver error": func(err error) error { return err },
		"wrapped error": func(err error) error {
			if err == nil {
				return nil
			}
			return fmt.Errorf("open: %w", err)
		},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := lock.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
				t.Fatal(err)
			}
			if _, err := contender.Exec("CREATE TABLE IF NOT EXISTS t (x INT)"); !isBusy(err) {
				t.Fatalf("the lock held: want SQLITE_BUSY, got %v", err)
			}
			go func() {
				time.Sleep(100 * time.Millisecond)
				_, _ = lock.ExecContext(t.Context(), "ROLLBACK")
			}()
			calls := 0
			err := retryBusy(func() error {
				calls++
				_, err := contender.Exec("CREATE TABLE IF NOT EXISTS t (x INT)")
				return wrapErr(err)
			})
			if err != nil || calls < 2 {
				t.Fatalf("after %d calls: %v", calls, err)
			}
		})
	}

	t.Run("text alone", func(t *testing.T) {
		calls := 0
		err := retryBusy(func() error {
			calls++
			return errors.New(`user "SQLITE_BUSY" not found`)
		})
		if err == nil || calls != 1 {
			t.Fatalf("retried an error that is not the driver's: %d calls", calls)
		}
	})
}
