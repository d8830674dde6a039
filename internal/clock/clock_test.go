package clock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/clock"
)

func TestFakeMovesOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clock.NewFake(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	c.Advance(1500 * time.Millisecond)
	if got, want := c.Now(), start.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now() after Advance = %v, want %v", got, want)
	}
}

// TestFakeConcurrent: readers and advancers at once (run with -race); every
// advance counts.
func TestFakeConcurrent(t *testing.T) {
	start := time.Unix(0, 0)
	c := clock.NewFake(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Millisecond)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Now().Sub(start); got != 800*time.Millisecond {
		t.Fatalf("advanced by %v, want 800ms", got)
	}
}
