package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authql/authql/bench/ceiling"
	"github.com/authql/authql/bench/seed"
	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/token"
)

// The token settings both sides share: the ceilings verify authql's tokens.
const (
	secret   = "bench-secret-0123456789abcdef0123456789abcdef"
	issuer   = "authql"
	audience = "authql"
)

// row is one operation measured on one database.
type row struct {
	DB       string  `json:"db"`
	Sessions int     `json:"seeded_sessions"`
	Op       string  `json:"op"`
	Conns    int     `json:"conns"`
	Authql   side    `json:"authql"`
	Ceiling  *side   `json:"ceiling,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
	// Rounds are the ratios of each round (authql's round i over the
	// ceiling's round i, run one after the other), and CI95 the 95 %
	// confidence interval of their geometric mean (Student's t on the log
	// ratios): what the machine's noise leaves of the ratio.
	Rounds []float64   `json:"round_ratios,omitempty"`
	CI95   *[2]float64 `json:"ratio_ci95,omitempty"`
}

// side is what one side measured over every round.
type side struct {
	OKPerS float64        `json:"ok_per_s"`
	P50ms  float64        `json:"p50_ms"`
	P99ms  float64        `json:"p99_ms"`
	OK     int            `json:"ok"`
	Errors map[string]int `json:"errors,omitempty"`
	res    loadtest.Result
}

// add folds one round into the side.
func (s *side) add(r *loadtest.Result) {
	s.res.Requests += r.Requests
	s.res.OK += r.OK
	s.res.Elapsed += r.Elapsed
	s.res.Window += r.Window
	s.res.WindowOK += r.WindowOK
	s.res.Latencies = append(s.res.Latencies, r.Latencies...)
	if s.res.Errors == nil {
		s.res.Errors = map[string]int{}
	}
	for c, n := range r.Errors {
		s.res.Errors[c] += n
	}
	slices.Sort(s.res.Latencies)
	sum := s.res.Summary()
	// The rate within the rounds' windows: operations still in flight when
	// a round ends are not counted, nor is the time they take to drain.
	s.OKPerS, s.P50ms, s.P99ms, s.OK, s.Errors = s.res.WindowOKPerSecond(), sum.P50ms, sum.P99ms, sum.OK, s.res.Errors
}

// bench is everything a scenario may use.
type bench struct {
	o       *options
	dbURL   string
	dialect string
	authql  *loadtest.Client
	me      *loadtest.Client
	account loadtest.Account
	login   *loadtest.Payload
	tokens  *token.Service
}

// scenario readies the two sides of an operation: authql's operation, and
// the ceiling's with how many workers it runs on (nil: no ceiling).
type scenario func(ctx context.Context, b *bench) (a loadtest.Op, c loadtest.Op, cWorkers int, done func(), err error)

var scenarios = map[string]scenario{
	"me": func(ctx context.Context, b *bench) (loadtest.Op, loadtest.Op, int, func(), error) {
		return loadtest.MeOp(b.authql, b.login.AccessToken), loadtest.MeOp(b.me, b.login.AccessToken), b.o.conns, func() {}, nil
	},
	"refresh": func(ctx context.Context, b *bench) (loadtest.Op, loadtest.Op, int, func(), error) {
		a, err := loadtest.RefreshOp(ctx, b.authql, b.account, b.o.conns)
		if err != nil {
			return nil, nil, 0, nil, err
		}
		db, dialect, err := ceiling.OpenSQL(b.dbURL)
		if err != nil {
			return nil, nil, 0, nil, err
		}
		r, err := ceiling.NewRotator(ctx, db, dialect, b.tokens, 30*24*time.Hour)
		if err != nil {
			db.Close()
			return nil, nil, 0, nil, err
		}
		chains := make([]*ceiling.Chain, b.o.conns)
		for i := range chains {
			if chains[i], err = r.Start(ctx, b.login.User.ID); err != nil {
				r.Close()
				db.Close()
				return nil, nil, 0, nil, err
			}
		}
		c := func(ctx context.Context, w int) error { return r.Rotate(ctx, chains[w]) }
		return a, c, b.o.conns, func() { r.Close(); db.Close() }, nil
	},
	"login": func(ctx context.Context, b *bench) (loadtest.Op, loadtest.Op, int, func(), error) {
		h, err := ceiling.NewHasher(ctx, password.DefaultParams)
		if err != nil {
			return nil, nil, 0, nil, err
		}
		c := func(ctx context.Context, _ int) error { return h.Verify(ctx) }
		return loadtest.LoginOp(b.authql, b.account), c, ceiling.Workers(), func() {}, nil
	},
	"mixed": func(ctx context.Context, b *bench) (loadtest.Op, loadtest.Op, int, func(), error) {
		a, err := loadtest.MixedOp(ctx, b.authql, b.account, b.o.conns)
		return a, nil, 0, func() {}, err
	},
}

// measure runs every operation of o on db, with size sessions seeded first.
func measure(ctx context.Context, o *options, bins *binaries, db string, size int, logf func(string, ...any)) ([]row, error) {
	dir, err := os.MkdirTemp(bins.dir, db+"-")
	if err != nil {
		return nil, err
	}
	dbURL := "sqlite://" + filepath.Join(dir, "authql.db")
	if db == "mysql" {
		dbURL = o.mysqlURL
		if err := resetMySQL(ctx, dbURL); err != nil {
			return nil, err
		}
	}
	env := []string{
		"AUTHQL_DATABASE_URL=" + dbURL, "AUTHQL_JWT_SECRET=" + secret, "AUTHQL_ISSUER=" + issuer, "AUTHQL_AUDIENCE=" + audience,
		"AUTHQL_RATE_LIMIT=off", "AUTHQL_HASH_QUEUE_TIMEOUT=120s",
	}
	a, err := start(ctx, bins.authql, dir, env...)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	if size > 0 {
		began := time.Now()
		sqlDB, _, err := ceiling.OpenSQL(dbURL)
		if err != nil {
			return nil, err
		}
		err = seed.Sessions(ctx, sqlDB, size, func(done int) { logf("%s: seeded %d of %d sessions", db, done, size) })
		sqlDB.Close()
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		logf("%s: seeded %d sessions in %v", db, size, time.Since(began).Round(time.Second))
	}
	m, err := start(ctx, bins.me, dir, env...)
	if err != nil {
		return nil, err
	}
	defer m.stop()
	tokens, err := token.New(token.Config{Secret: []byte(secret), Issuer: issuer, Audience: audience, AccessTTL: 15 * time.Minute})
	if err != nil {
		return nil, err
	}
	b := &bench{
		o: o, dbURL: dbURL, dialect: db, tokens: tokens,
		authql: loadtest.NewClient(a.url, o.conns), me: loadtest.NewClient(m.url, o.conns),
		account: loadtest.Account{Email: "bench@example.com", Password: "bench-password-correct-horse"},
	}
	defer b.authql.Close()
	defer b.me.Close()
	if err := loadtest.EnsureAccount(ctx, b.authql, b.account); err != nil {
		return nil, fmt.Errorf("signup: %w", err)
	}
	if b.login, err = b.authql.Login(ctx, b.account.Email, b.account.Password); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	var rows []row
	for _, op := range o.ops {
		r, err := alternate(ctx, b, op, logf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		r.DB, r.Sessions = db, size
		rows = append(rows, *r)
	}
	return rows, nil
}

// alternate runs op on authql (A) and on its ceiling (B), A B A B, after a
// short warm-up of each.
func alternate(ctx context.Context, b *bench, op string, logf func(string, ...any)) (*row, error) {
	aOp, cOp, cWorkers, done, err := scenarios[op](ctx, b)
	if err != nil {
		return nil, err
	}
	defer done()
	r := &row{Op: op, Conns: b.o.conns}
	var ceil side
	once := func(o loadtest.Op, workers int, d time.Duration) (*loadtest.Result, error) {
		return loadtest.Run(ctx, loadtest.Config{Requests: 100_000_000, Concurrency: workers, Duration: d, Timeout: time.Minute}, o)
	}
	round := b.o.round
	if op == "login" {
		round = b.o.loginRound
	}
	warm := min(round/4, time.Second)
	if _, err := once(aOp, b.o.conns, warm); err != nil {
		return nil, err
	}
	if cOp != nil {
		if _, err := once(cOp, cWorkers, warm); err != nil {
			return nil, err
		}
	}
	for i := range b.o.rounds {
		res, err := once(aOp, b.o.conns, round)
		if err != nil {
			return nil, err
		}
		r.Authql.add(res)
		aRate := res.WindowOKPerSecond()
		logf("%s %s round %d: authql %.0f ok/s (p50 %.2f ms, p99 %.2f ms, errors %s)", b.dialect, op, i+1, res.OKPerSecond(),
			ms(res.Percentile(50)), ms(res.Percentile(99)), res.ErrorSummary())
		if cOp == nil {
			continue
		}
		if res, err = once(cOp, cWorkers, round); err != nil {
			return nil, err
		}
		ceil.add(res)
		if c := res.WindowOKPerSecond(); c > 0 {
			r.Rounds = append(r.Rounds, aRate/c)
		}
		logf("%s %s round %d: ceiling %.0f ok/s (p50 %.2f ms, p99 %.2f ms, errors %s)", b.dialect, op, i+1, res.OKPerSecond(),
			ms(res.Percentile(50)), ms(res.Percentile(99)), res.ErrorSummary())
	}
	if cOp != nil {
		r.Ceiling = &ceil
		if ceil.OKPerS > 0 {
			r.Ratio = r.Authql.OKPerS / ceil.OKPerS
		}
		r.CI95 = ci95(r.Rounds)
	}
	return r, nil
}

// ci95 is the 95 % confidence interval of the geometric mean of ratios,
// from Student's t on their logarithms (ratios of rates are skewed; their
// logarithms much less). nil below two ratios.
func ci95(ratios []float64) *[2]float64 {
	n := len(ratios)
	if n < 2 {
		return nil
	}
	var sum, sq float64
	for _, r := range ratios {
		sum += math.Log(r)
	}
	mean := sum / float64(n)
	for _, r := range ratios {
		d := math.Log(r) - mean
		sq += d * d
	}
	half := tQuantile975(n-1) * math.Sqrt(sq/float64(n-1)/float64(n))
	return &[2]float64{math.Exp(mean - half), math.Exp(mean + half)}
}

// tQuantile975 is the 97.5th percentile of Student's t with df degrees of
// freedom (two-sided 95 %).
func tQuantile975(df int) float64 {
	table := []float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086}
	if df <= len(table) {
		return table[df-1]
	}
	return 1.96 + 2.4/float64(df) // within 0.01 of the table beyond 20
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "db\tsessions\top\tc\tauthql ok/s\tceiling ok/s\tratio\tround ratios\tratio 95% CI\tp50 ms\tp99 ms\tp99/p50\terrors\t")
	for _, r := range rows {
		c, ratio, rounds, ci := "-", "-", "-", "-"
		if r.Ceiling != nil {
			c, ratio = fmt.Sprintf("%.0f", r.Ceiling.OKPerS), fmt.Sprintf("%.2f", r.Ratio)
		}
		if len(r.Rounds) > 0 {
			lo, hi := slices.Min(r.Rounds), slices.Max(r.Rounds)
			rounds = fmt.Sprintf("%.2f–%.2f", lo, hi)
		}
		if r.CI95 != nil {
			ci = fmt.Sprintf("%.2f–%.2f", r.CI95[0], r.CI95[1])
		}
		tail := 0.0
		if r.Authql.P50ms > 0 {
			tail = r.Authql.P99ms / r.Authql.P50ms
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.1f\t%s\t\n", r.DB, r.Sessions, r.Op, r.Conns,
			r.Authql.OKPerS, c, ratio, rounds, ci, r.Authql.P50ms, r.Authql.P99ms, tail, r.Authql.res.ErrorSummary())
	}
	tw.Flush()
}

// resetMySQL drops and creates the database of a mysql:// URL.
func resetMySQL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.ContainsAny(name, "`/\\ ") {
		return fmt.Errorf("-mysql: %q is not a database name the runner will drop", name)
	}
	u.Path = "/mysql"
	dsn, err := mysqlDSN(u.String())
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + name + "`", "CREATE DATABASE `" + name + "`"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("-mysql: %w", err)
		}
	}
	return nil
}
