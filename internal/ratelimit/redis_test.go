package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis tests run against AUTHQL_TEST_REDIS_ADDR (default 127.0.0.1:6379).
// They skip when it is unreachable, unless AUTHQL_TEST_REDIS_REQUIRED is
// set (for CI, so a broken Redis cannot silently turn the tests into skips).

func testRedisAddr() string {
	if a := os.Getenv("AUTHQL_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newTestRedisClient returns a client to the test Redis, or skips.
func newTestRedisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: testRedisAddr(), DialTimeout: time.Second, PoolSize: 64})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		msg := fmt.Sprintf("Redis not reachable at %s (%v). Start one with "+
			"`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no` "+
			"or set AUTHQL_TEST_REDIS_ADDR", testRedisAddr(), err)
		if os.Getenv("AUTHQL_TEST_REDIS_REQUIRED") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix returns a unique key prefix and deletes its keys after the test.
func testPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "authql-ratelimit-test:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		keys := scanKeys(tb, c, prefix)
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("cleanup: %v", err)
			}
		}
	})
	return prefix
}

func scanKeys(tb testing.TB, c *redis.Client, prefix string) []string {
	tb.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("scan: %v", err)
	}
	return keys
}

// ageScript moves every attempt under the given keys d microseconds into the
// past, which is what the limiter sees after d of real time: tests slide
// the window without sleeping.
var ageScript = redis.NewScript(`
local d = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local z = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for i = 1, #z, 2 do
    redis.call('ZADD', key, tonumber(z[i + 1]) - d, z[i])
  end
end
return 0
`)

func ageKeys(t *testing.T, c *redis.Client, prefix string, d time.Duration) {
	t.Helper()
	keys := scanKeys(t, c, prefix)
	if len(keys) == 0 {
		return
	}
	if err := ageScript.Run(context.Background(), c, keys, d.Microseconds()).Err(); err != nil {
		t.Fatalf("age keys: %v", err)
	}
}

func TestRedisScenarios(t *testing.T) {
	c := newTestRedisClient(t)
	runScenarios(t, func(t *testing.T) harness {
		prefix := testPrefix(t, c)
		return harness{
			lim:     NewRedis(c, prefix),
			advance: func(t *testing.T, d time.Duration) { ageKeys(t, c, prefix, d) },
			eps:     250 * time.Millisecond,
		}
	})
}

func TestRedisInvalidRules(t *testing.T) {
	c := newTestRedisClient(t)
	runInvalidRules(t, NewRedis(c, testPrefix(t, c)))
}

func TestRedisConcurrentTakesAllowExactlyLimit(t *testing.T) {
	c := newTestRedisClient(t)
	runConcurrent(t, NewRedis(c, testPrefix(t, c)))
}

// TestRedisInstancesShareBudget simulates two server instances: two clients,
// two limiters, one prefix.
func TestRedisInstancesShareBudget(t *testing.T) {
	c1 := newTestRedisClient(t)
	c2 := newTestRedisClient(t)
	prefix := testPrefix(t, c1)
	a, b := NewRedis(c1, prefix), NewRedis(c2, prefix)
	ctx := context.Background()
	rule := Rule{Name: "shared", Limit: 4, Window: time.Minute}

	for i, lim := range []Limiter{a, b, a, b} {
		res, err := lim.Take(ctx, rule, "k")
		if err != nil || !res.Allowed || res.Remaining != 3-i {
			t.Fatalf("take %d = %+v, %v; want allowed with %d remaining", i, res, err, 3-i)
		}
	}
	for _, lim := range []Limiter{a, b} {
		if res, err := lim.Take(ctx, rule, "k"); err != nil || res.Allowed {
			t.Fatalf("take past the shared limit = %+v, %v; want refused", res, err)
		}
	}
	// A refund through one instance frees budget for the other.
	if err := a.Refund(ctx, rule, "k"); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Take(ctx, rule, "k"); err != nil || !res.Allowed {
		t.Fatalf("take after refund on the other instance = %+v, %v; want allowed", res, err)
	}
}

func TestRedisConcurrentAcrossInstances(t *testing.T) {
	c1 := newTestRedisClient(t)
	c2 := newTestRedisClient(t)
	prefix := testPrefix(t, c1)
	runConcurrent(t, NewRedis(c1, prefix), NewRedis(c2, prefix))
}

// TestRedisRealTimeWindow checks the script's use of server TIME end to end
// with a short window and a real sleep.
func TestRedisRealTimeWindow(t *testing.T) {
	c := newTestRedisClient(t)
	lim := NewRedis(c, testPrefix(t, c))
	ctx := context.Background()
	rule := Rule{Name: "realtime", Limit: 2, Window: 300 * time.Millisecond}
	for range 2 {
		if res, err := lim.Take(ctx, rule, "k"); err != nil || !res.Allowed {
			t.Fatalf("Take = %+v, %v", res, err)
		}
	}
	res, err := lim.Take(ctx, rule, "k")
	if err != nil || res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > rule.Window {
		t.Fatalf("Take past limit = %+v, %v; want refused with 0 < RetryAfter <= %v", res, err, rule.Window)
	}
	time.Sleep(res.RetryAfter + 10*time.Millisecond)
	if res, err := lim.Take(ctx, rule, "k"); err != nil || !res.Allowed {
		t.Fatalf("Take after RetryAfter = %+v, %v; want allowed", res, err)
	}
}

// TestRedisKeyLayout checks that keys are hashed (no email in Redis), carry
// a TTL so idle keys disappear, and that members are unique per attempt.
func TestRedisKeyLayout(t *testing.T) {
	c := newTestRedisClient(t)
	prefix := testPrefix(t, c)
	lim := NewRedis(c, prefix)
	ctx := context.Background()
	rule := Rule{Name: "login-account-ip", Limit: 10, Window: 90 * time.Second}
	key := "Alice+tag@Example.com|2001:db8::1 *?[]\r\n"

	for range 3 {
		if _, err := lim.Take(ctx, rule, key); err != nil {
			t.Fatal(err)
		}
	}
	keys := scanKeys(t, c, prefix)
	if len(keys) != 1 {
		t.Fatalf("keys = %q, want one", keys)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(prefix+rule.Name+":") + `[0-9a-f]{32}$`).MatchString(keys[0]) {
		t.Fatalf("key %q is not prefix + rule + \":\" + 32 hex digits", keys[0])
	}
	if keys[0] != lim.Key(rule, key) {
		t.Fatalf("Key() = %q, stored %q", lim.Key(rule, key), keys[0])
	}
	if strings.Contains(strings.ToLower(keys[0]), "alice") {
		t.Fatalf("key %q leaks the caller's key", keys[0])
	}
	if n := c.ZCard(ctx, keys[0]).Val(); n != 3 {
		t.Fatalf("ZCARD = %d, want 3 (members must be unique)", n)
	}
	ttl := c.PTTL(ctx, keys[0]).Val()
	if ttl <= 0 || ttl > rule.Window {
		t.Fatalf("PTTL = %v, want in (0, %v]", ttl, rule.Window)
	}
}

func BenchmarkRedisTake(b *testing.B) {
	c := newTestRedisClient(b)
	prefix := testPrefix(b, c)
	lim := NewRedis(c, prefix)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		rule := Rule{Name: "bench", Limit: 10, Window: 15 * time.Minute}
		for b.Loop() {
			if _, err := lim.Take(ctx, rule, "alice@example.com|203.0.113.7"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel-1k-keys", func(b *testing.B) {
		rule := Rule{Name: "bench-par", Limit: 10, Window: 15 * time.Minute}
		var next atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := lim.Take(ctx, rule, fmt.Sprint("user", next.Add(1)%1000)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
