package store_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
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

// gate forwards connections to a MySQL server until it is shut; then it
// accepts and at once closes them, counting each attempt.
type gate struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	shut     bool
	conns    []net.Conn
	attempts atomic.Int32
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); g.close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			shut := g.shut
			g.mu.Unlock()
			if shut {
				g.attempts.Add(1)
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

// close cuts every forwarded connection and refuses the next ones.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = true
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
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
	g := newGate(t, u.Host)
	u.Host = g.ln.Addr().String()
	ctx := context.Background()
	st, err := store.Open(ctx, u.String(), store.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.UserByID(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("prepared lookup: %v", err)
	}
	g.close()
	attempts := func(op func() error) int32 {
		t.Helper()
		before := g.attempts.Load()
		if err := op(); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("with the server gone: %v, want ErrUnavailable", err)
		}
		return g.attempts.Load() - before
	}
	prepared := attempts(func() error { _, err := st.UserByID(ctx, "nobody"); return err })
	fresh := attempts(func() error { _, err := st.UserByEmail(ctx, "nobody@example.com"); return err })
	if prepared == 0 || fresh != prepared {
		t.Errorf("connection attempts: %d for a statement not yet prepared, %d for a prepared one; want the same", fresh, prepared)
	}
}
