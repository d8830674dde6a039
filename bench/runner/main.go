// Command runner measures authql against its ceilings (package ceiling) on
// SQLite and on MariaDB/MySQL, alternating A B A B in one run so that the
// machine's noise falls on both sides, and prints the ratios.
//
//	go run ./bench/runner -db sqlite,mysql -mysql mysql://root@127.0.0.1:3306/authql_bench
//
// It builds cmd/authql and bench/ceiling/me, starts them on loopback with a
// fresh database (the MySQL database named by -mysql is dropped and
// created), and for each operation runs -rounds rounds of -round each side:
//
//	me       authql's { me { id email } } vs the bare me handler, over HTTP
//	refresh  authql's refreshToken over HTTP vs the rotation's statements
//	         run directly through database/sql
//	login    authql's login over HTTP vs argon2id verification on every core,
//	         in rounds of -login-round (logins take seconds: short rounds
//	         hold too few to count)
//	mixed    authql alone (90 % me, 8 % refresh, 2 % login): no ceiling
//
// With -growth 1000,100000 the database is first seeded with that many
// sessions (with their users and refresh tokens) and the run repeated per
// size. Rates count the operations that succeeded within each round's
// window (not those in flight when it closed), and each ratio comes with the
// ratios of the single rounds and a 95 % confidence interval from them.
// Only ever point -mysql at a database you can lose.
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
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

type options struct {
	dbs      []string
	mysqlURL string
	ops      []string
	conns    int
	round    time.Duration
	// loginRound is a login round's length: logins take seconds behind
	// the hashers, and a round must hold enough of them to count.
	loginRound time.Duration
	rounds     int
	growth     []int
	json       bool
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	dbs := fs.String("db", "sqlite,mysql", "databases: sqlite, mysql")
	fs.StringVar(&o.mysqlURL, "mysql", envOr("AUTHQL_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/authql_bench"), "MySQL URL (its database is dropped and created)")
	ops := fs.String("ops", "me,refresh,login,mixed", "operations: me, refresh, login, mixed")
	fs.IntVar(&o.conns, "c", 32, "concurrent connections (workers)")
	fs.DurationVar(&o.round, "round", 5*time.Second, "length of one side of one round")
	fs.DurationVar(&o.loginRound, "login-round", 20*time.Second, "length of one side of one login round")
	fs.IntVar(&o.rounds, "rounds", 2, "rounds (A B each)")
	growth := fs.String("growth", "", "seed this many sessions first, e.g. 1000,100000,1000000 (one run per size)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.dbs = split(*dbs)
	o.ops = split(*ops)
	for _, g := range split(*growth) {
		n, err := strconv.Atoi(g)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-growth: %q is not a count", g)
		}
		o.growth = append(o.growth, n)
	}
	if len(o.growth) == 0 {
		o.growth = []int{0}
	}
	for _, db := range o.dbs {
		if db != "sqlite" && db != "mysql" {
			return nil, fmt.Errorf("-db: unknown database %q", db)
		}
	}
	for _, op := range o.ops {
		if _, ok := scenarios[op]; !ok {
			return nil, fmt.Errorf("-ops: unknown operation %q", op)
		}
	}
	if o.conns < 1 || o.rounds < 1 || o.round <= 0 || o.loginRound <= 0 {
		return nil, errors.New("-c, -rounds, -round and -login-round must be positive")
	}
	return o, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "runner: "+format+"\n", a...) }
	bins, err := build(ctx, logf)
	if err != nil {
		return err
	}
	defer os.RemoveAll(bins.dir)
	var rows []row
	for _, size := range o.growth {
		for _, db := range o.dbs {
			got, err := measure(ctx, o, bins, db, size, logf)
			if err != nil {
				return fmt.Errorf("%s: %w", db, err)
			}
			rows = append(rows, got...)
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printTable(stdout, rows)
	return nil
}
