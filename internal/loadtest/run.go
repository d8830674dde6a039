package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one operation of a load; worker (0 ≤ worker < Concurrency) lets an
// operation keep state per worker, such as a refresh token chain, without
// locks: a worker runs its operations one after another.
type Op func(ctx context.Context, worker int) error

// Config bounds a run in count and in time.
type Config struct {
	// Requests is how many operations to run in all (at least 1).
	Requests int
	// Concurrency is how many workers run them; at most Requests are used. All
	// workers are released at the same instant, so Concurrency == Requests
	// fires every request at once.
	Concurrency int
	// Duration, when positive, stops starting operations once it has passed
	// (those in flight finish, within Timeout).
	Duration time.Duration
	// Timeout, when positive, bounds each operation.
	Timeout time.Duration
	// Progress, when set, is called every ProgressEvery (a second if zero)
	// while the run lasts, with what has completed so far.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a run so far.
type Progress struct {
	Done, OK int
	Elapsed  time.Duration
}

func (c Config) validate() error {
	if c.Requests < 1 {
		return errors.New("loadtest: Requests must be at least 1")
	}
	if c.Concurrency < 1 {
		return errors.New("loadtest: Concurrency must be at least 1")
	}
	if c.Duration < 0 || c.Timeout < 0 {
		return errors.New("loadtest: Duration and Timeout must not be negative")
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	// Requests is how many operations ran (fewer than asked when Duration or
	// the context cut the run short).
	Requests int
	// OK is how many succeeded.
	OK int
	// Errors counts failures by Code.
	Errors map[string]int
	// Elapsed runs from the workers' release to the last operation's end.
	Elapsed time.Duration
	// Latencies of every operation, successes and failures, sorted.
	Latencies []time.Duration
	// Window is the run's Duration, when it had one, and WindowOK how many
	// operations succeeded within it: a rate over a fixed window that the
	// operations still in flight when it closed do not stretch (see
	// WindowOKPerSecond).
	Window   time.Duration
	WindowOK int
}

// Failed is how many operations failed.
func (r *Result) Failed() int { return r.Requests - r.OK }

// Throughput is operations completed per second, failures included.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// OKPerSecond is successful operations per second.
func (r *Result) OKPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// WindowOKPerSecond is the successes completed within the run's Duration per
// second of it: the steady rate, where OKPerSecond also counts the drain of
// the operations in flight at its end, which for operations of seconds
// (argon2id logins queueing behind the hashers) is a large, uneven part of
// a short run. OKPerSecond for a run without a Duration.
func (r *Result) WindowOKPerSecond() float64 {
	if r.Window <= 0 {
		return r.OKPerSecond()
	}
	return float64(r.WindowOK) / r.Window.Seconds()
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of the
// latencies, 0 without any.
func (r *Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return r.Latencies[rank-1]
}

// Mean is the mean latency.
func (r *Result) Mean() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	var sum time.Duration
	for _, l := range r.Latencies {
		sum += l
	}
	return sum / time.Duration(len(r.Latencies))
}

// Max is the slowest operation's latency.
func (r *Result) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// ErrorSummary lists the error codes, most frequent first: "CODE×n, ...".
func (r *Result) ErrorSummary() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	codes := slices.Collect(maps.Keys(r.Errors))
	slices.SortFunc(codes, func(a, b string) int {
		if d := r.Errors[b] - r.Errors[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s×%d", c, r.Errors[c])
	}
	return strings.Join(parts, ", ")
}

// Report writes a human-readable summary.
func (r *Result) Report(w io.Writer) {
	fmt.Fprintf(w, "requests   %d in %v (%d ok, %d failed)\n", r.Requests, r.Elapsed.Round(time.Millisecond), r.OK, r.Failed())
	fmt.Fprintf(w, "throughput %.1f req/s (%.1f ok/s)\n", r.Throughput(), r.OKPerSecond())
	fmt.Fprintf(w, "latency    p50 %v  p95 %v  p99 %v  max %v  mean %v\n",
		round(r.Percentile(50)), round(r.Percentile(95)), round(r.Percentile(99)), round(r.Max()), round(r.Mean()))
	fmt.Fprintf(w, "errors     %s\n", r.ErrorSummary())
}

// round keeps three significant figures or so, for reading.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(time.Microsecond / 100)
	}
	return d
}

// Run performs cfg.Requests operations from cfg.Concurrency workers, all
// released at once, and measures them. It returns early when ctx ends or
// cfg.Duration passes; only an invalid cfg is an error.
func Run(ctx context.Context, cfg Config, op Op) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	workers := min(cfg.Concurrency, cfg.Requests)
	type tally struct {
		ok        int
		inWindow  int
		errors    map[string]int
		latencies []time.Duration
	}
	tallies := make([]tally, workers)
	var (
		next    atomic.Int64 // tickets: operations handed out so far
		release = make(chan struct{})
		ready   sync.WaitGroup
		done    sync.WaitGroup
		stopAt  time.Time
		doneOps atomic.Int64 // operations completed, for Progress
		okOps   atomic.Int64
	)
	// Room for the latencies up front, within reason: a run bounded by
	// Duration may ask for far more requests than it will send.
	perWorker := min(cfg.Requests/workers+1, 1<<16)
	for w := range workers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			t := &tallies[w]
			t.errors = map[string]int{}
			t.latencies = make([]time.Duration, 0, perWorker)
			ready.Done()
			<-release
			for ctx.Err() == nil && next.Add(1) <= int64(cfg.Requests) {
				if !stopAt.IsZero() && !time.Now().Before(stopAt) {
					return
				}
				// Duration only stops new operations: one in flight keeps its Timeout.
				opCtx, cancel := ctx, context.CancelFunc(func() {})
				if cfg.Timeout > 0 {
					opCtx, cancel = context.WithTimeout(ctx, cfg.Timeout)
				}
				began := time.Now()
				err := op(opCtx, w)
				t.latencies = append(t.latencies, time.Since(began))
				cancel()
				doneOps.Add(1)
				if err == nil {
					t.ok++
					if stopAt.IsZero() || time.Now().Before(stopAt) {
						t.inWindow++
					}
					okOps.Add(1)
				} else {
					t.errors[Code(err)]++
				}
			}
		}()
	}
	ready.Wait()
	began := time.Now()
	if cfg.Duration > 0 {
		stopAt = began.Add(cfg.Duration)
	}
	close(release) // publishes stopAt to every worker
	if cfg.Progress != nil {
		stop := reportProgress(cfg, began, &doneOps, &okOps)
		defer stop()
	}
	done.Wait()
	res := &Result{Elapsed: time.Since(began), Errors: map[string]int{}, Window: cfg.Duration}
	for _, t := range tallies {
		res.OK += t.ok
		res.WindowOK += t.inWindow
		res.Latencies = append(res.Latencies, t.latencies...)
		for c, n := range t.errors {
			res.Errors[c] += n
		}
	}
	res.Requests = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res, nil
}

// reportProgress calls cfg.Progress every cfg.ProgressEvery until stopped.
func reportProgress(cfg Config, began time.Time, done, ok *atomic.Int64) (stop func()) {
	every := cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				cfg.Progress(Progress{Done: int(done.Load()), OK: int(ok.Load()), Elapsed: time.Since(began)})
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// Summary is a Result without its latencies, for machines to read (JSON).
type Summary struct {
	Requests   int            `json:"requests"`
	OK         int            `json:"ok"`
	Failed     int            `json:"failed"`
	Errors     map[string]int `json:"errors"`
	ElapsedS   float64        `json:"elapsed_s"`
	Throughput float64        `json:"throughput_per_s"`
	OKPerS     float64        `json:"ok_per_s"`
	P50ms      float64        `json:"p50_ms"`
	P95ms      float64        `json:"p95_ms"`
	P99ms      float64        `json:"p99_ms"`
	MaxMs      float64        `json:"max_ms"`
	MeanMs     float64        `json:"mean_ms"`
}

// Summary sums r up.
func (r *Result) Summary() Summary {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Summary{
		Requests: r.Requests, OK: r.OK, Failed: r.Failed(), Errors: r.Errors,
		ElapsedS: r.Elapsed.Seconds(), Throughput: r.Throughput(), OKPerS: r.OKPerSecond(),
		P50ms: ms(r.Percentile(50)), P95ms: ms(r.Percentile(95)), P99ms: ms(r.Percentile(99)),
		MaxMs: ms(r.Max()), MeanMs: ms(r.Mean()),
	}
}
