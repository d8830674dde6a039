package mail

import (
	"testing"
	"time"
)

func TestBackoffGrowsAndJitters(t *testing.T) {
	b := Backoff{Base: 5 * time.Second, Max: time.Hour}
	for _, c := range []struct {
		attempt int
		want    time.Duration // the pause before jitter
	}{
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{6, 160 * time.Second},
		{10, 2560 * time.Second},
		{11, time.Hour}, // 5120 s, capped
		{50, time.Hour},
		{1000, time.Hour}, // no overflow
	} {
		seen := make(map[time.Duration]bool)
		for range 200 {
			d := b.Delay(c.attempt)
			if d < c.want/2 || d > c.want {
				t.Fatalf("attempt %d: %v, want within [%v, %v]", c.attempt, d, c.want/2, c.want)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Errorf("attempt %d: only %d distinct pauses in 200: not jittered", c.attempt, len(seen))
		}
	}
	// Growth holds whatever the draw while pauses double: the shortest pause
	// of an attempt is the longest of the one before.
	for n := 1; n < 10; n++ {
		if b.Delay(n+1) < b.Delay(n) {
			t.Errorf("attempt %d waits less than attempt %d", n+1, n)
		}
	}
}
