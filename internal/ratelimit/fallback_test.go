package ratelimit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authql/authql/internal/testkit/logbuf"
)

var errDown = errors.New("primary down")

// flaky is a controllable primary: it delegates to inner unless err is set,
// and counts how often it was called.
type flaky struct {
	inner Limiter
	mu    sync.Mutex
	err   error
	calls int
}

func (f *flaky) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *flaky) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *flaky) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.err
}

func (f *flaky) Take(ctx context.Context, rule Rule, key string) (Result, error) {
	if err := f.fail(); err != nil {
		return Result{}, err
	}
	return f.inner.Take(ctx, rule, key)
}

func (f *flaky) Refund(ctx context.Context, rule Rule, key string) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.inner.Refund(ctx, rule, key)
}

// TestFallbackUnreachableRedis points a real Redis client at a closed port:
// every Take is still answered, limits are still enforced, and the outage is
// logged once, without the caller's key.
func TestFallbackUnreachableRedis(t *testing.T) {
	for _, tc := range []struct {
		name  string
		retry time.Duration // RetryPrimaryAfter; 1ns = probe Redis on every call
	}{
		{"default probe interval", 0},
		{"probe on every call", time.Nanosecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := redis.NewClient(&redis.Options{
				Addr:        "127.0.0.1:1",
				DialTimeout: 100 * time.Millisecond,
				MaxRetries:  -1,
				// go-redis retries a failed dial 5 times with 100ms backoff
				// by default; the default probe interval hides that, the
				// probe-on-every-call case would pay it on every call.
				DialerRetries: 1,
			})
			t.Cleanup(func() { _ = c.Close() })
			log, buf := logbuf.New()
			lim := newFallback(NewRedis(c, "authql-ratelimit-test:"), NewMemory(),
				fallbackOptions{Logger: log, RetryPrimaryAfter: tc.retry})
			ctx := context.Background()
			rule := Rule{Name: "login-account-ip", Limit: 5, Window: 15 * time.Minute}
			key := "alice@example.com|203.0.113.7"

			start := time.Now()
			allowed := 0
			for range 20 {
				res, err := lim.Take(ctx, rule, key)
				if err != nil {
					t.Fatalf("Take returned an error instead of falling back: %v", err)
				}
				if res.Allowed {
					allowed++
				} else if res.RetryAfter <= 0 {
					t.Fatalf("refused without RetryAfter: %+v", res)
				}
			}
			if allowed != rule.Limit {
				t.Fatalf("allowed %d of 20, want %d (limits must hold during an outage)", allowed, rule.Limit)
			}
			if err := lim.Refund(ctx, rule, key); err != nil {
				t.Fatalf("Refund: %v", err)
			}
			if res, err := lim.Take(ctx, rule, key); err != nil || !res.Allowed {
				t.Fatalf("Take after Refund = %+v, %v; want allowed", res, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("22 calls took %v; a down primary must not stall callers", d)
			}

			if n := buf.Count("level=WARN"); n != 1 {
				t.Fatalf("logged %d warnings, want exactly 1:\n%s", n, buf)
			}
			if strings.Contains(buf.String(), "alice") || strings.Contains(buf.String(), "203.0.113.7") {
				t.Fatalf("log contains the caller's key:\n%s", buf)
			}
		})
	}
}

func TestFallbackWarnsRateLimitedAndLogsRecovery(t *testing.T) {
	clk := newFakeClock()
	primary := &flaky{inner: newMemory(memoryOptions{Clock: clk.Now})}
	log, buf := logbuf.New()
	lim := newFallback(primary, newMemory(memoryOptions{Clock: clk.Now}), fallbackOptions{
		Logger:            log,
		WarnInterval:      time.Minute,
		RetryPrimaryAfter: time.Second,
		Clock:             clk.Now,
	})
	ctx := context.Background()
	rule := Rule{Name: "r", Limit: 1000, Window: time.Hour}
	take := func() {
		t.Helper()
		res, err := lim.Take(ctx, rule, "k")
		if err != nil || !res.Allowed {
			t.Fatalf("Take = %+v, %v", res, err)
		}
	}
	expect := func(calls, warns, infos int) {
		t.Helper()
		if got := primary.Calls(); got != calls {
			t.Fatalf("primary calls = %d, want %d", got, calls)
		}
		if got := buf.Count("level=WARN"); got != warns {
			t.Fatalf("warnings = %d, want %d:\n%s", got, warns, buf)
		}
		if got := buf.Count("level=INFO"); got != infos {
			t.Fatalf("info lines = %d, want %d:\n%s", got, infos, buf)
		}
	}

	take()
	expect(1, 0, 0) // healthy: primary answers, nothing logged

	primary.setErr(errDown)
	take()
	expect(2, 1, 0) // first failure: warn at once

	for range 10 {
		take()
	}
	expect(2, 1, 0) // within RetryPrimaryAfter: straight to fallback

	clk.Advance(time.Second)
	take()
	expect(3, 1, 0) // probe fails, but the warning is rate-limited

	clk.Advance(time.Minute)
	take()
	expect(4, 2, 0) // still down a minute later: one more warning
	if !strings.Contains(buf.String(), "fallback_calls=12") {
		t.Fatalf("second warning should count the 12 fallback answers since the first:\n%s", buf)
	}

	primary.setErr(nil)
	take()
	expect(4, 2, 0) // not yet time to probe

	clk.Advance(time.Second)
	take()
	expect(5, 2, 1) // probe succeeds: recovery logged

	for range 5 {
		take()
	}
	expect(10, 2, 1) // healthy again: every call goes to the primary, no logs
}

func TestFallbackPassesThroughNonOutageErrors(t *testing.T) {
	log, buf := logbuf.New()
	primary := &flaky{inner: NewMemory()}
	lim := NewFallback(primary, NewMemory(), log)

	// An invalid rule is a caller bug, not an outage.
	_, err := lim.Take(context.Background(), Rule{Name: "r"}, "k")
	if !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("Take(invalid rule) error = %v, want ErrInvalidRule", err)
	}

	// A caller whose context has ended gets the primary's error back.
	primary.setErr(context.Canceled)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lim.Take(ctx, loginRule, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Take(canceled ctx) error = %v, want context.Canceled", err)
	}
	if err := lim.Refund(ctx, loginRule, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Refund(canceled ctx) error = %v, want context.Canceled", err)
	}
	if buf.String() != "" {
		t.Fatalf("unexpected log output:\n%s", buf)
	}
}

func TestFallbackBothFailing(t *testing.T) {
	log, _ := logbuf.New()
	errFallback := errors.New("fallback down")
	lim := NewFallback(&flaky{err: errDown}, &flaky{err: errFallback}, log)
	_, err := lim.Take(context.Background(), loginRule, "k")
	if !errors.Is(err, errDown) || !errors.Is(err, errFallback) {
		t.Fatalf("Take error = %v, want both errors", err)
	}
}

func TestFallbackScenarios(t *testing.T) {
	// The fallback must enforce the same semantics while the primary is down.
	runScenarios(t, func(t *testing.T) harness {
		clk := newFakeClock()
		log, _ := logbuf.New()
		return harness{
			lim:     NewFallback(&flaky{err: errDown}, newMemory(memoryOptions{Clock: clk.Now}), log),
			advance: func(_ *testing.T, d time.Duration) { clk.Advance(d) },
		}
	})
}

func TestFallbackConcurrentDuringOutage(t *testing.T) {
	log, buf := logbuf.New()
	lim := newFallback(&flaky{err: errDown}, NewMemory(),
		fallbackOptions{Logger: log, RetryPrimaryAfter: time.Nanosecond})
	runConcurrent(t, lim)
	if n := buf.Count("level=WARN"); n != 1 {
		t.Fatalf("logged %d warnings, want 1", n)
	}
}
