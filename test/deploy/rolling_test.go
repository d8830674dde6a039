// Package deploy tests what operators do to a running authql: a rolling
// restart behind a real HAProxy with the example configuration.
package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/authqlbin"
)

const (
	instances = 3
	// shutdownDelay is the example configuration's minimum, inter x (fall +
	// 1) = 3s, plus a second of margin for a busy machine.
	shutdownDelay = 4 * time.Second
	workers       = 6
)

// TestRollingRestartBehindHAProxy restarts three authql instances on one
// MariaDB database one after the other (SIGTERM, wait for the exit, start
// again, wait until HAProxy routes to it) while users sign up, log in,
// refresh, ask who they are and log out through HAProxy, and requires that
// not one request fails: no transport error, no status but 200, no GraphQL
// error. Every instance, the restarted ones included, must have served.
//
// HAProxy's retries would hide a server that closed its listener while still
// in rotation (a refused connection is retried on another server), so the
// test also requires that HAProxy never had to: no retry, no redispatch, no
// failed connection and no broken answer on any server. That is what the drain
// delay buys, and what a balancer without retries needs.
//
// MariaDB only: several instances share a network database in production;
// SQLite's one file shared by processes serializes their writers on a file
// lock, which is not how anyone runs several instances, and its busy waits
// would be measured instead of the deploy.
func TestRollingRestartBehindHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three servers and haproxy for ~30s: skipped in -short mode")
	}
	hx := haproxyBinary(t)
	db := storetest.MySQL(t)
	bin := authqlbin.Build(t)
	settings := []string{
		"AUTHQL_DATABASE_URL=" + db.URL,
		"AUTHQL_JWT_SECRET=rolling-deploy-secret-0123456789abcdef",
		// Every user of the test comes from 127.0.0.1: the per-IP limits
		// would refuse the load itself.
		"AUTHQL_RATE_LIMIT=off",
		"AUTHQL_TRUSTED_PROXIES=127.0.0.1/32",
		"AUTHQL_SHUTDOWN_DELAY=" + shutdownDelay.String(),
	}
	addrs := make([]string, instances)
	servers := make([]*authqlbin.Server, instances)
	for i := range servers {
		addrs[i] = authqlbin.FreeAddr(t)
		// One after the other: the first creates the tables.
		servers[i] = authqlbin.Start(t, bin, append(settings, "AUTHQL_ADDR="+addrs[i])...)
	}
	proxy := startHAProxy(t, hx, addrs)
	for i := range servers {
		proxy.waitStatus(t, name(i), "UP", 15*time.Second)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := &userLoad{url: proxy.URL}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); load.user(ctx, w) }()
	}
	time.Sleep(2 * time.Second) // steady state first

	began := time.Now()
	upAt := make([]serverStat, instances) // each server's counts once back in rotation
	for i := range servers {
		before := load.total.Load()
		if err := servers[i].Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		proxy.waitStatus(t, name(i), "DOWN", shutdownDelay)
		if err := servers[i].Wait(shutdownDelay + 20*time.Second); err != nil {
			t.Fatalf("instance %d after SIGTERM: %v\n%s", i+1, err, servers[i].Tail())
		}
		servers[i] = authqlbin.Start(t, bin, append(settings, "AUTHQL_ADDR="+addrs[i])...)
		proxy.waitStatus(t, name(i), "UP", 15*time.Second)
		upAt[i] = proxy.stats(t)[name(i)]
		t.Logf("instance %d restarted; %d requests meanwhile", i+1, load.total.Load()-before)
		time.Sleep(time.Second) // let it take load before the next one goes
	}
	deploy := time.Since(began)
	during := load.total.Load()
	time.Sleep(time.Second)
	cancel()
	wg.Wait()

	end := proxy.stats(t)
	t.Logf("rolling restart of %d instances took %v; %d requests in all, %d of them from the first SIGTERM to the last instance back; by operation: %s",
		instances, deploy.Round(100*time.Millisecond), load.total.Load(), during, load.summary())
	for i := range servers {
		s := end[name(i)]
		t.Logf("haproxy %s: %d answered 200 (%d since its restart), %d other; retries %d, redispatches %d, connection errors %d, response errors %d",
			name(i), s.Answered, s.Answered-upAt[i].Answered, s.Other, s.Retried, s.Redispatched, s.ConnErrors, s.RespErrors)
		if s.Retried+s.Redispatched+s.ConnErrors+s.RespErrors != 0 {
			t.Errorf("%s: haproxy met a closed or broken connection and had to retry: the instance left rotation too late", name(i))
		}
		if s.Answered-upAt[i].Answered == 0 {
			t.Errorf("%s served nothing after its restart: the load did not reach it", name(i))
		}
		if s.Other != 0 {
			t.Errorf("%s answered %d requests with a status other than 2xx", name(i), s.Other)
		}
	}
	if f := load.failures(); len(f) > 0 {
		t.Fatalf("%d of %d requests failed during the rolling restart; first ones:\n%s\n%s",
			len(f), load.total.Load(), strings.Join(f[:min(len(f), 20)], "\n"), proxy.tail())
	}
	if load.total.Load() < 100 {
		t.Fatalf("only %d requests: the load did not run", load.total.Load())
	}
}

func name(i int) string { return fmt.Sprintf("authql%d", i+1) }

// userLoad is users going through their lives in a loop: sign up, ask who
// they are, refresh, log out, log in again, refresh, log out.
type userLoad struct {
	url   string
	total atomic.Int64

	mu     sync.Mutex
	byOp   map[string]int
	failed []string
}

const logoutQuery = `mutation($t: String) { logout(token: $t) }`

func (l *userLoad) user(ctx context.Context, worker int) {
	c := loadtest.NewClient(l.url, 1)
	defer c.Close()
	for n := 0; ctx.Err() == nil; n++ {
		email, password := fmt.Sprintf("rolling-%d-%d@example.com", worker, n), "rolling password 1"
		p, ok := do(l, ctx, "signup", func(ctx context.Context) (*loadtest.Payload, error) { return c.Signup(ctx, email, password) })
		if !ok {
			continue
		}
		if !l.me(ctx, c, p) {
			continue
		}
		if p, ok = do(l, ctx, "refresh", func(ctx context.Context) (*loadtest.Payload, error) { return c.Refresh(ctx, p.Refresh()) }); !ok {
			continue
		}
		if !l.me(ctx, c, p) || !l.logout(ctx, c, p) {
			continue
		}
		if p, ok = do(l, ctx, "login", func(ctx context.Context) (*loadtest.Payload, error) { return c.Login(ctx, email, password) }); !ok {
			continue
		}
		if p, ok = do(l, ctx, "refresh", func(ctx context.Context) (*loadtest.Payload, error) { return c.Refresh(ctx, p.Refresh()) }); !ok {
			continue
		}
		l.logout(ctx, c, p)
	}
}

func (l *userLoad) me(ctx context.Context, c *loadtest.Client, p *loadtest.Payload) bool {
	_, ok := do(l, ctx, "me", func(ctx context.Context) (*loadtest.User, error) { return c.Me(ctx, p.AccessToken) })
	return ok
}

func (l *userLoad) logout(ctx context.Context, c *loadtest.Client, p *loadtest.Payload) bool {
	_, ok := do(l, ctx, "logout", func(ctx context.Context) (bool, error) {
		var out bool
		err := c.Do(ctx, logoutQuery, map[string]any{"t": p.Refresh()}, "", "logout", &out)
		if err == nil && !out {
			err = fmt.Errorf("logout answered false")
		}
		return out, err
	})
	return ok
}

// do runs one request and records it; a request cut short because the test
// is ending is neither success nor failure.
func do[T any](l *userLoad, ctx context.Context, op string, fn func(context.Context) (T, error)) (T, bool) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	began := time.Now()
	v, err := fn(rctx)
	l.total.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byOp == nil {
		l.byOp = map[string]int{}
	}
	l.byOp[op]++
	if err != nil {
		l.failed = append(l.failed, fmt.Sprintf("%s at %s after %v: %s: %v", op, began.Format("15:04:05.000"), time.Since(began).Round(time.Millisecond), loadtest.Code(err), err))
		return v, false
	}
	return v, true
}

func (l *userLoad) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.failed...)
}

func (l *userLoad) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for op, n := range l.byOp {
		parts = append(parts, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
