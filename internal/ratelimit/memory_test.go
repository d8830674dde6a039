package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryScenarios(t *testing.T) {
	runScenarios(t, func(t *testing.T) harness {
		clk := newFakeClock()
		return harness{
			lim:     newMemory(memoryOptions{Clock: clk.Now}),
			advance: func(_ *testing.T, d time.Duration) { clk.Advance(d) },
		}
	})
}

func TestMemoryInvalidRules(t *testing.T) {
	runInvalidRules(t, NewMemory())
}

func TestMemoryConcurrentTakesAllowExactlyLimit(t *testing.T) {
	runConcurrent(t, NewMemory())
}

// TestMemoryConcurrentMixed exercises Take, Refund, Stats and Sweep together
// under -race; the invariant is that the count never exceeds Limit.
func TestMemoryConcurrentMixed(t *testing.T) {
	m := newMemory(memoryOptions{MaxKeys: 8, SweepInterval: time.Nanosecond})
	rule := Rule{Name: "mixed", Limit: 5, Window: time.Hour}
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprint("k", (g+i)%12)
				if _, err := m.Take(ctx, rule, key); err != nil {
					t.Error(err)
				}
				if i%3 == 0 {
					if err := m.Refund(ctx, rule, key); err != nil {
						t.Error(err)
					}
				}
				if i%50 == 0 {
					m.Sweep()
					_ = m.Stats()
				}
			}
		})
	}
	wg.Wait()
	if s := m.Stats(); s.Keys > 8 {
		t.Fatalf("Keys = %d, want <= MaxKeys 8", s.Keys)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if len(e.ts) > rule.Limit {
			t.Fatalf("entry holds %d attempts, Limit %d", len(e.ts), rule.Limit)
		}
	}
}

func TestMemoryKeyCapEvictsLeastRecentlyUsed(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(memoryOptions{MaxKeys: 3, Clock: clk.Now})
	rule := Rule{Name: "cap", Limit: 1, Window: time.Hour}
	ctx := context.Background()
	take := func(key string) bool {
		t.Helper()
		res, err := m.Take(ctx, rule, key)
		if err != nil {
			t.Fatal(err)
		}
		return res.Allowed
	}

	for _, k := range []string{"a", "b", "c"} {
		if !take(k) {
			t.Fatalf("first Take(%s) refused", k)
		}
	}
	if take("a") { // touches a: b is now least recently used
		t.Fatal("second Take(a) allowed")
	}
	if !take("d") { // evicts b
		t.Fatal("first Take(d) refused")
	}
	if s := m.Stats(); s.Keys != 3 || s.Evictions != 1 {
		t.Fatalf("Stats = %+v, want 3 keys, 1 eviction", s)
	}
	// a, c, d keep their counts; b was forgotten.
	for _, k := range []string{"a", "c", "d"} {
		if take(k) {
			t.Fatalf("Take(%s) allowed after eviction of another key", k)
		}
	}
	if !take("b") {
		t.Fatal("Take(b) refused although b was evicted")
	}
}

func TestMemoryBoundedUnderKeySpray(t *testing.T) {
	const maxKeys = 1000
	m := newMemory(memoryOptions{MaxKeys: maxKeys})
	rule := Rule{Name: "spray", Limit: 10, Window: time.Hour}
	long := strings.Repeat("x", 4096) // keys are hashed: their size does not matter
	for i := range 20 * maxKeys {
		if _, err := m.Take(context.Background(), rule, fmt.Sprint(long, i)); err != nil {
			t.Fatal(err)
		}
	}
	s := m.Stats()
	if s.Keys != maxKeys || s.Evictions != 19*maxKeys {
		t.Fatalf("Stats = %+v, want %d keys and %d evictions", s, maxKeys, 19*maxKeys)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, prev := 0, (*memEntry)(nil)
	for e := m.head; e != nil; e = e.next {
		if e.prev != prev {
			t.Fatal("LRU list prev link broken")
		}
		prev, n = e, n+1
	}
	if n != maxKeys || m.tail != prev {
		t.Fatalf("LRU list has %d entries (tail ok: %v), want %d", n, m.tail == prev, maxKeys)
	}
}

func TestMemorySweepsExpiredKeys(t *testing.T) {
	clk := newFakeClock()
	m := newMemory(memoryOptions{Clock: clk.Now, SweepInterval: time.Minute})
	short := Rule{Name: "short", Limit: 5, Window: 10 * time.Second}
	long := Rule{Name: "long", Limit: 5, Window: time.Hour}
	ctx := context.Background()
	for i := range 100 {
		if _, err := m.Take(ctx, short, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Take(ctx, long, "keep"); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Keys; got != 101 {
		t.Fatalf("Keys = %d, want 101", got)
	}

	// Expired but not yet swept: the sweep runs at most once per interval.
	clk.Advance(30 * time.Second)
	if _, err := m.Take(ctx, long, "keep"); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Keys; got != 101 {
		t.Fatalf("Keys = %d before the sweep interval, want 101", got)
	}

	// Past the interval, any access sweeps; only the live key remains.
	clk.Advance(31 * time.Second)
	res, err := m.Take(ctx, long, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Keys; got != 1 {
		t.Fatalf("Keys = %d after the sweep, want 1", got)
	}
	if res.Remaining != 2 { // the live key's 3 attempts survived the sweep
		t.Fatalf("Remaining = %d, want 2", res.Remaining)
	}

	// Explicit Sweep releases memory in an idle process.
	clk.Advance(2 * time.Hour)
	m.Sweep()
	if got := m.Stats().Keys; got != 0 {
		t.Fatalf("Keys = %d after Sweep, want 0", got)
	}
}

func TestMemoryRefundDropsEmptyKey(t *testing.T) {
	m := NewMemory()
	rule := Rule{Name: "r", Limit: 3, Window: time.Minute}
	ctx := context.Background()
	if _, err := m.Take(ctx, rule, "k"); err != nil {
		t.Fatal(err)
	}
	if err := m.Refund(ctx, rule, "k"); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Keys; got != 0 {
		t.Fatalf("Keys = %d after refunding the only attempt, want 0", got)
	}
}

func TestMemoryLoweredLimit(t *testing.T) {
	// If a deployment lowers a rule's Limit while attempts are counted,
	// RetryAfter is until enough attempts leave to get below the new Limit.
	clk := newFakeClock()
	m := newMemory(memoryOptions{Clock: clk.Now})
	ctx := context.Background()
	hi := Rule{Name: "r", Limit: 5, Window: 10 * time.Second}
	for range 5 {
		if _, err := m.Take(ctx, hi, "k"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	// Attempts at t=0..4; now t=5.
	lo := Rule{Name: "r", Limit: 2, Window: 10 * time.Second}
	res, err := m.Take(ctx, lo, "k")
	if err != nil {
		t.Fatal(err)
	}
	// 5 attempts, need fewer than 2: the one at t=3 must leave, at t=13.
	if res.Allowed || res.RetryAfter != 8*time.Second {
		t.Fatalf("Take = %+v, want refused with RetryAfter 8s", res)
	}
}

func BenchmarkMemoryTake(b *testing.B) {
	ctx := context.Background()
	b.Run("one-key-refused", func(b *testing.B) {
		m := NewMemory()
		rule := loginRule
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Take(ctx, rule, "alice@example.com|203.0.113.7")
		}
	})
	b.Run("take-refund", func(b *testing.B) {
		m := NewMemory()
		rule := loginRule
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Take(ctx, rule, "alice@example.com|203.0.113.7")
			_ = m.Refund(ctx, rule, "alice@example.com|203.0.113.7")
		}
	})
	b.Run("10k-keys-parallel", func(b *testing.B) {
		m := NewMemory()
		rule := loginRule
		keys := make([]string, 10_000)
		for i := range keys {
			keys[i] = fmt.Sprintf("user%d@example.com|198.51.100.%d", i, i%256)
		}
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = m.Take(ctx, rule, keys[next.Add(1)%uint64(len(keys))])
			}
		})
	})
}
