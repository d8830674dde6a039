package e2e

import (
	"context"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store/storetest"
)

// Benchmarks of whole requests: a client in this process sends GraphQL over
// loopback HTTP to the assembled handler, on SQLite and (when
// AUTHQL_TEST_MYSQL_URL is set) MySQL. Client and server share the machine's
// cores, so ns/op is the cost of a request to both. Each operation has a
// serial variant (one request at a time: latency) and a parallel one
// (benchParallelism × GOMAXPROCS clients: throughput, and then ns/op is
// wall time per request, the inverse of ops/s).
//
//	go test ./internal/e2e -run '^$' -bench . -benchtime 2s

// benchParallelism × GOMAXPROCS concurrent clients in the parallel variants:
// 8 on a 2-core machine, where MariaDB rotations peak.
const benchParallelism = 4

// benchEnv is a running authql for a benchmark. (start takes a *testing.T,
// which a benchmark has not: this mirrors it.)
type benchEnv struct {
	c *loadtest.Client
}

// startBench runs authql on db with the test defaults and the given password
// cost (nil: the real one, password.DefaultParams).
func startBench(b *testing.B, db storetest.Backend, cost *password.Params) *benchEnv {
	b.Helper()
	var opts []app.Option
	if cost != nil {
		opts = append(opts, app.WithPasswordParams(*cost))
	}
	// Parallel logins queue for the hashers; they must not time out.
	a, err := newApp(b, db, opts, "AUTHQL_HASH_QUEUE_TIMEOUT=60s")
	if err != nil {
		b.Fatalf("app: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	c := loadtest.NewClient(srv.URL, 64)
	b.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return &benchEnv{c: c}
}

// eachBackend runs fn as a sub-benchmark on SQLite and, when configured, MySQL.
// fn runs once per backend (it holds the sub-benchmarks that loop), so its
// setup is not repeated as b.N grows.
func eachBackend(b *testing.B, fn func(b *testing.B, db storetest.Backend)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.SQLite(b)) })
	b.Run("mysql", func(b *testing.B) { fn(b, storetest.MySQL(b)) })
}

// reportRate adds ops/s, the operations completed per second of wall time.
func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// sessions logs n sessions of one new account in and returns their payloads.
func (e *benchEnv) sessions(b *testing.B, n int) []*loadtest.Payload {
	b.Helper()
	ctx := context.Background()
	email := newEmail()
	if _, err := e.c.Signup(ctx, email, pw); err != nil {
		b.Fatalf("signup: %v", err)
	}
	out := make([]*loadtest.Payload, n)
	for i := range out {
		p, err := e.c.Login(ctx, email, pw)
		if err != nil {
			b.Fatalf("login: %v", err)
		}
		out[i] = p
	}
	return out
}

// parallel runs op from benchParallelism × GOMAXPROCS goroutines, each with its
// own index into per-client state; the first failure stops the benchmark.
func parallel(b *testing.B, op func(ctx context.Context, client int) error) {
	var clients atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := int(clients.Add(1) - 1)
		for pb.Next() {
			if err := op(ctx, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// parallelClients is how many goroutines parallel runs.
func parallelClients() int { return benchParallelism * runtime.GOMAXPROCS(0) }

// BenchmarkMe is the authenticated me query: access-token verification, the
// session check (revocation is immediate) and the user lookup.
func BenchmarkMe(b *testing.B) {
	eachBackend(b, func(b *testing.B, db storetest.Backend) {
		e := startBench(b, db, &cheapHash)
		access := e.sessions(b, 1)[0].AccessToken
		b.Run("serial", func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if _, err := e.c.Me(ctx, access); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
		b.Run("parallel", func(b *testing.B) {
			parallel(b, func(ctx context.Context, _ int) error {
				_, err := e.c.Me(ctx, access)
				return err
			})
		})
	})
}

// BenchmarkRefresh is refresh-token rotation: each iteration presents the
// token the previous one received (one chain per client), so every one is a
// real rotation (lock the session, mark the token used, insert its successor).
func BenchmarkRefresh(b *testing.B) {
	eachBackend(b, func(b *testing.B, db storetest.Backend) {
		e := startBench(b, db, &cheapHash)
		n := parallelClients()
		chains := make([]string, n+1)
		for i, p := range e.sessions(b, n+1) {
			chains[i] = p.Refresh()
		}
		rotate := func(ctx context.Context, i int) error {
			p, err := e.c.Refresh(ctx, chains[i])
			if err != nil {
				return err
			}
			chains[i] = p.Refresh()
			return nil
		}
		b.Run("serial", func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if err := rotate(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
		b.Run("parallel", func(b *testing.B) {
			parallel(b, rotate)
		})
	})
}

// BenchmarkLogin is a login with the real argon2id cost (19 MiB, t=2), which is
// nearly all of it; the parallel variant shows the box's login capacity, with
// the hashers bounded to one per core.
func BenchmarkLogin(b *testing.B) {
	eachBackend(b, func(b *testing.B, db storetest.Backend) {
		e := startBench(b, db, nil)
		ctx := context.Background()
		email := newEmail()
		if _, err := e.c.Signup(ctx, email, pw); err != nil {
			b.Fatalf("signup: %v", err)
		}
		b.Run("serial", func(b *testing.B) {
			for b.Loop() {
				if _, err := e.c.Login(ctx, email, pw); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
		b.Run("parallel", func(b *testing.B) {
			parallel(b, func(ctx context.Context, _ int) error {
				_, err := e.c.Login(ctx, email, pw)
				return err
			})
		})
	})
}
