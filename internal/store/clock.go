package store

import "time"

// WithClock makes the store read the time from now instead of the wall
// clock: the times GORM fills in and Store.Now, which the auth service reads
// too. Tests pass a fake clock; authql passes what app.WithClock was given.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// storeTime is the clock of a store: now (the wall clock when nil) in UTC with
// millisecond precision, which both engines keep exactly, so that a time read
// back equals the time written.
func storeTime(now func() time.Time) func() time.Time {
	if now == nil {
		now = time.Now
	}
	return func() time.Time { return now().UTC().Truncate(time.Millisecond) }
}

// Now is the store's time (see storeTime). Every time the domain writes, or
// compares with a stored one, is read here.
func (s *Store) Now() time.Time { return s.now() }
