// Command authql-load sends a bounded load of one kind of request to an authql
// server and reports throughput, latency percentiles and error codes.
//
//	authql-load -url http://127.0.0.1:8080 -mode login -n 300 -c 32
//
// Point it only at a server you run yourself, on this machine: it refuses a
// URL whose host is not loopback (127.0.0.0/8, ::1, localhost). Every run is
// bounded by -n requests and by -duration, whichever comes first. Run the
// server with AUTHQL_RATE_LIMIT=off unless the rate limits are what you want
// to see (they answer RATE_LIMITED), and, for login and signup floods, with a
// generous AUTHQL_HASH_QUEUE_TIMEOUT (logins queue for the password hashers).
//
// Modes:
//
//	login    log one account in (one argon2id verification each)
//	refresh  rotate refresh tokens: each worker keeps its own session and
//	         presents the token its previous request received
//	me       the authenticated me query with one access token
//	mixed    90 % me, 8 % refresh, 2 % login: each worker keeps its own
//	         session and asks me with the newest access token it earned
//	signup   sign up a fresh address each time (one argon2id hash each)
//
// The account (-email, -password) is signed up first if it does not exist;
// that and the logins that refresh and me start from are not measured.
// With -pid, the server's resident memory (peak and current, from /proc) is
// reported before and after the run. Progress goes to stderr every -progress
// while the run lasts; with -json the result is one JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/authql/authql/internal/loadtest"
)

// maxRequests bounds -n: a load tool, not a traffic generator without end.
const maxRequests = 10_000_000

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "authql-load:", err)
		os.Exit(2)
	}
}

type options struct {
	url, mode, email, password string
	n, c, pid                  int
	duration, timeout          time.Duration
	progress                   time.Duration
	json                       bool
}

// jsonResult is what -json prints.
type jsonResult struct {
	Mode        string `json:"mode"`
	URL         string `json:"url"`
	Concurrency int    `json:"concurrency"`
	loadtest.Summary
	Memory *memoryJSON `json:"server_memory,omitempty"`
}

type memoryJSON struct {
	PID        int     `json:"pid"`
	PeakMiB    float64 `json:"peak_mib"`
	CurrentMiB float64 `json:"current_mib"`
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("authql-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "authql's base URL (loopback only)")
	fs.StringVar(&o.mode, "mode", loadtest.ModeLogin, "what to send: "+strings.Join(loadtest.Modes, ", "))
	fs.IntVar(&o.n, "n", 1000, "total requests")
	fs.IntVar(&o.c, "c", 16, "concurrency: workers sending requests at once")
	fs.DurationVar(&o.duration, "duration", time.Minute, "stop starting requests after this long")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each request")
	fs.StringVar(&o.email, "email", "load@example.com", "the account used (signup mode: the pattern of new addresses)")
	fs.StringVar(&o.password, "password", "load-test-password", "the account's password")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id, to report its resident memory (Linux)")
	fs.DurationVar(&o.progress, "progress", time.Second, "print progress to stderr this often (0: never)")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: authql-load [flags]\n\nSends a bounded load to an authql server on this machine and reports\nthroughput, latency percentiles and error codes.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.n < 1 || o.n > maxRequests:
		return nil, fmt.Errorf("-n must be between 1 and %d", maxRequests)
	case o.c < 1:
		return nil, errors.New("-c must be at least 1")
	case o.duration <= 0 || o.timeout <= 0:
		return nil, errors.New("-duration and -timeout must be positive")
	case o.progress < 0:
		return nil, errors.New("-progress must not be negative")
	}
	o.c = min(o.c, o.n)
	if err := loadtest.CheckLoopback(o.url); err != nil {
		return nil, fmt.Errorf("-url: %w: point authql-load at a server on this machine", err)
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := loadtest.NewClient(o.url, o.c)
	defer c.Close()

	readyCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = c.WaitReady(readyCtx)
	cancel()
	if err != nil {
		return err
	}
	// Setup (signup, the logins refresh and me start from) gets its own bound.
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	op, err := loadtest.Prepare(setupCtx, c, o.mode, loadtest.Account{Email: o.email, Password: o.password}, o.c)
	cancel()
	if err != nil {
		return err
	}
	before := memory(o.pid, stderr)
	header := stdout
	if o.json {
		header = stderr
	}
	fmt.Fprintf(header, "authql-load: %s ×%d, %d at once, against %s (cap %v)\n", o.mode, o.n, o.c, o.url, o.duration)
	cfg := loadtest.Config{Requests: o.n, Concurrency: o.c, Duration: o.duration, Timeout: o.timeout}
	if o.progress > 0 {
		cfg.ProgressEvery = o.progress
		cfg.Progress = func(p loadtest.Progress) {
			fmt.Fprintf(stderr, "authql-load: %v: %d done (%d ok), %.0f/s\n",
				p.Elapsed.Round(time.Second), p.Done, p.OK, float64(p.Done)/p.Elapsed.Seconds())
		}
	}
	res, err := loadtest.Run(ctx, cfg, op)
	if err != nil {
		return err
	}
	after := memory(o.pid, stderr)
	if o.json {
		out := jsonResult{Mode: o.mode, URL: o.url, Concurrency: o.c, Summary: res.Summary()}
		if after != nil {
			out.Memory = &memoryJSON{PID: o.pid, PeakMiB: loadtest.MiB(after.Peak), CurrentMiB: loadtest.MiB(after.Current)}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	res.Report(stdout)
	if before != nil && after != nil {
		fmt.Fprintf(stdout, "server     pid %d: before: %v; after: %v\n", o.pid, before, after)
	}
	return nil
}

// memory reads the server's resident memory, nil (with a warning) when it cannot.
func memory(pid int, stderr io.Writer) *loadtest.Memory {
	if pid <= 0 {
		return nil
	}
	m, err := loadtest.ReadMemory(pid)
	if err != nil {
		fmt.Fprintf(stderr, "authql-load: memory of pid %d: %v\n", pid, err)
		return nil
	}
	return &m
}
