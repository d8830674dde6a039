package auth_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/clock"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/ratelimit"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/token"
)

const pw = "correct horse battery"

// cheap keeps argon2id's shape at a test's price.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// fixture is a Service on a real database whose statements a test can fail,
// reading the time from a clock the test advances.
type fixture struct {
	svc    *auth.Service
	store  *store.Store
	fail   *storetest.Failures
	db     *sql.DB // the same database, read directly
	tokens *token.Service
	clock  *clock.Fake
}

func newFixture(t *testing.T, b storetest.Backend, params password.Params) *fixture {
	t.Helper()
	// A whole second: token times are whole seconds, so expiries fall exactly
	// a lifetime after the start.
	f := &fixture{fail: &storetest.Failures{}, clock: clock.NewFake(time.Now().Truncate(time.Second))}
	st, err := store.Open(context.Background(), b.URL, store.WithFailureHook(f.fail.Hook), store.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store, f.db = st, storetest.SQL(t, b)
	f.tokens, err = token.New(token.Config{Secret: testSecret, Issuer: "authql", Audience: "authql", AccessTTL: 15 * time.Minute, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = f.service(t, params)
	return f
}

// testSecret is the fixtures' server secret.
var testSecret = []byte("auth-test-secret-0123456789abcdef0123")

// service is another Service on the fixture's store, hashing with params,
// able to enroll second factors.
func (f *fixture) service(t *testing.T, params password.Params) *auth.Service {
	mfa, err := auth.NewMFAOptions(testSecret, "authql", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	return auth.New(f.store, f.tokens, password.NewHasher(params, 0, 10*time.Second), ratelimit.Disabled{}, auth.Options{
		RefreshTTL: time.Hour, SessionMaxAge: 24 * time.Hour, ReuseGrace: 10 * time.Second, MFA: mfa,
	}, log)
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var seq atomic.Int64

func newEmail() string {
	return fmt.Sprintf("tx%d-%d@example.com", time.Now().UnixNano()%1e9, seq.Add(1))
}

// state is what a user's rows say, in numbers: what a test compares before
// and after an operation.
type state struct {
	Users, Sessions, Revoked, Tokens, Used int
	Hash                                   string
	Events                                 string // type:count, sorted
}

func (f *fixture) state(t *testing.T, email string) state {
	t.Helper()
	var s state
	var uid string
	err := f.db.QueryRow("SELECT id, password_hash FROM users WHERE email = ?", email).Scan(&uid, &s.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Users = 1
	q := func(dst *int, query string) {
		if err := f.db.QueryRow(query, uid).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	q(&s.Sessions, "SELECT COUNT(*) FROM sessions WHERE user_id = ?")
	q(&s.Revoked, "SELECT COUNT(*) FROM sessions WHERE user_id = ? AND revoked_at IS NOT NULL")
	q(&s.Tokens, "SELECT COUNT(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = ?")
	q(&s.Used, "SELECT COUNT(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = ? AND t.used_at IS NOT NULL")
	rows, err := f.db.Query("SELECT type, COUNT(*) FROM audit_events WHERE user_id = ? GROUP BY type ORDER BY type", uid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ev []string
	for rows.Next() {
		var typ string
		var n int
		if err := rows.Scan(&typ, &n); err != nil {
			t.Fatal(err)
		}
		ev = append(ev, fmt.Sprintf("%s:%d", typ, n))
	}
	s.Events = strings.Join(ev, ",")
	return s
}

// since is s with its hash replaced by whether it changed since before (salted
// hashes differ between accounts).
func (s state) since(before state) state {
	switch {
	case s.Users == 0:
	case s.Hash == before.Hash:
		s.Hash = "unchanged"
	default:
		s.Hash = "changed"
	}
	return s
}

// account is a user a scenario starts from.
type account struct {
	email         string
	first, second *auth.Payload // the signup's tokens, a later login's
}

func (f *fixture) principal(t *testing.T, p *auth.Payload) auth.Principal {
	t.Helper()
	pr, err := f.svc.Authenticate(context.Background(), p.AccessToken)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return *pr
}

func (f *fixture) live(p *auth.Payload) bool {
	_, err := f.svc.Authenticate(context.Background(), p.AccessToken)
	return err == nil
}

// scenario is one operation whose transaction a test breaks.
type scenario struct {
	name string
	// setup makes the account the operation starts from.
	setup func(t *testing.T, f *fixture) *account
	op    func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error)
	// want is what op answers when it happens (nil but for a detected reuse).
	want error
	// check asserts that an operation that happened took effect.
	check func(t *testing.T, f *fixture, a *account, p *auth.Payload)
}

func signedUp(t *testing.T, f *fixture) *account {
	t.Helper()
	a := &account{email: newEmail()}
	var err error
	if a.first, err = f.svc.Signup(context.Background(), auth.Client{}, a.email, pw); err != nil {
		t.Fatal(err)
	}
	return a
}

func loggedInTwice(t *testing.T, f *fixture) *account {
	t.Helper()
	a := signedUp(t, f)
	var err error
	if a.second, err = f.svc.Login(context.Background(), auth.Client{}, a.email, pw); err != nil {
		t.Fatal(err)
	}
	return a
}

// refreshes asserts that a refresh token answered is stored and current.
func refreshes(t *testing.T, f *fixture, p *auth.Payload) {
	t.Helper()
	if _, err := f.svc.Refresh(context.Background(), auth.Client{}, *p.RefreshToken); err != nil {
		t.Fatalf("the refresh token answered does not refresh: %v", err)
	}
}

var scenarios = []scenario{
	{
		name:  "signup",
		setup: func(t *testing.T, f *fixture) *account { return &account{email: newEmail()} },
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			return f.svc.Signup(ctx, auth.Client{}, a.email, pw)
		},
		check: func(t *testing.T, f *fixture, a *account, p *auth.Payload) { refreshes(t, f, p) },
	},
	{
		name:  "login",
		setup: signedUp,
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			return f.svc.Login(ctx, auth.Client{}, a.email, pw)
		},
		check: func(t *testing.T, f *fixture, a *account, p *auth.Payload) { refreshes(t, f, p) },
	},
	{
		name:  "rotation",
		setup: signedUp,
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			return f.svc.Refresh(ctx, auth.Client{}, *a.first.RefreshToken)
		},
		check: func(t *testing.T, f *fixture, a *account, p *auth.Payload) { refreshes(t, f, p) },
	},
	{
		name: "reuse",
		setup: func(t *testing.T, f *fixture) *account {
			a := signedUp(t, f)
			p, err := f.svc.Refresh(context.Background(), auth.Client{}, *a.first.RefreshToken)
			if err == nil {
				a.second, err = f.svc.Refresh(context.Background(), auth.Client{}, *p.RefreshToken)
			}
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		// An ancestor older than the predecessor: reuse whatever the grace window.
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			return f.svc.Refresh(ctx, auth.Client{}, *a.first.RefreshToken)
		},
		want: auth.ErrInvalidRefreshToken,
		check: func(t *testing.T, f *fixture, a *account, _ *auth.Payload) {
			if f.live(a.second) {
				t.Fatal("reuse detected but the session still lives")
			}
		},
	},
	{
		name:  "logout",
		setup: signedUp,
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			return nil, f.svc.Logout(ctx, auth.Client{}, *a.first.RefreshToken)
		},
		check: func(t *testing.T, f *fixture, a *account, _ *auth.Payload) {
			if f.live(a.first) {
				t.Fatal("logged out but the session still lives")
			}
		},
	},
	{
		name:  "logoutAll",
		setup: loggedInTwice,
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			pr, err := f.svc.Authenticate(ctx, a.first.AccessToken)
			if err != nil {
				return nil, err
			}
			return nil, f.svc.LogoutAll(ctx, auth.Client{}, *pr)
		},
		check: func(t *testing.T, f *fixture, a *account, _ *auth.Payload) {
			if f.live(a.first) || f.live(a.second) {
				t.Fatal("logged out everywhere but a session still lives")
			}
		},
	},
	{
		name:  "revokeSession",
		setup: loggedInTwice,
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			pr, err := f.svc.Authenticate(ctx, a.first.AccessToken)
			if err != nil {
				return nil, err
			}
			other, err := f.svc.Authenticate(ctx, a.second.AccessToken)
			if err != nil {
				return nil, err
			}
			return nil, f.svc.RevokeSession(ctx, auth.Client{}, *pr, other.SessionID)
		},
		check: func(t *testing.T, f *fixture, a *account, _ *auth.Payload) {
			if f.live(a.second) || !f.live(a.first) {
				t.Fatal("revoked the wrong session, or none")
			}
		},
	},
	{
		name:  "changePassword",
		setup: loggedInTwice,
		op: func(ctx context.Context, f *fixture, a *account) (*auth.Payload, error) {
			pr, err := f.svc.Authenticate(ctx, a.first.AccessToken)
			if err != nil {
				return nil, err
			}
			return f.svc.ChangePassword(ctx, auth.Client{}, *pr, pw, "new "+pw)
		},
		check: func(t *testing.T, f *fixture, a *account, p *auth.Payload) {
			if f.live(a.second) {
				t.Fatal("password changed but another session still lives")
			}
			refreshes(t, f, p)
			if _, err := f.svc.Login(context.Background(), auth.Client{}, a.email, "new "+pw); err != nil {
				t.Fatalf("login with the new password: %v", err)
			}
		},
	},
}

// coded reports whether err is what a client sees as SERVICE_UNAVAILABLE or
// INTERNAL_SERVER_ERROR: unavailable, or no domain error at all.
func coded(err error) bool {
	if errors.Is(err, auth.ErrUnavailable) {
		return true
	}
	for _, domain := range []error{auth.ErrEmailTaken, auth.ErrInvalidCredentials, auth.ErrUnauthenticated,
		auth.ErrInvalidRefreshToken, auth.ErrNotFound, auth.ErrBusy} {
		if errors.Is(err, domain) {
			return false
		}
	}
	return err != nil
}

// txStatements counts, from when it is set, the statements run in
// transactions, and fails with err the nth (from 0) and those after it, up to
// times times: once, the nth; always, every attempt from the nth statement on.
func txStatements(n int, err error, times int, seen *[]store.Statement) store.FailureHook {
	var mu sync.Mutex
	var i, failed int
	return func(_ context.Context, st store.Statement) error {
		if !st.InTx {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if seen != nil {
			*seen = append(*seen, st)
		}
		i++
		if n >= 0 && i-1 >= n && failed < times {
			failed++
			return err
		}
		return nil
	}
}

// TestEveryStatementOfATransactionCanFail breaks each statement of each
// operation's transaction in turn. An operation either happens in full (and
// what it answered works) or not at all and answers a coded error: never a
// token without its row, a revocation without its effect or its event, nor a
// token spent by an answer the client never got. A deadlock at any statement
// is retried into a full success.
func TestEveryStatementOfATransactionCanFail(t *testing.T) {
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	faults := []struct {
		name  string
		err   error
		times int
		retry bool // the operation must succeed after retrying
	}{
		{"error", errors.New("injected failure"), 1, false},
		{"connection", driver.ErrBadConn, 1, false},
		{"deadlock", deadlock, 1, true},
		{"lock wait timeout", &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}, 1, true},
		{"lasting deadlock", deadlock, 1 << 20, false},
	}
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		ctx := context.Background()
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				// A clean run: the statements of the transaction and the rows it leaves.
				a := sc.setup(t, f)
				raw := f.state(t, a.email)
				base := raw.since(raw)
				var stmts []store.Statement
				f.fail.Set(txStatements(-1, nil, 0, &stmts))
				p, err := sc.op(ctx, f, a)
				f.fail.Set(nil)
				if !errors.Is(err, sc.want) && err != sc.want {
					t.Fatalf("clean run: %v", err)
				}
				done := f.state(t, a.email).since(raw)
				if done == base {
					t.Fatal("clean run changed nothing")
				}
				sc.check(t, f, a, p)
				if len(stmts) == 0 {
					t.Fatal("no statement ran in a transaction")
				}
				for i, st := range stmts {
					for _, fault := range faults {
						t.Run(fmt.Sprintf("%d-%s-%s/%s", i, st.Kind, st.Table, fault.name), func(t *testing.T) {
							a := sc.setup(t, f)
							before := f.state(t, a.email)
							if got := before.since(before); got != base {
								t.Fatalf("setup: %+v, want %+v", got, base)
							}
							f.fail.Set(txStatements(i, fault.err, fault.times, nil))
							p, err := sc.op(ctx, f, a)
							f.fail.Set(nil)
							got := f.state(t, a.email).since(before)
							happened := err == sc.want || errors.Is(err, sc.want) && sc.want != nil
							switch {
							case happened:
								if got != done {
									t.Fatalf("answered success but left %+v, want %+v", got, done)
								}
								sc.check(t, f, a, p)
							case fault.retry:
								t.Fatalf("not retried into a success: %v", err)
							default:
								if !coded(err) {
									t.Fatalf("failed with %v: not SERVICE_UNAVAILABLE nor INTERNAL_SERVER_ERROR", err)
								}
								if got != base {
									t.Fatalf("failed (%v) but left %+v, want %+v", err, got, base)
								}
								// Nothing was spent: the operation can be done again.
								p, err := sc.op(ctx, f, a)
								if !errors.Is(err, sc.want) && err != sc.want {
									t.Fatalf("again after the failure: %v", err)
								}
								if got := f.state(t, a.email).since(before); got != done {
									t.Fatalf("again after the failure: left %+v, want %+v", got, done)
								}
								sc.check(t, f, a, p)
							}
						})
					}
				}
			})
		}
	})
}
