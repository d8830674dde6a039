package auth_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

// countStatements records the statements the store runs while fn does.
func countStatements(f *fixture, fn func()) []store.Statement {
	var (
		mu   sync.Mutex
		seen []store.Statement
	)
	f.fail.Set(func(_ context.Context, st store.Statement) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, st)
		return nil
	})
	defer f.fail.Set(nil)
	fn()
	return seen
}

func describe(sts []store.Statement) string {
	var parts []string
	for _, st := range sts {
		where := "out"
		if st.InTx {
			where = "tx"
		}
		parts = append(parts, st.Kind+" "+st.Table+" ("+where+")")
	}
	return strings.Join(parts, ", ")
}

// TestHotPathStatements pins how many statements the hot operations send,
// every one of which is a round trip on MySQL: the @auth check and me's user
// are one joined read on both engines (the session is still read on every
// request, so revocation stays immediate); a rotation reads the session and the
// presented token (and the user it answers with) in one locking statement
// and, on MySQL, writes everything else in one more.
func TestHotPathStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		ctx := context.Background()
		a := signedUp(t, f)

		me := countStatements(f, func() {
			p, err := f.svc.Authenticate(ctx, a.first.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			u, err := f.svc.Me(ctx, *p)
			if err != nil || u.ID != p.UserID || u.Email != a.email {
				t.Fatalf("me: %+v, %v", u, err)
			}
		})
		// One statement, the session joined with its user, on both (see
		// store.LiveSessionUser).
		if wantMe := 1; len(me) != wantMe {
			t.Errorf("me ran %d statements, want %d: %s", len(me), wantMe, describe(me))
		}

		// Revoked elsewhere: the very next check refuses.
		if err := f.svc.LogoutAll(ctx, auth.Client{}, f.principal(t, a.first)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(ctx, a.first.AccessToken); err != auth.ErrUnauthenticated {
			t.Fatalf("after logoutAll: %v, want ErrUnauthenticated", err)
		}

		b := signedUp(t, f)
		var inTx int
		rot := countStatements(f, func() {
			if _, err := f.svc.Refresh(ctx, auth.Client{}, *b.first.RefreshToken); err != nil {
				t.Fatal(err)
			}
		})
		for _, st := range rot {
			if st.InTx {
				inTx++
			}
		}
		// lock session and token (and on MySQL read the user); consume, insert the
		// successor, advance the session, the audit row: on MySQL these four
		// are one batch (store.RotateToken), one round trip.
		want := 5
		if storetest.IsMySQL(db.URL) {
			want = 2
		}
		if inTx != want {
			t.Errorf("the rotation's transaction ran %d statements, want %d: %s", inTx, want, describe(rot))
		}
	})
}

// TestLoginLocksUserOnce pins that a login's transaction reads its user row
// once: the one locking read gives both the credentials version the login
// verified and whether the account has a second factor, and it is the lock
// under which the session cap is counted. Each further read of the row was a
// round trip on MySQL on every login.
func TestLoginLocksUserOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		a := signedUp(t, f)
		sts := countStatements(f, func() {
			if _, err := f.svc.Login(context.Background(), auth.Client{}, a.email, pw); err != nil {
				t.Fatal(err)
			}
		})
		var reads int
		for _, st := range sts {
			if st.InTx && st.Table == "users" && st.Kind == "select" {
				reads++
			}
		}
		if reads != 1 {
			t.Errorf("the login's transaction read the user %d times, want 1: %s", reads, describe(sts))
		}
	})
}
