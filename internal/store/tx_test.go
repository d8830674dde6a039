package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

var errInjected = errors.New("injected failure")

func open(t *testing.T, db storetest.Backend) (*store.Store, *storetest.Failures) {
	t.Helper()
	f := &storetest.Failures{}
	s, err := store.Open(context.Background(), db.URL, store.WithFailureHook(f.Hook))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, f
}

func event(typ string) *models.AuditEvent {
	return &models.AuditEvent{CreatedAt: time.Now().UTC(), Type: typ}
}

func count(t *testing.T, db *sql.DB, typ string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM audit_events WHERE type = ?", typ).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFailedStatementPoisonsTransaction: a closure that ignores a failed
// statement and returns nil still commits nothing, whatever the failure did to
// the transaction (a deadlock has rolled it back already on InnoDB).
func TestFailedStatementPoisonsTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		for _, c := range []struct {
			name string
			err  error
		}{
			{"error", errInjected},
			{"deadlock", &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				s, f := open(t, db)
				raw := storetest.SQL(t, db)
				// Fails the second statement of every attempt.
				var n atomic.Int64
				f.Set(func(_ context.Context, st store.Statement) error {
					if st.InTx && n.Add(1)%3 == 2 {
						return c.err
					}
					return nil
				})
				err := s.InTx(t.Context(), func(q *store.Queries) error {
					_ = q.InsertAuditEvent(t.Context(), event("first"))
					_ = q.InsertAuditEvent(t.Context(), event("second")) // fails; ignored
					_ = q.InsertAuditEvent(t.Context(), event("third"))
					return nil
				})
				if err == nil {
					t.Fatal("a transaction with a failed statement committed")
				}
				for _, typ := range []string{"first", "second", "third"} {
					if got := count(t, raw, typ); got != 0 {
						t.Errorf("%s: %d rows committed", typ, got)
					}
				}
			})
		}
	})
}

// TestDeadlockRerunsClosure: an aborted transaction runs again from the start,
// and what commits is the outcome of the attempt that committed.
func TestDeadlockRerunsClosure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, f := open(t, db)
		raw := storetest.SQL(t, db)
		var n atomic.Int64
		f.Set(func(_ context.Context, st store.Statement) error {
			if st.InTx && n.Add(1) == 2 { // the second statement of the first attempt
				return &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}
			}
			return nil
		})
		attempts := 0
		got, err := store.InTxValue(t.Context(), s, func(q *store.Queries) (int, error) {
			attempts++
			if err := q.InsertAuditEvent(t.Context(), event("a")); err != nil {
				return 0, err
			}
			if err := q.InsertAuditEvent(t.Context(), event("b")); err != nil {
				return 0, err
			}
			return attempts, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != 2 || attempts != 2 {
			t.Fatalf("outcome of attempt %d after %d attempts, want 2 of 2", got, attempts)
		}
		if a, b := count(t, raw, "a"), count(t, raw, "b"); a != 1 || b != 1 {
			t.Fatalf("rows a=%d b=%d, want one of each", a, b)
		}
	})
}

// TestContentionGivesUp: a transaction that keeps deadlocking is tried a
// bounded number of times and then answered as unavailable (the client may retry).
func TestContentionGivesUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, f := open(t, db)
		for _, number := range []uint16{1213, 1205} {
			f.Set(func(_ context.Context, st store.Statement) error {
				if st.InTx {
					return &mysql.MySQLError{Number: number, Message: "contention"}
				}
				return nil
			})
			attempts := 0
			start := time.Now()
			err := s.InTx(t.Context(), func(q *store.Queries) error {
				attempts++
				return q.InsertAuditEvent(t.Context(), event("x"))
			})
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("%d: want ErrUnavailable, got %v", number, err)
			}
			if attempts != 5 {
				t.Fatalf("%d: %d attempts, want 5", number, attempts)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("%d: gave up after %v", number, d)
			}
		}
	})
}

// TestPruneExpiredIsOneTransaction: a session is never pruned without its
// tokens, nor its tokens without it: a failure leaves both.
func TestPruneExpiredIsOneTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, f := open(t, db)
		raw := storetest.SQL(t, db)
		now := s.Now()
		u := &models.User{ID: "u1", Email: "u1@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		sess := &models.Session{ID: "s1", UserID: u.ID, CurrentTokenID: "t1", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(-time.Hour)}
		tok := &models.RefreshToken{ID: "t1", SessionID: "s1", Hash: "h1", IssuedAt: now, ExpiresAt: now.Add(-time.Hour)}
		if err := s.CreateSession(t.Context(), sess, tok); err != nil {
			t.Fatal(err)
		}
		f.Set(func(_ context.Context, st store.Statement) error {
			if st.Kind == "delete" && st.Table == "sessions" {
				return errInjected
			}
			return nil
		})
		if _, err := s.PruneExpired(t.Context(), now, 100); err == nil {
			t.Fatal("prune reported success")
		}
		var sessions, tokens int
		raw.QueryRow("SELECT COUNT(*) FROM sessions").Scan(&sessions)
		raw.QueryRow("SELECT COUNT(*) FROM refresh_tokens").Scan(&tokens)
		if sessions != 1 || tokens != 1 {
			t.Fatalf("after a failed prune: %d sessions, %d tokens; want both kept", sessions, tokens)
		}
		f.Set(nil)
		if n, err := s.PruneExpired(t.Context(), now, 100); err != nil || n != 1 {
			t.Fatalf("prune: %d, %v", n, err)
		}
	})
}

// TestConflictRerunsClosure: a transaction whose closure reports ErrConflict
// (a guarded write found its row changed, as on Galera when another node's
// commit is applied through a local lock) is rolled back and run again; one
// that keeps conflicting is answered as unavailable after the bounded
// attempts, as contention is.
func TestConflictRerunsClosure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		raw := storetest.SQL(t, db)
		attempts := 0
		got, err := store.InTxValue(t.Context(), s, func(q *store.Queries) (int, error) {
			attempts++
			if err := q.InsertAuditEvent(t.Context(), event("c")); err != nil {
				return 0, err
			}
			if attempts == 1 {
				return 0, store.ErrConflict
			}
			return attempts, nil
		})
		if err != nil || got != 2 {
			t.Fatalf("got attempt %d, %v; want the second attempt's outcome", got, err)
		}
		if n := count(t, raw, "c"); n != 1 {
			t.Fatalf("%d rows of the conflicting closure, want the second attempt's one", n)
		}

		attempts = 0
		err = s.InTx(t.Context(), func(q *store.Queries) error {
			attempts++
			return store.ErrConflict
		})
		if !errors.Is(err, store.ErrUnavailable) || attempts != 5 {
			t.Fatalf("always conflicting: %v after %d attempts, want ErrUnavailable after 5", err, attempts)
		}
	})
}
