// Package ratelimit provides exact sliding-window attempt limiters for the
// auth service: an in-process one (Memory), a Redis-backed one shared by all
// server instances (Redis), a wrapper that degrades from Redis to memory
// instead of failing (NewFallback), and a no-op (Disabled).
//
// Limits count attempts, not HTTP requests: a GraphQL request with 60 aliased
// login fields makes 60 Take calls, and those past the limit are refused.
//
// Every limiter implements a sliding log: each counted attempt is stored with
// its timestamp, and an attempt is allowed only if fewer than Limit attempts
// are stored within the last Window. This gives the exact guarantee "at most
// Limit attempts in any window of length Window". Cheaper schemes (fixed
// windows, GCRA/token buckets with burst = Limit) let an attacker place Limit
// attempts at the end of one window and Limit more at the start of the next,
// i.e. 2×Limit password guesses in a short interval; for login throttling that
// doubling is the thing being defended against, so we pay O(Limit) memory per
// key instead.
//
// Failed-login counting: the caller Takes before verifying the password and
// Refunds when the password was right, so only failures stay counted and a
// user who mistypes three times and then succeeds is never locked out.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Rule is one limit: at most Limit attempts per key within any Window.
type Rule struct {
	Name   string // namespaces keys, e.g. "login-account-ip"
	Limit  int
	Window time.Duration
}

// Result of one Take.
type Result struct {
	Allowed bool
	// Remaining is how many more attempts would be allowed right now
	// (0 when refused).
	Remaining int
	// RetryAfter is > 0 when !Allowed: the time until the oldest counted
	// attempt leaves the window and one attempt becomes available again.
	RetryAfter time.Duration
}

// Limiter counts attempts per key under a Rule.
type Limiter interface {
	// Take counts one attempt for key under rule and reports whether it is allowed.
	// A refused attempt is not counted.
	Take(ctx context.Context, rule Rule, key string) (Result, error)
	// Refund removes the most recent counted attempt for key (e.g. a login that succeeded).
	Refund(ctx context.Context, rule Rule, key string) error
}

// ErrInvalidRule is returned (wrapped) for a Rule with an empty Name, a
// Limit below 1 or a Window below one millisecond. It is a programming error,
// so NewFallback does not treat it as a primary outage.
var ErrInvalidRule = errors.New("ratelimit: invalid rule")

// minWindow is the smallest Window accepted. Redis expiry has millisecond
// resolution, and both implementations must accept the same rules so that
// the fallback never rejects what the primary accepted.
const minWindow = time.Millisecond

// Validate reports whether r can be used with any Limiter.
func (r Rule) Validate() error {
	switch {
	case r.Name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidRule)
	case r.Limit < 1:
		return fmt.Errorf("%w %q: limit %d < 1", ErrInvalidRule, r.Name, r.Limit)
	case r.Window < minWindow:
		return fmt.Errorf("%w %q: window %v < %v", ErrInvalidRule, r.Name, r.Window, minWindow)
	}
	return nil
}

// hashKey returns a fixed-length digest of the caller's key. Keys are caller
// data (emails, IPs): hashing bounds their size in memory and in Redis key
// names, makes them safe to embed in a Redis key, and keeps emails out of
// Redis and out of anything that dumps keys.
func hashKey(key string) [sha256.Size]byte {
	return sha256.Sum256([]byte(key))
}

// hashKeyHex is the first 128 bits of hashKey in hex: collisions are not a
// practical concern and the Redis key stays short.
func hashKeyHex(key string) string {
	h := hashKey(key)
	return hex.EncodeToString(h[:16])
}

// Disabled is a Limiter that allows everything. It exists for
// AUTHQL_RATE_LIMIT=off (tests, local development, or a deployment that
// throttles at a proxy); it does not count anything.
type Disabled struct{}

var _ Limiter = Disabled{}

// Take always allows. Remaining reports the full Limit.
func (Disabled) Take(_ context.Context, rule Rule, _ string) (Result, error) {
	return Result{Allowed: true, Remaining: rule.Limit}, nil
}

// Refund does nothing.
func (Disabled) Refund(context.Context, Rule, string) error { return nil }
