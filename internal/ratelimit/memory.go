package ratelimit

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// Defaults for Memory.
const (
	// DefaultMaxKeys bounds the number of keys Memory tracks. Each key costs
	// roughly 100 bytes plus 8 bytes per counted attempt, so the default caps
	// a Memory at a few tens of MB even under a key-spraying attack.
	DefaultMaxKeys = 100_000
	// DefaultSweepInterval is how often (at most) Memory scans all keys to
	// drop those whose attempts have all left their window.
	DefaultSweepInterval = time.Minute
)

// memoryOptions tune a Memory for tests. Zero values select defaults.
type memoryOptions struct {
	// MaxKeys is the hard cap on tracked keys; when a new key would exceed
	// it, the least recently used key is evicted.
	MaxKeys int
	// SweepInterval is the minimum time between full sweeps of expired
	// keys. Sweeps run inside Take/Refund, so Memory has no goroutine and
	// needs no Close.
	SweepInterval time.Duration
	// Clock returns the current time; tests inject a fake one so they do
	// not sleep. It must not go backwards (time.Now does not, thanks to its
	// monotonic reading).
	Clock func() time.Time
}

// Memory is an in-process sliding-log Limiter. It is exact for one process
// only: with several server instances each has its own budget, which is why
// production uses Redis and keeps Memory as the fallback.
//
// It is safe for concurrent use. A single mutex guards all state: a Take
// does a hash and O(Limit) work on a small slice, which is negligible next
// to the password hash it protects, and a single lock makes the key cap and
// LRU order exact.
//
// Memory stays bounded without a background goroutine: a key is pruned
// whenever it is touched, all keys are swept for expiry at most once per
// SweepInterval (on access), and the number of keys is capped at MaxKeys
// with least-recently-used eviction. Eviction forgets a key's count, i.e.
// errs toward allowing; that is the price of bounded memory, and an attacker
// would need MaxKeys fresh keys between two attempts on the same key to
// exploit it (and those keys pass through the other rules too).
type Memory struct {
	clock      func() time.Time
	base       time.Time // timestamps are stored as offsets from base
	maxKeys    int
	sweepEvery time.Duration

	mu        sync.Mutex
	entries   map[memKey]*memEntry
	head      *memEntry // most recently used
	tail      *memEntry // least recently used; evicted first
	nextSweep time.Duration
	evictions uint64
}

var _ Limiter = (*Memory)(nil)

// memKey identifies (rule name, caller key). It is a truncated SHA-256 so
// that a key's size in memory does not depend on attacker-supplied input.
type memKey [16]byte

type memEntry struct {
	key    memKey
	window time.Duration   // of the rule last used with this key, for sweeping
	ts     []time.Duration // counted attempts, ascending offsets from Memory.base
	prev   *memEntry
	next   *memEntry
}

// NewMemory returns a Memory with the default bounds and the real clock.
func NewMemory() *Memory { return newMemory(memoryOptions{}) }

func newMemory(opts memoryOptions) *Memory {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	m := &Memory{
		clock:      opts.Clock,
		maxKeys:    opts.MaxKeys,
		sweepEvery: opts.SweepInterval,
		entries:    make(map[memKey]*memEntry),
	}
	m.base = m.clock()
	m.nextSweep = m.sweepEvery
	return m
}

// Take implements Limiter. It never returns an error for a valid rule.
func (m *Memory) Take(_ context.Context, rule Rule, key string) (Result, error) {
	if err := rule.Validate(); err != nil {
		return Result{}, err
	}
	k := makeMemKey(rule.Name, key)

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.maybeSweep(now)

	e := m.entries[k]
	if e == nil {
		e = m.insert(k)
	} else {
		m.moveToFront(e)
	}
	e.window = rule.Window
	e.prune(now)

	if n := len(e.ts); n >= rule.Limit {
		// For n attempts to drop below Limit, the attempt at index
		// n-Limit must leave the window. (n > Limit only if the rule's
		// Limit was lowered while attempts were counted.)
		return Result{RetryAfter: e.ts[n-rule.Limit] + rule.Window - now}, nil
	}
	if n := len(e.ts); n > 0 && now < e.ts[n-1] {
		now = e.ts[n-1] // keep ts ascending even if the clock misbehaves
	}
	e.ts = append(e.ts, now)
	return Result{Allowed: true, Remaining: rule.Limit - len(e.ts)}, nil
}

// Refund implements Limiter. Refunding a key with no counted attempts is a
// no-op. It removes the newest attempt, which under concurrency may not be
// the caller's own; the count is the same either way, and the one kept is
// the later, so the window is never shortened.
func (m *Memory) Refund(_ context.Context, rule Rule, key string) error {
	if err := rule.Validate(); err != nil {
		return err
	}
	k := makeMemKey(rule.Name, key)

	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[k]
	if e == nil {
		return nil
	}
	e.window = rule.Window
	e.prune(m.now())
	if n := len(e.ts); n > 0 {
		e.ts = e.ts[:n-1]
	}
	if len(e.ts) == 0 {
		m.remove(e)
	}
	return nil
}

// MemoryStats is a snapshot for metrics and tests.
type MemoryStats struct {
	Keys      int    // keys currently tracked
	Evictions uint64 // keys evicted because MaxKeys was reached
}

// Stats returns current counters.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoryStats{Keys: len(m.entries), Evictions: m.evictions}
}

// Sweep drops every key whose attempts have all left the window. It runs
// automatically from Take; calling it is only useful to release memory in
// an idle process.
func (m *Memory) Sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(m.now())
}

func (m *Memory) now() time.Duration { return m.clock().Sub(m.base) }

func (m *Memory) maybeSweep(now time.Duration) {
	if now < m.nextSweep {
		return
	}
	m.sweep(now)
}

func (m *Memory) sweep(now time.Duration) {
	m.nextSweep = now + m.sweepEvery
	for _, e := range m.entries {
		if n := len(e.ts); n == 0 || e.ts[n-1] <= now-e.window {
			m.remove(e)
		}
	}
}

// insert adds an empty entry for k at the front, evicting the least
// recently used entry first if the cap is reached.
func (m *Memory) insert(k memKey) *memEntry {
	for len(m.entries) >= m.maxKeys && m.tail != nil {
		m.remove(m.tail)
		m.evictions++
	}
	e := &memEntry{key: k}
	m.entries[k] = e
	m.pushFront(e)
	return e
}

func (m *Memory) remove(e *memEntry) {
	delete(m.entries, e.key)
	m.unlink(e)
}

func (m *Memory) pushFront(e *memEntry) {
	e.prev = nil
	e.next = m.head
	if m.head != nil {
		m.head.prev = e
	}
	m.head = e
	if m.tail == nil {
		m.tail = e
	}
}

func (m *Memory) unlink(e *memEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		m.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		m.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (m *Memory) moveToFront(e *memEntry) {
	if m.head == e {
		return
	}
	m.unlink(e)
	m.pushFront(e)
}

// prune drops attempts that have left the window ending at now. The window
// is half-open, (now-Window, now]: an attempt made exactly Window ago no
// longer counts, matching the Redis script's inclusive ZREMRANGEBYSCORE.
func (e *memEntry) prune(now time.Duration) {
	cutoff := now - e.window
	i := 0
	for i < len(e.ts) && e.ts[i] <= cutoff {
		i++
	}
	if i > 0 {
		e.ts = e.ts[:copy(e.ts, e.ts[i:])]
	}
}

func makeMemKey(name, key string) memKey {
	// A stack buffer avoids an allocation for typical (short) keys. The NUL
	// separator keeps ("a", "b:c") and ("a:b", "c") apart.
	var buf [256]byte
	b := append(buf[:0], name...)
	b = append(b, 0)
	b = append(b, key...)
	sum := sha256.Sum256(b)
	var k memKey
	copy(k[:], sum[:])
	return k
}
