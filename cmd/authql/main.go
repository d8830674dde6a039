// Command authql is the authql server and its tools.
//
//	authql [serve] [--flags]              run the service (flags mirror AUTHQL_* variables)
//	authql keys generate --alg EdDSA      print a new private JWK
//	authql keys rotate [--alg EdDSA] FILE add a new signing key to a JWKS file
//	authql migrate [up]                   apply the schema migrations the database lacks, then exit
//	authql migrate status                 list the migrations, applied or pending
//	authql migrate down-to VERSION        roll back every migration newer than VERSION
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/keys"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/tracing"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authql:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "keys" || args[0] == "migrate" || args[0] == "help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "keys":
		return keysCommand(args, stdout)
	case "help":
		usage(stdout)
		return nil
	}
	var err error
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			usage(stdout)
			return nil
		}
	}
	var mig []string
	if cmd == "migrate" {
		if mig, args, err = migrateArgs(args); err != nil {
			return err
		}
	}
	cfg, err := config.Load(args, os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log.Level)
	if cmd == "migrate" {
		return migrateCommand(context.Background(), cfg.Database.URL, mig, stdout, log)
	}
	return serve(cfg, log)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `authql: authentication for GraphQL applications

usage:
  authql [serve] [--flag value ...]      run the service
  authql migrate [up]                    apply the schema migrations the database lacks, then exit
  authql migrate status                  list the migrations: applied (when) or pending
  authql migrate down-to VERSION         roll back every migration newer than VERSION (0: all)
  authql keys generate --alg ALG         print a new private JWK (ALG: EdDSA, ES256, RS256)
  authql keys rotate [--alg ALG] FILE    add a new signing key to FILE, keep the old one verify-only
  authql keys retire FILE KID            drop a verify-only key from FILE

settings (flag, environment variable):
`)
	config.Usage(w)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// serve runs the service until SIGINT or SIGTERM, then leaves a load
// balancer's rotation before it stops: /readyz answers 503 at once while every
// request is still served (with Connection: close) for AUTHQL_SHUTDOWN_DELAY,
// long enough for the balancer's health check to notice; a second signal cuts
// that wait short. Only then does the listener close, requests in flight get
// AUTHQL_SHUTDOWN_GRACE to finish, and (deferred, in this order) background
// work stops, the mail sender finishes its attempt, the store closes and the
// spans are flushed.
func serve(cfg *config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tp, stopTracing, err := tracing.Setup(ctx, os.Getenv, "authql")
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("tracing: spans not flushed", "err", err)
		}
	}()
	// The provider Setup made, no-op when nothing is exported: the app then
	// builds no spans at all.
	a, err := app.New(ctx, cfg, log, app.WithTracerProvider(tp))
	if err != nil {
		return err
	}
	defer a.Close()
	bg, cancelBg := context.WithCancel(context.Background())
	defer cancelBg()
	go a.RunBackground(bg)

	srv := &http.Server{
		Addr:    cfg.Server.Addr,
		Handler: a.Handler,
		// Slow clients must not pin connections: bound every phase.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      writeTimeout(cfg.Passwords.HashQueueTimeout),
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	mode := "HS256 (" + cfg.Name(&cfg.Tokens.Secret) + ")"
	if cfg.Keys.JWKSFile != "" {
		mode = "JWKS " + cfg.Keys.JWKSFile
	}
	log.Info("authql listening", "addr", ln.Addr().String(), "database", store.Redact(cfg.Database.URL),
		"production", cfg.Production, "access_tokens", mode, "secret_from", cfg.Tokens.SecretSource,
		"playground", cfg.GraphQL.Playground, "cookie_mode", cfg.Cookies.Refresh, "rate_limit", cfg.Limits.Enabled)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	servers := []*http.Server{srv}
	if cfg.Server.MetricsAddr != "" {
		msrv, err := serveMetrics(cfg.Server.MetricsAddr, a.Metrics.Handler(), log, errc)
		if err != nil {
			return err
		}
		servers = append(servers, msrv)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Listen for the next signal before letting go of the first one's
	// context, so that no signal meets the default action (death) between.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	stop()
	a.Drain()
	if cfg.Server.ShutdownDelay > 0 {
		log.Info("draining: /readyz answers 503, requests are still served", "delay", cfg.Server.ShutdownDelay)
		wait := time.NewTimer(cfg.Server.ShutdownDelay)
		select {
		case <-wait.C:
		case <-again:
			wait.Stop()
			log.Info("second signal: drain delay cut short")
		case err := <-errc:
			return err
		}
	}
	log.Info("shutting down", "grace", cfg.Server.ShutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// serveMetrics serves GET /metrics alone on addr (AUTHQL_METRICS_ADDR), for
// a scraper on a network the public listener is not on; its end goes to errc.
func serveMetrics(addr string, metrics http.Handler, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	log.Info("metrics listening", "addr", ln.Addr().String())
	go func() { errc <- srv.Serve(ln) }()
	return srv, nil
}

// writeTimeout leaves a login that queued for a password hasher as long as the
// queue allows, plus time to hash and answer: a shorter write deadline would
// drop the answer of a login the server still completes.
func writeTimeout(hashQueue time.Duration) time.Duration {
	return max(30*time.Second, hashQueue+15*time.Second)
}

func keysCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: want generate, rotate or retire")
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	alg := fs.String("alg", keys.AlgEdDSA, "EdDSA, ES256 or RS256")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "generate":
		jwk, err := keys.Generate(*alg)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", jwk)
		return err
	case "rotate":
		if fs.NArg() != 1 {
			return errors.New("keys rotate: want exactly one FILE")
		}
		path := fs.Arg(0)
		var kid string
		var err error
		if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) {
			kid, err = keys.Create(path, *alg)
		} else {
			kid, err = keys.Rotate(path, *alg)
		}
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "new signing key %s (%s) in %s; restart or reload authql to use it\n", kid, *alg, path)
		return err
	case "retire":
		if fs.NArg() != 2 {
			return errors.New("keys retire: want FILE KID")
		}
		if err := keys.Retire(fs.Arg(0), fs.Arg(1)); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "removed key %s from %s\n", fs.Arg(1), fs.Arg(0))
		return err
	}
	return fmt.Errorf("keys: unknown command %q", args[0])
}
