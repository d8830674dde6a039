package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// blockWriter occupies w with a job that runs until release is called.
func blockWriter(t *testing.T, w *writer) (release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	go func() { _ = w.do(context.Background(), func() { close(started); <-hold }) }()
	<-started
	return func() { close(hold) }
}

// queued enqueues fn from its own goroutine and waits until it is in the
// queue, so that the jobs of a test are queued in a known order.
func queued(t *testing.T, w *writer, ctx context.Context, fn func(), result chan<- error) {
	t.Helper()
	n := len(w.jobs)
	go func() { result <- w.do(ctx, fn) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(w.jobs) == n {
		if time.Now().After(deadline) {
			t.Fatal("the job was not queued")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriterRunsInArrivalOrder: transactions waiting for SQLite's writer run
// in the order they arrived, one at a time.
func TestWriterRunsInArrivalOrder(t *testing.T) {
	w := newWriter()
	defer w.close()
	release := blockWriter(t, w)
	var (
		mu      sync.Mutex
		order   []int
		running int
	)
	results := make(chan error, 20)
	for i := range 20 {
		queued(t, w, context.Background(), func() {
			mu.Lock()
			running++
			if running > 1 {
				t.Error("two jobs ran at once")
			}
			order = append(order, i)
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			running--
			mu.Unlock()
		}, results)
	}
	release()
	for range 20 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	for i, got := range order {
		if got != i {
			t.Fatalf("ran in order %v, want arrival order", order)
		}
	}
}

// TestWriterCallerGivesUp: a transaction whose caller's context ends while
// it waits is not started, and the caller gets the context's error.
func TestWriterCallerGivesUp(t *testing.T) {
	w := newWriter()
	defer w.close()
	release := blockWriter(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	result := make(chan error, 1)
	queued(t, w, ctx, func() { ran = true }, result)
	cancel()
	release()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("do: %v, want context.Canceled", err)
	}
	if ran {
		t.Error("the abandoned transaction ran")
	}
}

// TestWriterPanicReachesCaller: a panic in a transaction panics in its
// caller's goroutine (where the request's recovery is), not in the writer's,
// which goes on serving.
func TestWriterPanicReachesCaller(t *testing.T) {
	w := newWriter()
	defer w.close()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the transaction's panic", r)
			}
		}()
		_ = w.do(context.Background(), func() { panic("boom") })
		t.Fatal("do returned")
	}()
	ran := false
	if err := w.do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("after a panic: %v, ran %v", err, ran)
	}
}

// TestWriterClosed: closing waits for the running transaction, answers those
// still queued with errClosed, and refuses new ones; nothing hangs.
func TestWriterClosed(t *testing.T) {
	w := newWriter()
	release := blockWriter(t, w)
	result := make(chan error, 1)
	queued(t, w, context.Background(), func() { t.Error("a queued job ran after close") }, result)
	closed := make(chan struct{})
	go func() { w.close(); close(closed) }()
	time.Sleep(10 * time.Millisecond)
	release()
	<-closed
	if err := <-result; !errors.Is(err, errClosed) {
		t.Fatalf("queued job: %v, want errClosed", err)
	}
	if err := w.do(context.Background(), func() { t.Error("ran after close") }); !errors.Is(err, errClosed) {
		t.Fatalf("after close: %v, want errClosed", err)
	}
}
