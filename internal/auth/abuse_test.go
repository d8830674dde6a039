package auth_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/ratelimit"
	"github.com/authql/authql/internal/store/storetest"
)

// logBuffer collects a Service's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is how many lines contain s.
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// serviceWith is a Service on the fixture's store with opts and limiter,
// logging warnings to logs. Lifetimes opts leaves zero are the fixture's.
func (f *fixture) serviceWith(opts auth.Options, limiter ratelimit.Limiter, logs *logBuffer) *auth.Service {
	opts.RefreshTTL = cmp.Or(opts.RefreshTTL, time.Hour)
	opts.SessionMaxAge = cmp.Or(opts.SessionMaxAge, 24*time.Hour)
	opts.ReuseGrace = cmp.Or(opts.ReuseGrace, 10*time.Second)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return auth.New(f.store, f.tokens, password.NewHasher(cheap, 0, 10*time.Second), limiter, opts, log)
}

func sessionID(t *testing.T, svc *auth.Service, p *auth.Payload) string {
	t.Helper()
	pr, err := svc.Authenticate(context.Background(), p.AccessToken)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return pr.SessionID
}

// TestSessionCapEvictsLeastRecentlyUsed: with a cap of 3, five session
// starts leave three live sessions; the two evicted are the least recently
// used (an old session refreshed since survives), their access and refresh
// tokens stop working, and each eviction is in the owner's audit trail.
func TestSessionCapEvictsLeastRecentlyUsed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		svc := f.serviceWith(auth.Options{MaxSessionsPerUser: 3}, ratelimit.Disabled{}, &logBuffer{})
		clk := f.clock
		ctx := context.Background()
		email := newEmail()
		step := func(op func() (*auth.Payload, error)) *auth.Payload {
			t.Helper()
			clk.Advance(time.Second)
			p, err := op()
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		login := func() (*auth.Payload, error) { return svc.Login(ctx, auth.Client{IP: "192.0.2.1"}, email, pw) }
		first := step(func() (*auth.Payload, error) { return svc.Signup(ctx, auth.Client{}, email, pw) })
		second := step(login)
		third := step(login)
		// The oldest session is used now: the least recently used is second.
		first = step(func() (*auth.Payload, error) { return svc.Refresh(ctx, auth.Client{}, *first.RefreshToken) })
		evicted := []string{sessionID(t, svc, second), sessionID(t, svc, third)}
		fourth := step(login)
		fifth := step(login)

		pr, err := svc.Authenticate(ctx, fifth.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		live, err := svc.Sessions(ctx, *pr)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range live {
			got = append(got, s.ID)
		}
		want := []string{sessionID(t, svc, fifth), sessionID(t, svc, fourth), sessionID(t, svc, first)}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("live sessions %v, want %v (newest first)", got, want)
		}
		for _, p := range []*auth.Payload{second, third} {
			if _, err := svc.Authenticate(ctx, p.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("access token of an evicted session: %v, want UNAUTHENTICATED", err)
			}
			if _, err := svc.Refresh(ctx, auth.Client{}, *p.RefreshToken); !errors.Is(err, auth.ErrInvalidRefreshToken) {
				t.Errorf("refresh token of an evicted session: %v, want INVALID_REFRESH_TOKEN", err)
			}
		}
		for _, id := range evicted {
			var reason string
			if err := f.db.QueryRow("SELECT revoked_reason FROM sessions WHERE id = ?", id).Scan(&reason); err != nil || reason != auth.ReasonEvicted {
				t.Errorf("session %s: revoked_reason %q, %v", id, reason, err)
			}
		}
		page, err := svc.AuditEvents(ctx, *pr, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		var revoked []string
		for _, e := range page.Events {
			if e.Type == auth.EventSessionRevoked {
				if e.Detail == nil || *e.Detail != "session_limit" || e.IPAddress == nil || *e.IPAddress != "192.0.2.1" || e.Count != 1 {
					t.Errorf("eviction event %+v", e)
				}
				revoked = append([]string{*e.SessionID}, revoked...) // oldest first
			}
		}
		if strings.Join(revoked, ",") != strings.Join(evicted, ",") {
			t.Errorf("session_revoked events for %v, want %v", revoked, evicted)
		}
	})
}

// TestConcurrentLoginsStayUnderCap: twenty logins of one user at once, with a
// cap of 5, all succeed and leave exactly five live sessions: no two count
// the same sessions and both start a sixth.
func TestConcurrentLoginsStayUnderCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		svc := f.serviceWith(auth.Options{MaxSessionsPerUser: 5}, ratelimit.Disabled{}, &logBuffer{})
		ctx := context.Background()
		email := newEmail()
		if _, err := svc.Signup(ctx, auth.Client{}, email, pw); err != nil {
			t.Fatal(err)
		}
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = svc.Login(ctx, auth.Client{}, email, pw) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("login %d: %v", i, err)
			}
		}
		var live, evictions int
		if err := f.db.QueryRow("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = ? AND s.revoked_at IS NULL", email).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if err := f.db.QueryRow("SELECT COUNT(*) FROM audit_events a JOIN users u ON u.id = a.user_id WHERE u.email = ? AND a.type = 'session_revoked' AND a.detail = 'session_limit'", email).Scan(&evictions); err != nil {
			t.Fatal(err)
		}
		if live != 5 || evictions != n+1-5 {
			t.Fatalf("%d live sessions and %d evictions after %d session starts, want 5 and %d", live, evictions, n+1, n+1-5)
		}
	})
}

// rateLimitedRows is the rate_limited rows of a rule: count of each, oldest first.
func rateLimitedRows(t *testing.T, f *fixture, rule string) []int {
	t.Helper()
	rows, err := f.db.Query("SELECT count FROM audit_events WHERE type = 'rate_limited' AND detail = ? ORDER BY id", rule)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// clipped is at most the first 5 of counts, for a readable failure.
func clipped(counts []int) []int { return counts[:min(len(counts), 5)] }

// TestRateLimitedAttemptsAreAggregated: refused attempts write one
// rate_limited row per (account, or client network without one) and rule and
// window, counting them, and log one warning for it; they used to write a
// row and a log line each.
func TestRateLimitedAttemptsAreAggregated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		logs := &logBuffer{}
		svc := f.serviceWith(auth.Options{Limits: auth.Limits{
			LoginAccountIP: ratelimit.Rule{Name: "login-account-ip", Limit: 2, Window: 15 * time.Minute},
			Signup:         ratelimit.Rule{Name: "signup-ip", Limit: 1, Window: time.Hour},
		}}, ratelimit.NewMemory(), logs)
		clk := f.clock
		ctx := context.Background()
		const warning = "msg=\"security event\""

		t.Run("an account's refusals", func(t *testing.T) {
			email := newEmail()
			if _, err := svc.Signup(ctx, auth.Client{IP: "192.0.2.10"}, email, pw); err != nil {
				t.Fatal(err)
			}
			// Two failures use the budget of one address; 200 attempts at once follow,
			// from two addresses: the account's trail aggregates both.
			for range 2 {
				if _, err := svc.Login(ctx, auth.Client{IP: "198.51.100.1"}, email, "wrong password"); !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Fatal(err)
				}
			}
			var refusedN atomic.Int64
			var wg sync.WaitGroup
			for w := range 20 {
				ip := []string{"198.51.100.1", "198.51.100.2"}[w%2]
				wg.Go(func() {
					for range 10 {
						_, err := svc.Login(ctx, auth.Client{IP: ip}, email, "wrong password")
						if rl := (*auth.RateLimitError)(nil); errors.As(err, &rl) {
							refusedN.Add(1)
						}
					}
				})
			}
			wg.Wait()
			refused := int(refusedN.Load())
			if refused != 198 {
				t.Fatalf("%d attempts refused, want 198 (two more wrong passwords from the second address)", refused)
			}
			if got := rateLimitedRows(t, f, "login-account-ip"); len(got) != 1 || got[0] != refused {
				t.Fatalf("%d rate_limited rows (counts %v), want one counting %d", len(got), clipped(got), refused)
			}
			if n := logs.count(warning); n != 1 {
				t.Fatalf("%d warnings logged, want 1", n)
			}
			// The next window of the rule starts a new row.
			clk.Advance(15 * time.Minute)
			if _, err := svc.Login(ctx, auth.Client{IP: "198.51.100.1"}, email, "wrong password"); err == nil {
				t.Fatal("login with a wrong password succeeded")
			}
			if got := rateLimitedRows(t, f, "login-account-ip"); len(got) != 2 || got[1] != 1 {
				t.Fatalf("rate_limited rows (counts) %v after a new window, want [%d 1]", got, refused)
			}
			if n := logs.count(warning); n != 2 {
				t.Fatalf("%d warnings logged, want 2", n)
			}
		})

		t.Run("a client network's refusals", func(t *testing.T) {
			before := logs.count(warning)
			// Two hosts of one IPv6 /64 are one client network, as the HTTP
			// layer tells the service.
			networks := map[string]string{"2001:db8:1:2::1": "2001:db8:1:2::/64", "2001:db8:1:2::2": "2001:db8:1:2::/64"}
			signup := func(ip string) error {
				_, err := svc.Signup(ctx, auth.Client{IP: ip, Network: networks[ip]}, newEmail(), pw)
				return err
			}
			ips := []string{"203.0.113.7", "2001:db8:1:2::1", "2001:db8:1:2::2"}
			for _, ip := range ips[:2] {
				if err := signup(ip); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 51 {
				var rl *auth.RateLimitError
				if err := signup(ips[i%3]); !errors.As(err, &rl) {
					t.Fatalf("signup %d: %v, want RATE_LIMITED", i, err)
				}
			}
			got := rateLimitedRows(t, f, "signup-ip")
			if len(got) != 2 || got[0] != 17 || got[1] != 34 {
				t.Fatalf("%d rate_limited rows (counts %v), want [17 34]: one per client network", len(got), clipped(got))
			}
			if n := logs.count(warning) - before; n != 2 {
				t.Fatalf("%d warnings logged, want 2", n)
			}
		})
	})
}
