package auth

import "time"

// SetClock makes s read the time from now: tests step through windows
// without waiting for them.
func SetClock(s *Service, now func() time.Time) { s.now = now }
