package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a sliding-log Limiter stored in Redis, so that every server
// instance shares one budget per key. Each key is a sorted set whose members
// are counted attempts scored by the Redis server's clock in microseconds.
//
// Take is one Lua script, so prune-count-add is atomic and concurrent Takes
// from any number of instances allow exactly Limit. The script reads the
// server's TIME rather than taking a timestamp from the caller, so instances
// with skewed clocks still agree on the window.
//
// It works with any redis.UniversalClient (single node, Sentinel, Cluster):
// each script touches exactly one key.
type Redis struct {
	client redis.UniversalClient
	prefix string
	nonce  string        // random per limiter, makes members unique across instances
	seq    atomic.Uint64 // makes members unique within this limiter
}

var _ Limiter = (*Redis)(nil)

// takeScript: KEYS[1] = sorted set; ARGV = limit, window (µs), member,
// key TTL (ms). Returns {allowed (0/1), remaining, retry-after (µs)}.
//
// redis.replicate_commands() is required before a write that follows TIME
// on Redis 3.2–6.x, which replicate scripts verbatim by default; Redis 7
// always replicates effects and keeps the call as a no-op.
//
// Scores are integers below 2^53, so Lua's doubles and Redis's %.17g
// number formatting carry them exactly.
var takeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local key    = KEYS[1]
local limit  = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t      = redis.call('TIME')
local now    = tonumber(t[1]) * 1000000 + tonumber(t[2])

redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local n = redis.call('ZCARD', key)
if n >= limit then
  local r = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
  local retry = tonumber(r[2]) + window - now
  if retry < 1 then retry = 1 end
  return {0, 0, retry}
end
redis.call('ZADD', key, now, ARGV[3])
redis.call('PEXPIRE', key, ARGV[4])
return {1, limit - n - 1, 0}
`)

// NewRedis returns a Limiter storing its state in client under keys
// prefix + rule.Name + ":" + hex(sha256(key))[:32]. Use a prefix such as
// "authql:ratelimit:" to keep these keys apart from other data.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &Redis{client: client, prefix: prefix, nonce: hex.EncodeToString(b[:])}
}

// Key returns the Redis key used for (rule, key). The caller's key is
// hashed so emails never reach Redis and arbitrary input cannot shape key
// names. Exposed for operators and tests (e.g. to clear a lockout with DEL).
func (r *Redis) Key(rule Rule, key string) string {
	return r.prefix + rule.Name + ":" + hashKeyHex(key)
}

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, rule Rule, key string) (Result, error) {
	if err := rule.Validate(); err != nil {
		return Result{}, err
	}
	member := r.nonce + ":" + strconv.FormatUint(r.seq.Add(1), 36)
	ttl := (rule.Window + time.Millisecond - 1) / time.Millisecond
	res, err := takeScript.Run(ctx, r.client, []string{r.Key(rule, key)},
		rule.Limit, rule.Window.Microseconds(), member, int64(ttl)).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis take %q: %w", rule.Name, err)
	}
	if len(res) != 3 {
		return Result{}, fmt.Errorf("ratelimit: redis take %q: unexpected reply %v", rule.Name, res)
	}
	return Result{
		Allowed:    res[0] == 1,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
	}, nil
}

// Refund implements Limiter by removing the highest-scored (newest) member,
// a single atomic command. Refunding a missing key is a no-op. As with
// Memory, the removed attempt may be a concurrent caller's; the count is
// the same and the window is never shortened.
func (r *Redis) Refund(ctx context.Context, rule Rule, key string) error {
	if err := rule.Validate(); err != nil {
		return err
	}
	if err := r.client.ZRemRangeByRank(ctx, r.Key(rule, key), -1, -1).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis refund %q: %w", rule.Name, err)
	}
	return nil
}
