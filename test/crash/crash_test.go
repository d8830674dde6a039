// Package crash kills authql with SIGKILL in the middle of its work and
// checks, from what the clients were answered, that the database it leaves
// behind is consistent: sessions, accounts and queued mail.
package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/mail/mailtest"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/authqlbin"
)

const (
	// kills and the load between them are kept short: every failed attempt at
	// a mail while the relay is down pushes its next one back (5s, 10s,
	// 20s...), and the test waits that out once the relay is back.
	kills    = 3
	sessions = 8 // refresh chains, two per refresh worker
	signers  = 2 // workers signing up new accounts
	password = "crash password 1"
)

// TestSIGKILLLeavesConsistentState runs refreshes and signups against one
// instance, kills it with SIGKILL at random moments, starts it again on the
// same database each time, and holds it to what it answered:
//
//   - Sessions. A client keeps the last refresh token it was answered. A
//     refresh whose answer never came (the kill) may or may not have
//     committed; either way, presenting the last answered token again must
//     work: it rotates (the cut rotation never committed) or it hits the
//     reuse grace (it did, and the same successor comes back). No session is
//     ever left with neither token working, so every refresh the test sends
//     is answered with a token, never INVALID_REFRESH_TOKEN.
//   - Accounts. A signup without an answer is sent again with the same email
//     after the restart: it is answered with the account or EMAIL_TAKEN, and
//     the database holds each email exactly once.
//   - Mail. The SMTP relay refuses connections while the instance is being
//     killed, so every verification mail is still queued at every kill; once
//     the relay is back, every account the test knows of gets its mail.
func TestSIGKILLLeavesConsistentState(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the real server several times (~30s): skipped in -short mode")
	}
	bin := authqlbin.Build(t)
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		t.Parallel()
		crashRun(t, bin, db)
	})
}

func crashRun(t *testing.T, bin string, db storetest.Backend) {
	relay := mailtest.Start(t, mailtest.Options{})
	relay.Stop() // down until every kill is done: nothing is delivered before one
	settings := []string{
		"AUTHQL_DATABASE_URL=" + db.URL,
		"AUTHQL_JWT_SECRET=crash-test-secret-0123456789abcdef0123",
		"AUTHQL_RATE_LIMIT=off", // all the test's users come from 127.0.0.1
		"AUTHQL_SMTP_URL=" + relay.URL(),
		// A cut refresh is presented again only once the instance is back,
		// seconds later: the grace must outlast a restart (the default 10s
		// does on a quiet machine, not on a loaded CI runner).
		"AUTHQL_REFRESH_REUSE_GRACE=5m",
	}
	srv := authqlbin.Start(t, bin, settings...)
	addr := strings.TrimPrefix(srv.URL, "http://")
	settings = append(settings, "AUTHQL_ADDR="+addr) // the clients keep the address

	r := &run{c: loadtest.NewClient(srv.URL, sessions+signers), accounts: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chains := make([]string, sessions)
	for i := range chains {
		p := r.signup(ctx, fmt.Sprintf("chain%d-%s@example.com", i, db.Name))
		chains[i] = p.Refresh()
	}
	var wg sync.WaitGroup
	for w := range sessions / 2 {
		wg.Add(1)
		go func() { defer wg.Done(); r.refreshLoop(ctx, chains[2*w:2*w+2]) }()
	}
	for w := range signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				r.signup(ctx, fmt.Sprintf("signup%d-%d-%s@example.com", w, n, db.Name))
			}
		}()
	}
	for k := range kills {
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		srv.Kill()
		t.Logf("kill %d after %d answered requests", k+1, r.count())
		srv = authqlbin.Start(t, bin, settings...)
	}
	time.Sleep(500 * time.Millisecond) // the cut requests are sent again
	cancel()
	wg.Wait()

	// After the last restart: the last answered token of every chain works,
	// and its successor too (the session is not wedged).
	check := context.Background()
	for i, tok := range chains {
		p, err := r.c.Refresh(check, tok)
		if err == nil {
			_, err = r.c.Refresh(check, p.Refresh())
		}
		if err != nil {
			r.fail("chain %d after the last restart: %v", i, err)
		}
	}

	// Each email once in the database, and every account the test knows of there.
	sqlDB := storetest.SQL(t, db)
	var dups int
	if err := sqlDB.QueryRow(`SELECT COUNT(*) FROM (SELECT email FROM users GROUP BY email HAVING COUNT(*) > 1) d`).Scan(&dups); err != nil {
		t.Fatal(err)
	}
	var users int
	if err := sqlDB.QueryRow(`SELECT COUNT(*) FROM users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		r.fail("%d emails have more than one account", dups)
	}
	r.mu.Lock()
	known := len(r.accounts)
	r.mu.Unlock()
	if users < known {
		r.fail("%d accounts in the database, %d signups acknowledged", users, known)
	}

	// Every queued verification mail goes out once the relay is back.
	relay.Restart()
	want := map[string]bool{}
	r.mu.Lock()
	for email := range r.accounts {
		want[email] = true
	}
	r.mu.Unlock()
	mailFrom := time.Now()
	got := waitMail(t, relay, want, 90*time.Second)
	t.Logf("%s: mail delivered %v after the relay came back", db.Name, time.Since(mailFrom).Round(100*time.Millisecond))

	t.Logf("%s: %d kills, %d answered requests (%d refreshes, %d signups), %d cut by a kill and sent again; %d accounts (%d acknowledged), %d/%d mails of acknowledged accounts delivered after the restarts (%d messages in all)",
		db.Name, kills, r.count(), r.refreshes, r.signups, r.cut, users, known, got, len(want), len(relay.Messages()))
	if f := r.failures(); len(f) > 0 {
		t.Fatalf("%d inconsistencies:\n%s\n%s", len(f), strings.Join(f[:min(20, len(f))], "\n"), srv.Tail())
	}
}

// run is what the clients were answered.
type run struct {
	c *loadtest.Client

	mu        sync.Mutex
	accounts  map[string]bool // emails whose signup was answered with the account or EMAIL_TAKEN
	refreshes int
	signups   int
	cut       int // requests without an answer (the kill), sent again
	failed    []string
}

func (r *run) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshes + r.signups
}

func (r *run) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *run) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failed...)
}

// retry sends a request until it is answered: a transport error is the kill
// (or the restart not yet listening), and the same request goes again. It
// reports whether an earlier attempt went unanswered.
func (r *run) retry(ctx context.Context, fn func(context.Context) error) (cut bool, err error) {
	for {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = fn(rctx)
		cancel()
		var answered *loadtest.Error
		if err == nil || errors.As(err, &answered) {
			if cut {
				r.mu.Lock()
				r.cut++
				r.mu.Unlock()
			}
			return cut, err
		}
		cut = true
		time.Sleep(50 * time.Millisecond)
	}
}

// signup creates email's account, again after a kill if need be: then the
// first attempt may have committed and EMAIL_TAKEN is the right answer.
func (r *run) signup(ctx context.Context, email string) *loadtest.Payload {
	var p *loadtest.Payload
	cut, err := r.retry(ctx, func(ctx context.Context) (err error) {
		p, err = r.c.Signup(ctx, email, password)
		return err
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signups++
	switch {
	case err == nil:
		r.accounts[email] = true
	case cut && loadtest.Code(err) == "EMAIL_TAKEN":
		r.accounts[email] = true // made by the attempt the kill cut off
	default:
		r.failed = append(r.failed, fmt.Sprintf("signup %s: %v", email, err))
	}
	return p
}

// refreshLoop rotates its chains' tokens in turn, keeping each chain's last
// answered token; a cut refresh presents that token again.
func (r *run) refreshLoop(ctx context.Context, chains []string) {
	for i := 0; ctx.Err() == nil; i = (i + 1) % len(chains) {
		var p *loadtest.Payload
		cut, err := r.retry(ctx, func(ctx context.Context) (err error) {
			p, err = r.c.Refresh(ctx, chains[i])
			return err
		})
		r.mu.Lock()
		r.refreshes++
		if err != nil {
			r.failed = append(r.failed, fmt.Sprintf("refresh of the last answered token (after a cut request: %v): %v", cut, err))
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		chains[i] = p.Refresh()
	}
}

// waitMail waits until the relay has a verification mail for every address
// in want, and answers how many it has.
func waitMail(t *testing.T, relay *mailtest.Server, want map[string]bool, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := map[string]bool{}
		for _, m := range relay.Messages() {
			for _, to := range m.To {
				if want[to] && strings.Contains(string(m.Data), "verify-email") {
					got[to] = true
				}
			}
		}
		if len(got) == len(want) || time.Now().After(deadline) {
			if len(got) != len(want) {
				var missing []string
				for email := range want {
					if !got[email] {
						missing = append(missing, email)
					}
				}
				t.Errorf("%d of %d verification mails never arrived within %v, e.g. %v", len(want)-len(got), len(want), within, missing[:min(5, len(missing))])
			}
			return len(got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
