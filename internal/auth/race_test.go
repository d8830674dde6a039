package auth_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

// TestRacingRefreshesAnswerOnlyStoredTokens: refreshes of one token racing
// each other converge on one token, stored and current, also when the
// database aborts one rotation as a deadlock victim at its last statement
// (where a swallowed error used to answer a token the rollback had erased).
func TestRacingRefreshesAnswerOnlyStoredTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		for _, deadlock := range []bool{false, true} {
			name := "plain"
			if deadlock {
				name = "deadlock"
			}
			t.Run(name, func(t *testing.T) {
				a := signedUp(t, f)
				var once atomic.Bool
				if deadlock {
					f.fail.Set(func(_ context.Context, st store.Statement) error {
						// The rotation's last statement: the audit insert on
						// SQLite, the one batch of inserts and update on MySQL.
						last := st.Kind == "raw" || (st.Kind == "insert" && st.Table == "audit_events")
						if st.InTx && last && once.CompareAndSwap(false, true) {
							return &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
						}
						return nil
					})
					defer f.fail.Set(nil)
				}
				const n = 20
				answers := make([]string, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						p, err := f.svc.Refresh(context.Background(), auth.Client{}, *a.first.RefreshToken)
						if errs[i] = err; err == nil {
							answers[i] = *p.RefreshToken
						}
					})
				}
				wg.Wait()
				f.fail.Set(nil)
				if deadlock && !once.Load() {
					t.Fatal("no deadlock was injected")
				}
				distinct := map[string]bool{}
				for i, err := range errs {
					if err != nil {
						t.Errorf("refresh %d: %v", i, err)
						continue
					}
					distinct[answers[i]] = true
				}
				if len(distinct) != 1 {
					t.Fatalf("racing refreshes answered %d different tokens", len(distinct))
				}
				got := f.state(t, a.email)
				if got.Tokens != 2 || got.Used != 1 || got.Events != "refresh:1,signup:1" {
					t.Fatalf("after the race: %+v, want one rotation", got)
				}
				for tok := range distinct {
					refreshes(t, f, &auth.Payload{RefreshToken: &tok})
				}
			})
		}
	})
}

// raceChangeIntoLogin logs in with the old password through a service whose
// hashing parameters differ (so the login upgrades the hash), and changes the
// password after the login has read and verified the old one, just before it
// writes: at the rehash. It returns what the login answered.
func raceChangeIntoLogin(t *testing.T, f *fixture) (*account, *auth.Payload, error) {
	t.Helper()
	a := signedUp(t, f)
	pr := f.principal(t, a.first)
	upgraded := f.service(t, password.Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	var changed atomic.Bool
	f.fail.Set(func(ctx context.Context, st store.Statement) error {
		if !st.InTx && st.Kind == "update" && st.Table == "users" && changed.CompareAndSwap(false, true) {
			if _, err := f.svc.ChangePassword(ctx, auth.Client{}, pr, pw, "new "+pw); err != nil {
				t.Errorf("change password: %v", err)
			}
		}
		return nil
	})
	defer f.fail.Set(nil)
	p, err := upgraded.Login(context.Background(), auth.Client{}, a.email, pw)
	if !changed.Load() {
		t.Fatal("the login did not rehash: no race")
	}
	return a, p, err
}

// TestLoginRacingPasswordChangeIsRefused: a login that verified the old
// password is refused when the password changes before its session is
// created; no session of the old password outlives the change.
func TestLoginRacingPasswordChangeIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		a, p, err := raceChangeIntoLogin(t, f)
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("login racing a password change: %v, want ErrInvalidCredentials", err)
		}
		if p != nil {
			t.Fatal("refused, yet answered tokens")
		}
		if got := f.state(t, a.email); got.Sessions-got.Revoked != 1 {
			t.Fatalf("%d live sessions after the change, want only the changer's", got.Sessions-got.Revoked)
		}
	})
}

// TestRehashNeverOverwritesNewerHash: a login upgrading the hash of the
// password it verified never overwrites a password changed meanwhile.
func TestRehashNeverOverwritesNewerHash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		a, _, _ := raceChangeIntoLogin(t, f)
		if _, err := f.svc.Login(context.Background(), auth.Client{}, a.email, "new "+pw); err != nil {
			t.Fatalf("login with the new password: %v", err)
		}
		if _, err := f.svc.Login(context.Background(), auth.Client{}, a.email, pw); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("login with the old password: %v, want ErrInvalidCredentials", err)
		}
	})
}

// TestLogoutWritesOnce: logging one session out again and again, racing or
// not, answers success each time and records one logout.
func TestLogoutWritesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		a := signedUp(t, f)
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = f.svc.Logout(context.Background(), auth.Client{}, *a.first.RefreshToken) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("logout %d: %v", i, err)
			}
		}
		var writes atomic.Int64
		f.fail.Set(func(_ context.Context, st store.Statement) error {
			if st.Kind != "select" {
				writes.Add(1)
			}
			return nil
		})
		for range n {
			if err := f.svc.Logout(context.Background(), auth.Client{}, *a.first.RefreshToken); err != nil {
				t.Fatal(err)
			}
		}
		f.fail.Set(nil)
		if w := writes.Load(); w != 0 {
			t.Errorf("logging a revoked session out ran %d writes", w)
		}
		if got := f.state(t, a.email); got.Events != "logout:1,signup:1" || got.Revoked != 1 {
			t.Fatalf("after %d logouts: %+v, want one logout", 2*n, got)
		}
	})
}
