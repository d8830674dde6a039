package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults for Fallback.
const (
	// DefaultWarnInterval is the minimum time between two "primary
	// unavailable" warnings, so an outage produces a trickle of log lines
	// rather than one per login attempt.
	DefaultWarnInterval = time.Minute
	// DefaultRetryPrimaryAfter is how long after a primary error calls go
	// straight to the fallback before one call probes the primary again.
	// Without it every attempt would wait for the primary's timeout while
	// Redis is down or blackholed.
	DefaultRetryPrimaryAfter = time.Second
)

// fallbackOptions tune a Fallback for tests. Zero values select defaults.
type fallbackOptions struct {
	Logger            *slog.Logger // nil: slog.Default()
	WarnInterval      time.Duration
	RetryPrimaryAfter time.Duration
	Clock             func() time.Time // nil: time.Now
}

// Fallback answers from the primary Limiter (normally Redis) and, when the
// primary fails, from the fallback (normally a Memory) for that call. It
// never fails open silently and never refuses everything: during an outage
// limits are still enforced, per instance instead of cluster-wide, and the
// degradation is logged.
//
// Created by NewFallback.
type Fallback struct {
	primary  Limiter
	fallback Limiter
	log      *slog.Logger
	warnInt  time.Duration
	retryInt time.Duration
	clock    func() time.Time

	mu         sync.Mutex
	degraded   bool
	retryAt    time.Time // while degraded, skip the primary until then
	lastWarn   time.Time
	suppressed int // fallback answers since the last warning
	outageFrom time.Time
}

var _ Limiter = (*Fallback)(nil)

// NewFallback returns a Limiter that uses primary and, on a primary error,
// answers that call from fallback. It logs a warning when the primary starts
// failing (then at most once per DefaultWarnInterval while it keeps failing)
// and an info line when it recovers. Errors are logged without the caller's
// key, which may contain an email address.
func NewFallback(primary, fallback Limiter, log *slog.Logger) Limiter {
	return newFallback(primary, fallback, fallbackOptions{Logger: log})
}

func newFallback(primary, fallback Limiter, opts fallbackOptions) *Fallback {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WarnInterval <= 0 {
		opts.WarnInterval = DefaultWarnInterval
	}
	if opts.RetryPrimaryAfter <= 0 {
		opts.RetryPrimaryAfter = DefaultRetryPrimaryAfter
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Fallback{
		primary:  primary,
		fallback: fallback,
		log:      opts.Logger,
		warnInt:  opts.WarnInterval,
		retryInt: opts.RetryPrimaryAfter,
		clock:    opts.Clock,
	}
}

// Take implements Limiter.
func (f *Fallback) Take(ctx context.Context, rule Rule, key string) (Result, error) {
	if f.usePrimary() {
		res, err := f.primary.Take(ctx, rule, key)
		if !f.failed(ctx, rule, err) {
			return res, err
		}
		pErr := err
		res, err = f.fallback.Take(ctx, rule, key)
		if err != nil {
			return Result{}, fmt.Errorf("ratelimit: primary and fallback failed: %w", errors.Join(pErr, err))
		}
		return res, nil
	}
	f.noteSkipped()
	return f.fallback.Take(ctx, rule, key)
}

// Refund implements Limiter. A Refund is routed like a Take, so if the
// primary went down or came back between a Take and its Refund, the refund
// lands in the other store; the effect is at most one attempt miscounted
// per such call.
func (f *Fallback) Refund(ctx context.Context, rule Rule, key string) error {
	if f.usePrimary() {
		err := f.primary.Refund(ctx, rule, key)
		if !f.failed(ctx, rule, err) {
			return err
		}
		pErr := err
		if err = f.fallback.Refund(ctx, rule, key); err != nil {
			return fmt.Errorf("ratelimit: primary and fallback failed: %w", errors.Join(pErr, err))
		}
		return nil
	}
	f.noteSkipped()
	return f.fallback.Refund(ctx, rule, key)
}

// usePrimary reports whether this call should try the primary: always when
// healthy; while degraded, only one call per RetryPrimaryAfter (the probe).
func (f *Fallback) usePrimary() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded {
		return true
	}
	now := f.clock()
	if now.Before(f.retryAt) {
		return false
	}
	f.retryAt = now.Add(f.retryInt) // concurrent callers use the fallback meanwhile
	return true
}

// failed records the outcome of a primary call and reports whether the
// caller should fall back. Invalid rules and calls whose own context ended
// are returned as they are: they say nothing about the primary's health,
// and a dead request needs no answer.
func (f *Fallback) failed(ctx context.Context, rule Rule, err error) bool {
	if err == nil {
		f.recovered()
		return false
	}
	if errors.Is(err, ErrInvalidRule) || ctx.Err() != nil {
		return false
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock()
	f.retryAt = now.Add(f.retryInt)
	f.suppressed++
	if !f.degraded {
		f.degraded = true
		f.outageFrom = now
	} else if now.Sub(f.lastWarn) < f.warnInt {
		return true
	}
	f.lastWarn = now
	f.log.Warn("rate limiter primary unavailable; enforcing limits from in-process fallback (per instance, not shared)",
		slog.String("rule", rule.Name),
		slog.Any("error", err),
		slog.Int("fallback_calls", f.suppressed),
		slog.Duration("outage", now.Sub(f.outageFrom)))
	f.suppressed = 0
	return true
}

func (f *Fallback) noteSkipped() {
	f.mu.Lock()
	f.suppressed++
	f.mu.Unlock()
}

func (f *Fallback) recovered() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded {
		return
	}
	now := f.clock()
	f.log.Info("rate limiter primary recovered",
		slog.Duration("outage", now.Sub(f.outageFrom)),
		slog.Int("fallback_calls_since_last_warning", f.suppressed))
	f.degraded = false
	f.suppressed = 0
}
