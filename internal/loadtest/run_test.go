package loadtest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// report is r's summary, for failure messages.
func report(r *Result) string {
	if r == nil {
		return "no result"
	}
	var b strings.Builder
	r.Report(&b)
	return b.String()
}

func TestRunCountsAndCodes(t *testing.T) {
	var calls atomic.Int64
	res, err := Run(context.Background(), Config{Requests: 100, Concurrency: 7}, func(ctx context.Context, w int) error {
		if w < 0 || w >= 7 {
			t.Errorf("worker %d out of range", w)
		}
		switch n := calls.Add(1); {
		case n%10 == 0:
			return &Error{Code: "INVALID_CREDENTIALS"}
		case n%25 == 0:
			return context.DeadlineExceeded
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 100 || res.Requests != 100 || len(res.Latencies) != 100 {
		t.Fatalf("calls %d, requests %d, latencies %d; want 100", calls.Load(), res.Requests, len(res.Latencies))
	}
	// Multiples of 10 fail as credentials, 25 and 75 as timeouts (50 and 100 are multiples of 10).
	if res.OK != 88 || res.Errors["INVALID_CREDENTIALS"] != 10 || res.Errors[CodeTimeout] != 2 || res.Failed() != 12 {
		t.Fatalf("ok %d, errors %v", res.OK, res.Errors)
	}
	if got := res.ErrorSummary(); got != "INVALID_CREDENTIALS×10, TIMEOUT×2" {
		t.Errorf("summary %q", got)
	}
	if res.Throughput() <= 0 || res.Elapsed <= 0 {
		t.Errorf("throughput %v over %v", res.Throughput(), res.Elapsed)
	}
	var b strings.Builder
	res.Report(&b)
	for _, want := range []string{"100 in", "88 ok", "p95", "INVALID_CREDENTIALS×10"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// Every worker is released at once: with as many workers as requests, all
// operations are in flight together.
func TestRunReleasesAllAtOnce(t *testing.T) {
	const n = 50
	var inFlight sync.WaitGroup
	inFlight.Add(n)
	all := make(chan struct{})
	go func() { inFlight.Wait(); close(all) }()
	res, err := Run(context.Background(), Config{Requests: n, Concurrency: n, Timeout: 5 * time.Second}, func(ctx context.Context, _ int) error {
		inFlight.Done()
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != n {
		t.Fatalf("%d of %d met together (errors %v)", res.OK, n, res.Errors)
	}
}

func TestRunDurationCap(t *testing.T) {
	res, err := Run(context.Background(), Config{Requests: 1_000_000, Concurrency: 4, Duration: 100 * time.Millisecond},
		func(context.Context, int) error { time.Sleep(5 * time.Millisecond); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Requests > 200 {
		t.Fatalf("%d requests in a 100 ms cap at 4×5 ms", res.Requests)
	}
	if res.Elapsed > 2*time.Second {
		t.Fatalf("ran %v past a 100 ms cap", res.Elapsed)
	}
}

func TestRunTimeoutAndCancel(t *testing.T) {
	res, err := Run(context.Background(), Config{Requests: 3, Concurrency: 3, Timeout: 20 * time.Millisecond},
		func(ctx context.Context, _ int) error { <-ctx.Done(); return ctx.Err() })
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors[CodeTimeout] != 3 {
		t.Fatalf("errors %v, want 3 timeouts", res.Errors)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	res, err = Run(ctx, Config{Requests: 1000, Concurrency: 2}, func(ctx context.Context, _ int) error {
		if calls.Add(1) == 10 {
			cancel()
		}
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests >= 1000 || res.Errors[CodeCanceled] == 0 {
		t.Fatalf("cancel did not stop the run:\n%s", report(res))
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Requests: 1}, {Concurrency: 1}, {Requests: 1, Concurrency: 1, Duration: -1}} {
		if _, err := Run(context.Background(), cfg, func(context.Context, int) error { return nil }); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestPercentiles(t *testing.T) {
	r := &Result{}
	if r.Percentile(50) != 0 || r.Mean() != 0 || r.Max() != 0 || r.Throughput() != 0 {
		t.Fatal("an empty result has no latencies")
	}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50, 95: 95, 99: 99, 100: 100, 0.1: 1} {
		if got := r.Percentile(p); got != want*time.Millisecond {
			t.Errorf("p%v = %v, want %vms", p, got, int(want))
		}
	}
	if r.Mean() != 50500*time.Microsecond || r.Max() != 100*time.Millisecond {
		t.Errorf("mean %v max %v", r.Mean(), r.Max())
	}
}

func TestCode(t *testing.T) {
	cases := map[string]error{
		"":                    nil,
		"EMAIL_TAKEN":         &Error{Code: "EMAIL_TAKEN"},
		CodeTimeout:           context.DeadlineExceeded,
		CodeCanceled:          context.Canceled,
		CodeTransport:         errors.New("connection refused"),
		"RATE_LIMITED":        errors.Join(errors.New("wrapped"), &Error{Code: "RATE_LIMITED"}),
		"SERVICE_UNAVAILABLE": &Error{Code: "SERVICE_UNAVAILABLE"},
	}
	for want, err := range cases {
		if got := Code(err); got != want {
			t.Errorf("Code(%v) = %q, want %q", err, got, want)
		}
	}
}
