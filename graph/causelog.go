package graph

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// unavailableLogInterval is how often at most one class of cause of
// SERVICE_UNAVAILABLE is logged: while the database is down every request
// fails the same way, and one line every few seconds says so.
const unavailableLogInterval = 5 * time.Second

// causeLogClasses bounds the classes remembered; further ones share one.
const causeLogClasses = 64

// causeLog writes the causes of SERVICE_UNAVAILABLE answers at warn level,
// at most one line per class of cause per interval, each saying how many of
// its class it left out since the last. A class is the answer and the type of
// the innermost error: the database refusing connections is one, the same
// database answering "too many connections" another.
//
// The causes are the store's and the drivers' errors: they name operations,
// addresses and codes, never a token or a password.
type causeLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	classes map[string]*causeClass
}

type causeClass struct {
	logged     time.Time
	suppressed int
}

func newCauseLog(log *slog.Logger, every time.Duration) *causeLog {
	return &causeLog{log: log, every: every, now: time.Now, classes: make(map[string]*causeClass)}
}

func (c *causeLog) warn(ctx context.Context, answer string, cause error) {
	class := answer + " / " + fmt.Sprintf("%T", innermost(cause))
	now := c.now()
	c.mu.Lock()
	cl, seen := c.classes[class]
	if !seen && len(c.classes) >= causeLogClasses {
		class = answer + " / other"
		cl, seen = c.classes[class]
	}
	if !seen {
		cl = &causeClass{}
		c.classes[class] = cl
	}
	if seen && now.Sub(cl.logged) < c.every {
		cl.suppressed++
		c.mu.Unlock()
		return
	}
	suppressed := cl.suppressed
	cl.logged, cl.suppressed = now, 0
	c.mu.Unlock()
	c.log.WarnContext(ctx, "service unavailable", "cause", cause.Error(), "class", class, "suppressed", suppressed)
}

// innermost follows err's wrapping to its end; of several wrapped errors it
// follows the last, which by the convention of fmt.Errorf("%w: %w",
// sentinel, cause) is the cause.
func innermost(err error) error {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next := u.Unwrap()
			if next == nil {
				return err
			}
			err = next
		case interface{ Unwrap() []error }:
			list := u.Unwrap()
			if len(list) == 0 {
				return err
			}
			err = list[len(list)-1]
		default:
			return err
		}
	}
}
