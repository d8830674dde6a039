package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock so sliding-window tests need no sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness abstracts over a Limiter under test and a way to move its time.
type harness struct {
	lim     Limiter
	advance func(t *testing.T, d time.Duration)
	// eps is how much real time may pass between two steps. It is 0 for the
	// fake clock (results are exact) and positive for Redis, whose clock
	// keeps running: a RetryAfter may be up to eps shorter than the ideal,
	// and "just before the boundary" steps stop eps short of it.
	eps time.Duration
}

// step is one action in a semantic scenario.
type step struct {
	advance time.Duration // move time forward first
	nudge   int           // additionally move time by nudge*eps (-1: just before a boundary)
	refund  bool          // Refund instead of Take
	key     string        // default "k"
	rule    *Rule         // default: the scenario's rule
	times   int           // repeat the action (default 1); every repetition must match

	allowed   bool
	remaining int           // checked when allowed
	retry     time.Duration // checked when !allowed (within eps)
}

type scenario struct {
	name  string
	rule  Rule
	steps []step
}

// loginRule is a rule of the shape the service uses most.
var loginRule = Rule{Name: "login-account-ip", Limit: 10, Window: 15 * time.Minute}

var ruleB = Rule{Name: "other-rule", Limit: 1, Window: 10 * time.Second}

var scenarios = []scenario{
	{
		name: "limit reached exactly at Limit",
		rule: Rule{Name: "r", Limit: 3, Window: 15 * time.Minute},
		steps: []step{
			{allowed: true, remaining: 2},
			{allowed: true, remaining: 1},
			{allowed: true, remaining: 0},
			{allowed: false, retry: 15 * time.Minute},
			{allowed: false, retry: 15 * time.Minute, times: 5},
		},
	},
	{
		name: "limit of one",
		rule: Rule{Name: "r", Limit: 1, Window: time.Minute},
		steps: []step{
			{allowed: true, remaining: 0},
			{allowed: false, retry: time.Minute},
			{advance: time.Minute, allowed: true, remaining: 0},
		},
	},
	{
		name: "RetryAfter counts from the oldest attempt",
		rule: Rule{Name: "r", Limit: 2, Window: 10 * time.Second},
		steps: []step{
			{allowed: true, remaining: 1},
			{advance: 3 * time.Second, allowed: true, remaining: 0},
			{advance: time.Second, allowed: false, retry: 6 * time.Second},
			{advance: 6 * time.Second, nudge: -1, allowed: false},
			{nudge: 1, allowed: true, remaining: 0},
			{allowed: false, retry: 3 * time.Second},
		},
	},
	{
		name: "window slides instead of resetting",
		rule: Rule{Name: "r", Limit: 2, Window: 10 * time.Second},
		steps: []step{
			{allowed: true, remaining: 1},                                  // t=0
			{advance: 5 * time.Second, allowed: true, remaining: 0},        // t=5
			{advance: 4 * time.Second, allowed: false, retry: time.Second}, // t=9
			{advance: time.Second, allowed: true, remaining: 0},            // t=10: t=0 left
			{advance: time.Second, allowed: false, retry: 4 * time.Second}, // t=11
			{advance: 4 * time.Second, allowed: true, remaining: 0},        // t=15: t=5 left
			{advance: 4 * time.Second, allowed: false, retry: time.Second}, // t=19
			{advance: 16 * time.Second, allowed: true, remaining: 1},       // t=35: all left
		},
	},
	{
		name: "no burst of 2x at a window boundary",
		rule: Rule{Name: "r", Limit: 5, Window: time.Minute},
		steps: []step{
			{advance: 59 * time.Second, allowed: true, times: 5, remaining: -1},
			// A fixed window would reset here and allow 5 more.
			{advance: 2 * time.Second, allowed: false, retry: time.Minute - 2*time.Second, times: 5},
		},
	},
	{
		name: "refused attempts are not counted",
		rule: Rule{Name: "r", Limit: 2, Window: 10 * time.Second},
		steps: []step{
			{allowed: true, times: 2, remaining: -1},
			{advance: time.Second, allowed: false, retry: 9 * time.Second, times: 20},
			{advance: 8 * time.Second, allowed: false, retry: time.Second, times: 20},
			// Only the two allowed attempts (t=0) were counted.
			{advance: time.Second, allowed: true, remaining: 1},
			{allowed: true, remaining: 0},
		},
	},
	{
		name: "refund restores exactly one attempt",
		rule: Rule{Name: "r", Limit: 3, Window: time.Minute},
		steps: []step{
			{allowed: true, times: 3, remaining: -1},
			{allowed: false, retry: time.Minute},
			{refund: true},
			{allowed: true, remaining: 0},
			{allowed: false, retry: time.Minute},
		},
	},
	{
		name: "refund removes the newest attempt",
		rule: Rule{Name: "r", Limit: 2, Window: 10 * time.Second},
		steps: []step{
			{allowed: true, remaining: 1},                           // t=0
			{advance: 5 * time.Second, allowed: true, remaining: 0}, // t=5
			{refund: true},                // removes t=5
			{allowed: true, remaining: 0}, // t=5
			// Oldest is still t=0: 5s to go (10s if refund had removed t=0).
			{allowed: false, retry: 5 * time.Second},
		},
	},
	{
		name: "three mistypes then success is never locked out",
		rule: loginRule,
		steps: []step{
			// Three failures: Take, wrong password, no refund.
			{allowed: true, times: 3, remaining: -1},
			// Then many successful logins: Take, right password, Refund.
			{allowed: true, remaining: 6}, {refund: true},
			{allowed: true, remaining: 6}, {refund: true},
			{allowed: true, remaining: 6}, {refund: true},
			{advance: 14 * time.Minute, allowed: true, remaining: 6}, {refund: true},
			{advance: time.Minute, allowed: true, remaining: 9}, {refund: true},
		},
	},
	{
		name: "refund of an unknown key is a no-op",
		rule: Rule{Name: "r", Limit: 2, Window: time.Minute},
		steps: []step{
			{refund: true, key: "never-seen"},
			{refund: true, times: 3},
			{allowed: true, remaining: 1},
			{allowed: true, remaining: 0},
			{allowed: false, retry: time.Minute},
		},
	},
	{
		name: "keys and rules are independent",
		rule: Rule{Name: "r", Limit: 1, Window: time.Minute},
		steps: []step{
			{allowed: true, remaining: 0},
			{allowed: false, retry: time.Minute},
			{key: "k2", allowed: true, remaining: 0},
			{key: "alice@example.com|203.0.113.7", allowed: true, remaining: 0},
			{rule: &ruleB, allowed: true, remaining: 0},
			{rule: &ruleB, allowed: false, retry: 10 * time.Second},
			{allowed: false, retry: time.Minute},
		},
	},
}

// runScenarios runs every scenario against a fresh harness from mk.
func runScenarios(t *testing.T, mk func(t *testing.T) harness) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := mk(t)
			ctx := context.Background()
			for i, s := range sc.steps {
				if d := s.advance + time.Duration(s.nudge)*max(h.eps, time.Nanosecond); d > 0 {
					h.advance(t, d)
				}
				rule := sc.rule
				if s.rule != nil {
					rule = *s.rule
				}
				key := s.key
				if key == "" {
					key = "k"
				}
				for n := range max(s.times, 1) {
					if s.refund {
						if err := h.lim.Refund(ctx, rule, key); err != nil {
							t.Fatalf("step %d.%d: Refund: %v", i, n, err)
						}
						continue
					}
					res, err := h.lim.Take(ctx, rule, key)
					if err != nil {
						t.Fatalf("step %d.%d: Take: %v", i, n, err)
					}
					checkResult(t, i, n, s, res, h.eps)
				}
			}
		})
	}
}

func checkResult(t *testing.T, i, n int, s step, res Result, eps time.Duration) {
	t.Helper()
	if res.Allowed != s.allowed {
		t.Fatalf("step %d.%d: Allowed = %v, want %v (%+v)", i, n, res.Allowed, s.allowed, res)
	}
	if s.allowed {
		if s.remaining >= 0 && res.Remaining != s.remaining {
			t.Fatalf("step %d.%d: Remaining = %d, want %d", i, n, res.Remaining, s.remaining)
		}
		if res.RetryAfter != 0 {
			t.Fatalf("step %d.%d: RetryAfter = %v on an allowed attempt", i, n, res.RetryAfter)
		}
		return
	}
	if res.Remaining != 0 {
		t.Fatalf("step %d.%d: Remaining = %d on a refused attempt", i, n, res.Remaining)
	}
	if res.RetryAfter <= 0 {
		t.Fatalf("step %d.%d: RetryAfter = %v, want > 0", i, n, res.RetryAfter)
	}
	if s.retry > 0 && (res.RetryAfter > s.retry || res.RetryAfter < s.retry-eps) {
		t.Fatalf("step %d.%d: RetryAfter = %v, want %v (tolerance %v)", i, n, res.RetryAfter, s.retry, eps)
	}
}

// runInvalidRules checks that every limiter rejects unusable rules the same
// way, so a fallback never rejects what the primary accepted.
func runInvalidRules(t *testing.T, lim Limiter) {
	for _, r := range []Rule{
		{Name: "", Limit: 1, Window: time.Minute},
		{Name: "r", Limit: 0, Window: time.Minute},
		{Name: "r", Limit: -1, Window: time.Minute},
		{Name: "r", Limit: 1, Window: 0},
		{Name: "r", Limit: 1, Window: time.Microsecond},
	} {
		if _, err := lim.Take(context.Background(), r, "k"); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("Take(%+v) error = %v, want ErrInvalidRule", r, err)
		}
		if err := lim.Refund(context.Background(), r, "k"); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("Refund(%+v) error = %v, want ErrInvalidRule", r, err)
		}
	}
}

// runConcurrent has 50 goroutines hammer one key across the given limiters
// (which must share state) and checks that exactly Limit attempts pass.
func runConcurrent(t *testing.T, lims ...Limiter) {
	const (
		goroutines = 50
		perG       = 10
	)
	rule := Rule{Name: "concurrent", Limit: 137, Window: time.Hour}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
		start   = make(chan struct{})
	)
	for g := range goroutines {
		lim := lims[g%len(lims)]
		wg.Go(func() {
			<-start
			for range perG {
				res, err := lim.Take(context.Background(), rule, "victim@example.com")
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if allowed != rule.Limit {
		t.Fatalf("allowed %d of %d concurrent attempts, want exactly %d", allowed, goroutines*perG, rule.Limit)
	}
}

func TestDisabledAlwaysAllows(t *testing.T) {
	var lim Limiter = Disabled{}
	for range 1000 {
		res, err := lim.Take(context.Background(), loginRule, "k")
		if err != nil || !res.Allowed || res.Remaining != loginRule.Limit {
			t.Fatalf("Take = %+v, %v", res, err)
		}
	}
	if err := lim.Refund(context.Background(), loginRule, "k"); err != nil {
		t.Fatal(err)
	}
}
