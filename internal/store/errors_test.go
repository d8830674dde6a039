package store_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

// TestErrorsNameTheOperation: an error of the store says which of its
// operations failed, and is still the error it wraps for errors.Is and
// errors.As: the sentinels the service acts on and the driver's own errors.
func TestErrorsNameTheOperation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, f := open(t, db)
		ctx := t.Context()

		_, err := s.UserByEmail(ctx, "nobody@example.com")
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "store.UserByEmail") {
			t.Fatalf("missing user: %v", err)
		}

		_, err = store.InTxValue(ctx, s, func(q *store.Queries) (any, error) { return q.SessionByID(ctx, "no-such-session") })
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "store.InTx: store.SessionByID") {
			t.Fatalf("missing session in a transaction: %v", err)
		}

		refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		f.Set(func(context.Context, store.Statement) error { return refused })
		_, err = s.LiveSessions(ctx, "u", s.Now())
		var opErr *net.OpError
		if !errors.Is(err, store.ErrUnavailable) || !errors.As(err, &opErr) || !strings.HasPrefix(err.Error(), "store.LiveSessions: ") {
			t.Fatalf("database gone: %v", err)
		}

		f.Set(func(context.Context, store.Statement) error {
			return &mysql.MySQLError{Number: 1146, Message: "Table doesn't exist"}
		})
		err = s.InsertAuditEvent(ctx, event("x"))
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1146 || !strings.Contains(err.Error(), "store.InsertAuditEvent") {
			t.Fatalf("driver error: %v", err)
		}
	})
}

// TestNodeNotReadyIsUnavailable: the errors a Galera node answers while it is
// outside the primary component (joining, isolated, its peers lost) say that
// the database cannot serve now, as a refused connection does: the client
// gets SERVICE_UNAVAILABLE, never INTERNAL_SERVER_ERROR. test/cluster meets
// them on a real cluster.
func TestNodeNotReadyIsUnavailable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, f := open(t, db)
		ctx := t.Context()
		for _, n := range []uint16{1047, 1180, 1927} {
			f.Set(func(context.Context, store.Statement) error {
				return &mysql.MySQLError{Number: n, Message: "node not ready"}
			})
			_, err := s.UserByEmail(ctx, "someone@example.com")
			var me *mysql.MySQLError
			if !errors.Is(err, store.ErrUnavailable) || !errors.As(err, &me) || me.Number != n {
				t.Errorf("error %d on a read: %v", n, err)
			}
			err = s.InTx(ctx, func(q *store.Queries) error { return q.InsertAuditEvent(ctx, event("x")) })
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("error %d in a transaction: %v", n, err)
			}
		}
	})
}
