// Package app assembles authql from its configuration: the store, the keys,
// the services and the HTTP handler. The binary and the end-to-end tests build
// the very same thing through New.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/authql/authql/graph"
	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/keys"
	"github.com/authql/authql/internal/metrics"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/ratelimit"
	"github.com/authql/authql/internal/requestid"
	"github.com/authql/authql/internal/server"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/token"
	"github.com/authql/authql/internal/tracing"
)

// Tunables that are not worth a setting.
const (
	maxBodyBytes = 1 << 20
	// complexityLimit lets one request read a full page of sessions, a full
	// page of audit events and me, every field of each (graph.DefaultComplexityLimit).
	complexityLimit  = graph.DefaultComplexityLimit
	maxResponseBytes = graph.DefaultMaxResponseBytes
	// maxMutationRepeats bounds the aliases of one mutation field that run in a
	// request, as many as the failed logins the default limit allows.
	maxMutationRepeats = 10
	pruneInterval      = 10 * time.Minute
)

// App is an assembled authql.
type App struct {
	Handler http.Handler
	// Metrics serves GET /metrics. Handler serves it too unless
	// AUTHQL_METRICS_ADDR gives it a listener of its own.
	Metrics *metrics.Metrics
	auth    *auth.Service
	store   *store.Store
	cfg     *config.Config
	log     *slog.Logger
	redis   *redis.Client
	// stopMail stops the mail sender and waits for its attempts in flight.
	stopMail func()
	// drain is this instance's readiness for a load balancer.
	drain *server.Drain
}

// Option adjusts what New builds, for tests.
type Option func(*options)

type options struct {
	passwordParams password.Params
	now            func() time.Time
	tracer         trace.TracerProvider
}

// WithTracerProvider makes the spans of GraphQL operations and database
// statements with tp; without it, with OpenTelemetry's global provider
// (tracing.Setup installs one when OTLP export is configured).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// WithPasswordParams replaces argon2id's cost: tests that create hundreds of
// accounts use a cheap one. Never for a running service.
func WithPasswordParams(p password.Params) Option {
	return func(o *options) { o.passwordParams = p }
}

// WithClock makes the domain read the time from now instead of the wall
// clock: the store, the token service and, through the store, the auth
// service, one clock for all. Tests step through token lifetimes with it.
// Rate-limit windows keep their own clock (Redis keeps the time of a shared
// limit).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New opens the database, loads the keys and builds the handler.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	o := options{passwordParams: password.DefaultParams, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tracer == nil {
		o.tracer = otel.GetTracerProvider()
	}
	// Every line logged for a request carries its id.
	log = slog.New(requestid.NewHandler(log.Handler()))
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	tokenCfg := token.Config{Secret: cfg.Tokens.Secret, Issuer: cfg.Tokens.Issuer, Audience: cfg.Tokens.Audience, AccessTTL: cfg.Tokens.AccessTTL, Now: o.now}
	publicJWKS := []byte(`{"keys":[]}`)
	if cfg.Keys.JWKSFile != "" {
		set, err := keys.Load(cfg.Keys.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Name(&cfg.Keys.JWKSFile), err)
		}
		tokenCfg.Keys = accessKeys(set)
		publicJWKS = set.PublicJWKS()
	}
	tokens, err := token.New(tokenCfg)
	if err != nil {
		return nil, err
	}
	// AUTHQL_ISSUER names the service in authenticator apps as in tokens.
	mfa, err := auth.NewMFAOptions(cfg.Tokens.Secret, cfg.Tokens.Issuer, cfg.MFA.TokenTTL)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Database.URL, store.WithClock(o.now), store.WithMaxConns(cfg.Database.MaxConns))
	if err != nil {
		return nil, err
	}
	if sc := st.Schema(); sc.Newer() {
		// A rolling deploy: a newer release migrated first. Its migrations
		// keep the schema this binary needs, so it serves.
		log.Info("database schema is newer than this binary", "version", sc.Version, "binary_newest", sc.Newest)
	}
	if err := st.NormalizeEmails(ctx, store.EmailNormalizationV1, auth.NormalizeEmail, log); err != nil {
		st.Close()
		return nil, fmt.Errorf("store: normalize stored emails: %w", err)
	}
	if err := st.Use(tracing.GORM(o.tracer)); err != nil {
		st.Close()
		return nil, fmt.Errorf("store: tracing: %w", err)
	}
	m := metrics.New(auth.Limits(cfg.Limits.Rules).RuleNames(), graph.Operations())
	for pool, db := range st.Pools() {
		m.AddDB(pool, db)
	}
	a := &App{store: st, cfg: cfg, log: log, Metrics: m, drain: new(server.Drain)}
	limiter, err := a.limiter(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	mailer, err := newMailer(cfg, st, m, log)
	if err != nil {
		a.closeBackends()
		return nil, err
	}
	mailOpts := auth.MailOptions{VerifyTTL: cfg.Mail.VerifyTTL, ResetTTL: cfg.Mail.ResetTTL, Secret: cfg.Tokens.Secret}
	if mailer != nil {
		mailOpts.Mailer = mailer
	}
	hasher := password.NewHasher(o.passwordParams, 0, cfg.Passwords.HashQueueTimeout)
	a.auth = auth.New(st, tokens, hasher, limiter, auth.Options{
		RefreshTTL: cfg.Tokens.RefreshTTL, SessionMaxAge: cfg.Tokens.SessionMaxAge, ReuseGrace: cfg.Tokens.ReuseGrace,
		MaxSessionsPerUser: cfg.Sessions.MaxPerUser, Limits: auth.Limits(cfg.Limits.Rules), MFA: mfa, Mail: mailOpts, Observer: m,
	}, log)
	a.stopMail = func() {}
	if mailer != nil {
		// The sender lives as long as the app, not as RunBackground: a
		// mutation that answered has queued a mail, and an app that serves
		// requests delivers it, whoever embeds it.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = mailer.sender.Run(ctx)
		}()
		a.stopMail = func() { cancel(); <-done }
	}
	gqlOpts := graph.Options{
		Introspection: cfg.GraphQL.Introspection, CookieMode: cfg.Cookies.Refresh, MaxBodyBytes: maxBodyBytes, ComplexityLimit: complexityLimit, Limits: graph.DefaultLimits,
		// A sessions list is costed at its cap, up to 100 items; a larger cap
		// leaves longer lists to the response size limit.
		MaxSessions: min(cfg.Sessions.MaxPerUser, graph.DefaultMaxSessions), MaxResponseBytes: maxResponseBytes, Log: log,
		Observe: m.GraphQLRequest, TracerProvider: o.tracer,
	}
	if tracing.Off(o.tracer) {
		gqlOpts.TracerProvider = nil
	}
	if cfg.Limits.Enabled {
		// A rate limit of one request: off with the others.
		gqlOpts.MaxMutationRepeats = maxMutationRepeats
	}
	gql := graph.NewHandler(a.auth, gqlOpts)
	srvOpts := server.Options{
		GraphQL: gql, Ready: st.Ping, JWKS: publicJWKS, JWKSMaxAge: cfg.Keys.JWKSMaxAge,
		Playground: cfg.GraphQL.Playground, CORSOrigins: cfg.Server.CORSOrigins,
		Trusted: cfg.Server.TrustedProxies, IPv6Prefix: cfg.Limits.IPv6Prefix, Log: log, Drain: a.drain,
	}
	if cfg.Server.MetricsAddr == "" {
		srvOpts.Metrics = m.Handler()
	}
	a.Handler = server.New(srvOpts)
	return a, nil
}

// accessKeys turns the configured key set into the token service's keys, the
// signer first.
func accessKeys(set *keys.Set) []token.Key {
	signer := set.Signer()
	out := []token.Key{{ID: signer.ID, Algorithm: signer.Algorithm, SignKey: signer.Private, VerifyKey: signer.Public()}}
	for _, k := range set.Keys() {
		if k != signer {
			out = append(out, token.Key{ID: k.ID, Algorithm: k.Algorithm, VerifyKey: k.Public()})
		}
	}
	return out
}

// limiter is in-process, or Redis-backed (with the in-process one as fallback
// while Redis is down) when AUTHQL_REDIS_URL is set; Disabled when limits are off.
func (a *App) limiter(ctx context.Context) (ratelimit.Limiter, error) {
	l := &a.cfg.Limits
	if !l.Enabled {
		return ratelimit.Disabled{}, nil
	}
	memory := ratelimit.NewMemory()
	if l.RedisURL == "" {
		return memory, nil
	}
	opts, err := redis.ParseURL(l.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("%s: not a redis:// URL", a.cfg.Name(&l.RedisURL))
	}
	// Fail fast: while Redis is down every limited operation would otherwise
	// wait out go-redis's retries before falling back.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 250*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	opts.MaxRetries, opts.DialerRetries = 1, 1
	a.redis = redis.NewClient(opts)
	if err := a.redis.Ping(ctx).Err(); err != nil {
		// Not fatal: limits hold in-process until Redis answers.
		a.log.Warn("redis unreachable at start; rate limits are per instance until it answers", "err", err)
	}
	return ratelimit.NewFallback(ratelimit.NewRedis(a.redis, l.RedisPrefix), memory, a.log), nil
}

// Drain takes the instance out of a load balancer's rotation: /readyz answers
// 503 from now on while Handler keeps serving every request (server.Drain).
// The caller stops the server once the balancer has noticed.
func (a *App) Drain() { a.drain.Begin() }

// RunBackground prunes expired sessions, expired MFA challenges and old audit
// events until ctx ends.
func (a *App) RunBackground(ctx context.Context) {
	a.auth.Prune(ctx, pruneInterval, a.cfg.Audit.Retention)
}

// Close finishes the work of requests already answered (password reset
// requests, and mail attempts in flight: mail still queued waits in the
// database for the next sender), then releases the database and Redis. Call
// it once the server has stopped taking requests.
func (a *App) Close() error {
	a.auth.Close()
	a.stopMail()
	return a.closeBackends()
}

// closeBackends releases the database and Redis.
func (a *App) closeBackends() error {
	var errs []error
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	errs = append(errs, a.store.Close())
	return errors.Join(errs...)
}
