package store

import (
	"context"
	"errors"
	"sync"
)

// errClosed answers a transaction that reached SQLite's writer after the
// store was closed.
var errClosed = errors.New("store: closed")

// writer runs SQLite's write transactions on one goroutine, one at a time, in
// the order they arrive. SQLite has one writer connection, so they run one at
// a time whatever runs them; run by the requests' own goroutines behind a
// lock, every hand-off woke the next goroutine and waited for the scheduler
// to run it while the connection sat idle (at 32 clients on two cores,
// authql and the load generator used 1.5 of the cores). This goroutine takes
// the next transaction as soon as one ends.
type writer struct {
	jobs chan *writeJob
	// mu orders sending against closing: senders hold it shared, close
	// exclusively, so no job is queued once the loop may have stopped.
	mu     sync.RWMutex
	closed chan struct{} // closed by close
	done   sync.WaitGroup
}

// writeJob is one transaction waiting for the writer.
type writeJob struct {
	ctx      context.Context
	run      func()
	finished chan struct{}
	err      error // the job did not run: its context ended first, or the store closed
	panicked any   // what run panicked with, panicked again in the caller
}

func newWriter() *writer {
	w := &writer{jobs: make(chan *writeJob, 256), closed: make(chan struct{})}
	w.done.Go(w.loop)
	return w
}

func (w *writer) loop() {
	for {
		// Closing wins over the queue: once closed, no further job starts.
		if w.isClosed() {
			w.refuseQueued()
			return
		}
		select {
		case j := <-w.jobs:
			w.runJob(j)
		case <-w.closed:
			w.refuseQueued()
			return
		}
	}
}

// refuseQueued answers the jobs still queued when the writer closed: nothing
// is sent once closed is, but a job sent just before may wait.
func (w *writer) refuseQueued() {
	for {
		select {
		case j := <-w.jobs:
			j.err = errClosed
			close(j.finished)
		default:
			return
		}
	}
}

func (w *writer) runJob(j *writeJob) {
	defer close(j.finished)
	if err := j.ctx.Err(); err != nil {
		j.err = err // its caller has given up: do not start it
		return
	}
	defer func() {
		if r := recover(); r != nil {
			j.panicked = r
		}
	}()
	j.run()
}

// do runs fn on the writer's goroutine and waits for it to end. It reports
// why fn did not run, if it did not; a panic in fn panics here.
func (w *writer) do(ctx context.Context, fn func()) error {
	j := &writeJob{ctx: ctx, run: fn, finished: make(chan struct{})}
	if err := w.send(ctx, j); err != nil {
		return err
	}
	// Wait for the end even if ctx ends meanwhile: the transaction may be
	// running, and fn's results are the caller's.
	<-j.finished
	if j.panicked != nil {
		panic(j.panicked)
	}
	return j.err
}

// send queues j, unless ctx ends first or the writer is closed.
func (w *writer) send(ctx context.Context, j *writeJob) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.isClosed() {
		return errClosed
	}
	select {
	case w.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the writer once the transaction running, if any, has ended.
func (w *writer) close() {
	w.mu.Lock()
	if !w.isClosed() {
		close(w.closed)
	}
	w.mu.Unlock()
	w.done.Wait()
}

func (w *writer) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}
