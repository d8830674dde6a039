// Package clock holds the clock tests give authql in place of the wall clock.
//
// The domain reads the time from one function, injected where authql is
// assembled (app.WithClock) and handed to the store, the token service and
// through the store to the auth service. A test that gives them a Fake steps
// through token lifetimes, grace windows and session ends instead of
// sleeping through them, and sees expiry happen at an exact second.
package clock

import (
	"sync"
	"time"
)

// Fake is a clock that moves only when told to. It is safe for concurrent
// use: requests read it while the test advances it.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a clock stopped at start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now is the clock's time; pass the method value where a func() time.Time is wanted.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}
