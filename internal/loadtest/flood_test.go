//go:build linux

package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/authql/authql/internal/testkit/authqlbin"
)

// Flood parameters: the numbers.
const (
	floodLogins   = 300
	floodAccounts = 4
	floodPassword = "flood-password-correct-horse"
	// maxPeakRSS is the bound the issue asks for. Unbounded, 300 argon2id
	// hashes of 19 MiB each would want about 5.6 GiB at once.
	maxPeakRSS = 400 << 20
	argonMiB   = 19
	// queueTimeout is AUTHQL_HASH_QUEUE_TIMEOUT's default: the test runs the
	// server as a user would, with no setting changed but the rate limits.
	queueTimeout = 20 * time.Second
)

// TestLoginFloodMemoryBound proves that password hashing runs with bounded
// concurrency: 300 logins fired at once at the real binary, with the real
// argon2id cost, all succeed while the server's peak RSS stays under 400 MiB.
func TestLoginFloodMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and floods the real server with 300 argon2id logins (~10 s): skipped in -short mode")
	}
	srv := authqlbin.Start(t, authqlbin.Build(t), "AUTHQL_JWT_SECRET=loadtest-secret-0123456789abcdef0123456789", "AUTHQL_RATE_LIMIT=off")

	baseline, err := ReadMemory(srv.PID)
	if err != nil {
		t.Fatalf("read server memory: %v", err)
	}
	t.Logf("control: after startup (pid %d): %v", srv.PID, baseline)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := NewClient(srv.URL, floodLogins)
	defer c.Close()
	accounts := make([]Account, floodAccounts)
	for i := range accounts {
		accounts[i] = Account{Email: fmt.Sprintf("flood%d@example.com", i), Password: floodPassword}
		if _, err := c.Signup(ctx, accounts[i].Email, accounts[i].Password); err != nil {
			t.Fatalf("signup %s: %v", accounts[i].Email, err)
		}
	}
	before, err := ReadMemory(srv.PID)
	if err != nil {
		t.Fatalf("read server memory: %v", err)
	}
	t.Logf("control: after %d signups: %v", floodAccounts, before)

	// Calibration, for the log and for telling a starved machine from a
	// failure: how long one login takes alone right now.
	const probes = 3
	began := time.Now()
	for i := range probes {
		if _, err := c.Login(ctx, accounts[i%floodAccounts].Email, floodPassword); err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	single := time.Since(began) / probes
	// The server runs one hasher per core (it inherits this GOMAXPROCS).
	predicted := single * floodLogins / time.Duration(runtime.GOMAXPROCS(0))
	t.Logf("control: one login alone takes %v; %d at once should take about %v", single.Round(time.Millisecond), floodLogins, predicted.Round(100*time.Millisecond))

	tokens := make([]string, floodLogins)
	latencies := make([]time.Duration, floodLogins)
	res, err := Run(ctx, Config{Requests: floodLogins, Concurrency: floodLogins, Timeout: 90 * time.Second},
		func(ctx context.Context, w int) error {
			began := time.Now()
			p, err := c.Login(ctx, accounts[w%floodAccounts].Email, floodPassword)
			latencies[w] = time.Since(began)
			if err == nil {
				tokens[w] = p.AccessToken
			}
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	after, err := ReadMemory(srv.PID)
	if err != nil {
		t.Fatalf("read server memory: %v", err)
	}
	t.Logf("flood: %d concurrent logins:\n%s", floodLogins, report(res))
	t.Logf("flood: %.1f logins/s over %v; server %v (startup peak %.1f MiB; unbounded would need ~%d MiB of argon2id memory)",
		res.OKPerSecond(), res.Elapsed.Round(time.Millisecond), after, MiB(baseline.Peak), floodLogins*argonMiB)

	if after.Peak >= maxPeakRSS {
		t.Errorf("server peak RSS %.1f MiB, want < %d MiB", MiB(after.Peak), maxPeakRSS>>20)
	}
	if res.Requests != floodLogins || res.OK != floodLogins {
		// The rate the server did hash at, here and now: at that rate, could
		// the flood fit in the queue timeout at all?
		rate := float64(res.OK) / res.Elapsed.Seconds()
		if res.Errors["SERVICE_UNAVAILABLE"] == res.Failed() && (predicted > queueTimeout/2 || rate*queueTimeout.Seconds() < floodLogins) {
			// The memory bound was still measured (above). What failed is that
			// this machine, starved of CPU by other work, could not hash 300
			// passwords before the queue timeout: not what this test is about.
			t.Skipf("machine too busy: one login took %v alone and %.1f logins/s were hashed in the flood (%d fit in the %v hash queue timeout); %d logins waited past it. Rerun on an idle machine.",
				single.Round(time.Millisecond), rate, int(rate*queueTimeout.Seconds()), queueTimeout, res.Failed())
		}
		t.Errorf("%d of %d logins succeeded (errors: %s; one login alone took %v)\n%s",
			res.OK, floodLogins, res.ErrorSummary(), single.Round(time.Millisecond), srv.Tail())
	}
	// The tokens the flood earned are good ones.
	for _, w := range []int{0, floodLogins - 1} {
		if tokens[w] == "" {
			continue
		}
		if u, err := c.Me(ctx, tokens[w]); err != nil || u.Email != accounts[w%floodAccounts].Email {
			t.Errorf("me with login %d's token: %+v, %v", w, u, err)
		}
	}
	if err := srv.Stop(20 * time.Second); err != nil {
		t.Errorf("graceful stop: %v\n%s", err, srv.Tail())
	}
}
