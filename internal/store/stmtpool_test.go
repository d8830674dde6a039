package store_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/tcpproxy"
)

// TestTransactionsReusePreparedStatements: a statement a transaction runs is
// prepared once, on the pool, and later transactions reuse it on their
// connection instead of preparing it again; MySQL's count of the
// connection's prepares shows it (SQLite keeps no such count). A transaction
// holding the only connection (SQLite's writer; here MySQL limited to one)
// must not wait for a second one to prepare on: it would wait until its
// context ends and fail.
func TestTransactionsReusePreparedStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		st, err := store.Open(context.Background(), db.URL, store.WithMaxConns(1))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		lookup := func(q *store.Queries) error {
			if _, err := q.UserByID(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return nil
		}
		if err := st.InTx(ctx, lookup); err != nil {
			t.Fatalf("first transaction: %v", err)
		}
		prepared := store.PreparedStatements(st)
		if prepared == 0 {
			t.Fatal("the first transaction's statement was not prepared on the pool after it ended")
		}
		for i := range 3 {
			err := st.InTx(ctx, func(q *store.Queries) error {
				var before, after int
				var err error
				if db.Name == "mysql" {
					if before, err = store.ServerPrepares(ctx, q); err != nil {
						return err
					}
				}
				if err := lookup(q); err != nil {
					return err
				}
				if db.Name == "mysql" {
					if after, err = store.ServerPrepares(ctx, q); err != nil {
						return err
					}
					if after != before {
						t.Errorf("transaction %d: the server prepared %d statements again", i+2, after-before)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("transaction %d: %v", i+2, err)
			}
		}
		if n := store.PreparedStatements(st); n != prepared {
			t.Errorf("later transactions prepared %d more statements on the pool, want 0", n-prepared)
		}
	})
}

// TestUnreachableDatabaseTriedOnce: with the server unreachable, a statement
// the store has not prepared yet costs the same connection attempts as one it
// has: a failed preparation is not followed by the same query unprepared,
// which would only dial, and wait, again.
func TestUnreachableDatabaseTriedOnce(t *testing.T) {
	db := storetest.MySQL(t)
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	px := tcpproxy.New(t, u.Host)
	u.Host = px.Addr()
	ctx := context.Background()
	st, err := store.Open(ctx, u.String(), store.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.UserByID(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("prepared lookup: %v", err)
	}
	px.Refuse()
	attempts := func(op func() error) int32 {
		t.Helper()
		before := px.Refused()
		if err := op(); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("with the server gone: %v, want ErrUnavailable", err)
		}
		return px.Refused() - before
	}
	prepared := attempts(func() error { _, err := st.UserByID(ctx, "nobody"); return err })
	fresh := attempts(func() error { _, err := st.UserByEmail(ctx, "nobody@example.com"); return err })
	if prepared == 0 || fresh != prepared {
		t.Errorf("connection attempts: %d for a statement not yet prepared, %d for a prepared one; want the same", fresh, prepared)
	}
}
