// Package config parses authql's configuration once, from AUTHQL_* environment
// variables mirrored by command-line flags, into one validated struct.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MinSecretLen is the shortest accepted AUTHQL_JWT_SECRET: HS256 wants a key at
// least as long as its output.
const MinSecretLen = 32

// Config is everything authql reads from its environment.
type Config struct {
	Addr          string
	DatabaseURL   string
	AccessTTL     time.Duration
	RefreshTTL    time.Duration
	SessionMaxAge time.Duration
	ReuseGrace    time.Duration
	RateLimit     bool
	Production    bool
	// Secret signs HS256 access tokens (when no JWKS file is set) and always signs
	// and hashes refresh tokens.
	Secret []byte
	// SecretSource says where Secret came from, for the start-up log (never the value).
	SecretSource   string
	KeyFile        string
	JWKSFile       string
	Issuer         string
	Audience       string
	Playground     bool
	Introspection  bool
	RefreshCookie  bool
	CORSOrigins    []string
	RedisURL       string
	RedisPrefix    string
	TrustedProxies []netip.Prefix
	JWKSMaxAge     time.Duration
	LogLevel       string
	ShutdownGrace  time.Duration
	Limits         Limits
	AuditRetention time.Duration
	// Warnings are what development accepts but production would refuse, for
	// the start-up log.
	Warnings []string
	// MaxSessionsPerUser bounds a user's live sessions; not a rate limit, so
	// AUTHQL_RATE_LIMIT=off leaves it on.
	MaxSessionsPerUser int
}

// Limit is "at most N attempts per Window".
type Limit struct {
	N      int
	Window time.Duration
}

func (l Limit) String() string { return fmt.Sprintf("%d/%s", l.N, l.Window) }

// Limits are the rate limits of the abuse-sensitive operations.
type Limits struct {
	LoginAccountIP Limit // failed logins per (account, client network)
	LoginIP        Limit // failed logins per client network, across accounts
	LoginAccount   Limit // successful logins per account, from anywhere
	Signup         Limit // signups per client network
	Refresh        Limit // refreshes per client network
	Logout         Limit // logouts per client network
	ChangePassword Limit // password changes per account
	HashQueue      time.Duration
	// IPv6Prefix is the length of the IPv6 network a client is counted as: one
	// host normally owns a whole /64.
	IPv6Prefix int
}

// IPv6 network lengths accepted for AUTHQL_RATE_LIMIT_IPV6_PREFIX: shorter than
// a /32 (a whole ISP's allocation) would put unrelated clients in one budget.
const (
	minIPv6Prefix = 32
	maxIPv6Prefix = 128
)

// setting is one configuration variable: its name, default and documentation.
type setting struct {
	env, def, usage string
}

var settings = []setting{
	{"AUTHQL_ADDR", ":8080", "listen address"},
	{"AUTHQL_DATABASE_URL", "sqlite://authql.db", "sqlite://PATH or mysql://USER:PASS@HOST:PORT/DB?PARAMS"},
	{"AUTHQL_ACCESS_TOKEN_TTL", "15m", "access token lifetime"},
	{"AUTHQL_REFRESH_TOKEN_TTL", "168h", "refresh token lifetime"},
	{"AUTHQL_SESSION_MAX_AGE", "720h", "absolute session lifetime"},
	{"AUTHQL_REFRESH_REUSE_GRACE", "10s", "grace window for a rotated refresh token"},
	{"AUTHQL_RATE_LIMIT", "on", "off turns every limiter off"},
	{"AUTHQL_ENV", "development", "development or production"},
	{"AUTHQL_JWT_SECRET", "", "server secret, at least 32 bytes (required in production)"},
	{"AUTHQL_KEY_FILE", "authql.key", "where development keeps its generated secret"},
	{"AUTHQL_JWKS_FILE", "", "JSON Web Key Set of private signing keys"},
	{"AUTHQL_ISSUER", "authql", "iss of every token"},
	{"AUTHQL_AUDIENCE", "authql", "aud of access tokens"},
	{"AUTHQL_PLAYGROUND", "", "serve GraphiQL at / (default: on in development)"},
	{"AUTHQL_INTROSPECTION", "", "allow schema introspection (default: on in development)"},
	{"AUTHQL_REFRESH_COOKIE", "off", "on: refresh tokens travel as an HttpOnly cookie"},
	{"AUTHQL_CORS_ORIGINS", "", "comma-separated origins allowed to call with credentials"},
	{"AUTHQL_REDIS_URL", "", "Redis for shared rate-limit state"},
	{"AUTHQL_REDIS_PREFIX", "authql:ratelimit:", "prefix of authql's Redis keys"},
	{"AUTHQL_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed"},
	{"AUTHQL_JWKS_MAX_AGE", "5m", "Cache-Control max-age of /.well-known/jwks.json"},
	{"AUTHQL_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"AUTHQL_SHUTDOWN_GRACE", "15s", "how long SIGTERM waits for requests in flight"},
	{"AUTHQL_RATE_LIMIT_LOGIN", "10/15m", "failed logins per (account, client IP)"},
	{"AUTHQL_RATE_LIMIT_LOGIN_IP", "100/15m", "failed logins per client IP"},
	{"AUTHQL_RATE_LIMIT_LOGIN_ACCOUNT", "30/1m", "successful logins per account, from any address"},
	{"AUTHQL_RATE_LIMIT_SIGNUP", "60/1h", "signups per client IP"},
	{"AUTHQL_RATE_LIMIT_REFRESH", "600/5m", "refreshes per client IP"},
	{"AUTHQL_RATE_LIMIT_LOGOUT", "600/5m", "logouts per client IP"},
	{"AUTHQL_RATE_LIMIT_IPV6_PREFIX", "64", "IPv6 clients are limited per network of this many bits (32-128)"},
	{"AUTHQL_RATE_LIMIT_CHANGE_PASSWORD", "10/15m", "password changes per account"},
	{"AUTHQL_HASH_QUEUE_TIMEOUT", "20s", "how long a login waits for a free password hasher"},
	{"AUTHQL_AUDIT_RETENTION", "2160h", "how long audit events are kept"},
	{"AUTHQL_MAX_SESSIONS_PER_USER", "100", "live sessions per user; one more revokes the least recently used"},
}

// FlagName is the flag that mirrors an environment variable: AUTHQL_DATABASE_URL
// is --database-url.
func FlagName(env string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "AUTHQL_"), "_", "-"))
}

// Usage writes the table of settings, for --help.
func Usage(w io.Writer) {
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(w, "  --%-28s %-34s %s [default %s]\n", FlagName(s.env), s.env, s.usage, def)
	}
}

// Load reads the configuration: a flag given on the command line wins over the
// environment, which wins over the default. getenv is os.Getenv outside tests.
func Load(args []string, getenv func(string) string) (*Config, error) {
	fs := flag.NewFlagSet("authql", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := make(map[string]*string, len(settings))
	for _, s := range settings {
		flags[s.env] = fs.String(FlagName(s.env), "", s.usage)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	lookup := func(env string) string {
		if v := *flags[env]; v != "" {
			return v
		}
		if v := strings.TrimSpace(getenv(env)); v != "" {
			return v
		}
		for _, s := range settings {
			if s.env == env {
				return s.def
			}
		}
		return ""
	}
	p := parser{lookup: lookup}
	c := &Config{
		Addr:          lookup("AUTHQL_ADDR"),
		DatabaseURL:   lookup("AUTHQL_DATABASE_URL"),
		AccessTTL:     p.duration("AUTHQL_ACCESS_TOKEN_TTL"),
		RefreshTTL:    p.duration("AUTHQL_REFRESH_TOKEN_TTL"),
		SessionMaxAge: p.duration("AUTHQL_SESSION_MAX_AGE"),
		ReuseGrace:    p.duration("AUTHQL_REFRESH_REUSE_GRACE"),
		RateLimit:     p.boolean("AUTHQL_RATE_LIMIT", true),
		KeyFile:       lookup("AUTHQL_KEY_FILE"),
		JWKSFile:      lookup("AUTHQL_JWKS_FILE"),
		Issuer:        lookup("AUTHQL_ISSUER"),
		Audience:      lookup("AUTHQL_AUDIENCE"),
		RefreshCookie: p.boolean("AUTHQL_REFRESH_COOKIE", false),
		CORSOrigins:   p.list("AUTHQL_CORS_ORIGINS"),
		RedisURL:      lookup("AUTHQL_REDIS_URL"),
		RedisPrefix:   lookup("AUTHQL_REDIS_PREFIX"),
		JWKSMaxAge:    p.duration("AUTHQL_JWKS_MAX_AGE"),
		LogLevel:      lookup("AUTHQL_LOG_LEVEL"),
		ShutdownGrace: p.duration("AUTHQL_SHUTDOWN_GRACE"),
		Limits: Limits{
			LoginAccountIP: p.limit("AUTHQL_RATE_LIMIT_LOGIN"),
			LoginIP:        p.limit("AUTHQL_RATE_LIMIT_LOGIN_IP"),
			LoginAccount:   p.limit("AUTHQL_RATE_LIMIT_LOGIN_ACCOUNT"),
			Signup:         p.limit("AUTHQL_RATE_LIMIT_SIGNUP"),
			Refresh:        p.limit("AUTHQL_RATE_LIMIT_REFRESH"),
			Logout:         p.limit("AUTHQL_RATE_LIMIT_LOGOUT"),
			ChangePassword: p.limit("AUTHQL_RATE_LIMIT_CHANGE_PASSWORD"),
			HashQueue:      p.duration("AUTHQL_HASH_QUEUE_TIMEOUT"),
			IPv6Prefix:     p.integer("AUTHQL_RATE_LIMIT_IPV6_PREFIX", minIPv6Prefix, maxIPv6Prefix),
		},
		AuditRetention: p.duration("AUTHQL_AUDIT_RETENTION"),
	}
	switch env := strings.ToLower(lookup("AUTHQL_ENV")); env {
	case "development", "dev":
	case "production", "prod":
		c.Production = true
	default:
		p.fail("AUTHQL_ENV", fmt.Errorf("must be development or production, not %q", env))
	}
	c.Playground = p.boolean("AUTHQL_PLAYGROUND", !c.Production)
	c.Introspection = p.boolean("AUTHQL_INTROSPECTION", !c.Production)
	for _, cidr := range p.list("AUTHQL_TRUSTED_PROXIES") {
		prefix, err := parsePrefix(cidr)
		if err != nil {
			p.fail("AUTHQL_TRUSTED_PROXIES", err)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			p.fail("AUTHQL_CORS_ORIGINS", errors.New(`"*" cannot be used with credentials: list each origin`))
		}
	}
	p.positive("AUTHQL_ACCESS_TOKEN_TTL", c.AccessTTL)
	p.positive("AUTHQL_REFRESH_TOKEN_TTL", c.RefreshTTL)
	p.positive("AUTHQL_SESSION_MAX_AGE", c.SessionMaxAge)
	p.positive("AUTHQL_AUDIT_RETENTION", c.AuditRetention)
	p.positive("AUTHQL_HASH_QUEUE_TIMEOUT", c.Limits.HashQueue)
	p.positive("AUTHQL_SHUTDOWN_GRACE", c.ShutdownGrace)
	if n, err := strconv.Atoi(lookup("AUTHQL_MAX_SESSIONS_PER_USER")); err != nil || n < 1 {
		p.fail("AUTHQL_MAX_SESSIONS_PER_USER", fmt.Errorf("must be a positive integer, not %q", lookup("AUTHQL_MAX_SESSIONS_PER_USER")))
	} else {
		c.MaxSessionsPerUser = n
	}
	if c.JWKSMaxAge < 0 {
		p.fail("AUTHQL_JWKS_MAX_AGE", errors.New("must not be negative"))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		p.fail("AUTHQL_LOG_LEVEL", fmt.Errorf("must be debug, info, warn or error, not %q", c.LogLevel))
	}
	if c.ReuseGrace < 0 {
		p.fail("AUTHQL_REFRESH_REUSE_GRACE", errors.New("must not be negative"))
	}
	if c.Issuer == "" || c.Audience == "" {
		p.fail("AUTHQL_ISSUER", errors.New("issuer and audience must not be empty"))
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite://") && !strings.HasPrefix(c.DatabaseURL, "mysql://") {
		p.fail("AUTHQL_DATABASE_URL", errors.New("must start with sqlite:// or mysql://"))
	}
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	if err := c.resolveSecret(getenv("AUTHQL_JWT_SECRET"), *flags["AUTHQL_JWT_SECRET"]); err != nil {
		return nil, err
	}
	return c, nil
}

// resolveSecret takes the configured secret or, in development only, the one
// kept in KeyFile (made on first start) so that restarts keep sessions alive.
func (c *Config) resolveSecret(fromEnv, fromFlag string) error {
	// Trimmed: a secret read from a file usually ends in a newline.
	secret, source := strings.TrimSpace(fromFlag), "--jwt-secret"
	if secret == "" {
		secret, source = strings.TrimSpace(fromEnv), "AUTHQL_JWT_SECRET"
	}
	if secret != "" {
		if len(secret) < MinSecretLen {
			return fmt.Errorf("AUTHQL_JWT_SECRET: must be at least %d bytes, got %d", MinSecretLen, len(secret))
		}
		if why := secretWeakness([]byte(secret)); why != "" {
			msg := fmt.Sprintf("AUTHQL_JWT_SECRET looks weak: it %s; use at least 32 random bytes, e.g. `openssl rand -base64 48`", why)
			if c.Production {
				return errors.New(msg)
			}
			c.Warnings = append(c.Warnings, msg+" (refused in production)")
		}
		c.Secret, c.SecretSource = []byte(secret), source
		return nil
	}
	if c.Production {
		return errors.New("AUTHQL_JWT_SECRET is required in production (at least 32 random bytes, e.g. `openssl rand -base64 48`): " +
			"it signs and hashes refresh tokens, and access tokens unless AUTHQL_JWKS_FILE is set")
	}
	key, err := loadOrCreateKeyFile(c.KeyFile)
	if err != nil {
		return fmt.Errorf("AUTHQL_KEY_FILE: %w", err)
	}
	c.Secret, c.SecretSource = key, "key file "+c.KeyFile
	return nil
}

// secretWeakness says how a secret of sufficient length still falls short of
// random bytes, or "" when it does not. It catches what people type when asked
// for 32 bytes (one key held down, a word repeated or padded out, a short
// pattern), not every weak secret: no test on one value can tell random from
// merely random-looking.
func secretWeakness(secret []byte) string {
	var seen [256]bool
	distinct := 0
	for _, b := range secret {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	if distinct == 1 {
		return "is one character repeated"
	}
	for p := 2; p <= len(secret)/2; p++ {
		if periodic(secret, p) {
			return fmt.Sprintf("repeats a pattern of %d characters", p)
		}
	}
	if distinct < minSecretDistinct {
		return fmt.Sprintf("uses only %d different characters", distinct)
	}
	// Random bytes (hex and base64 text included) almost never repeat a
	// trigram at these lengths; text padded or repeated out to length does.
	trigrams := map[[3]byte]bool{}
	for i := 0; i+3 <= len(secret); i++ {
		trigrams[[3]byte(secret[i:i+3])] = true
	}
	if n := len(secret) - 2; 4*len(trigrams) < 3*n {
		return "is mostly repetition, like short text padded or repeated out to length"
	}
	return ""
}

// minSecretDistinct is the fewest different bytes a secret may use: hex text,
// the narrowest common encoding of random bytes, has 16.
const minSecretDistinct = 8

// periodic reports whether s repeats its first p bytes throughout.
func periodic(s []byte, p int) bool {
	for i := p; i < len(s); i++ {
		if s[i] != s[i-p] {
			return false
		}
	}
	return true
}

func loadOrCreateKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) < MinSecretLen {
			return nil, fmt.Errorf("%s does not hold a base64 key of at least %d bytes (delete it to make a new one)", path, MinSecretLen)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 48)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Written whole to a temporary file, then linked into place: the key file
	// appears complete or not at all, and when two processes start at once the
	// link fails for the second, which then reads the first one's key.
	tmp, err := os.CreateTemp(dir, ".authql-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return loadOrCreateKeyFile(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

type parser struct {
	lookup func(string) string
	errs   []error
}

func (p *parser) fail(env string, err error) {
	p.errs = append(p.errs, fmt.Errorf("%s: %w", env, err))
}

func (p *parser) duration(env string) time.Duration {
	d, err := time.ParseDuration(p.lookup(env))
	if err != nil {
		p.fail(env, fmt.Errorf("not a Go duration (e.g. 15m, 168h): %q", p.lookup(env)))
	}
	return d
}

func (p *parser) positive(env string, d time.Duration) {
	if d <= 0 {
		p.fail(env, errors.New("must be positive"))
	}
}

func (p *parser) boolean(env string, def bool) bool {
	switch v := strings.ToLower(p.lookup(env)); v {
	case "":
		return def
	case "on", "true", "1", "yes":
		return true
	case "off", "false", "0", "no":
		return false
	default:
		p.fail(env, fmt.Errorf("must be on or off, not %q", v))
		return def
	}
}

func (p *parser) list(env string) []string {
	var out []string
	for _, item := range strings.Split(p.lookup(env), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// integer parses a whole number within [lo, hi].
func (p *parser) integer(env string, lo, hi int) int {
	n, err := strconv.Atoi(p.lookup(env))
	if err != nil || n < lo || n > hi {
		p.fail(env, fmt.Errorf("must be a whole number from %d to %d, not %q", lo, hi, p.lookup(env)))
	}
	return n
}

// limit parses "N/duration", e.g. "10/15m".
func (p *parser) limit(env string) Limit {
	n, window, ok := strings.Cut(p.lookup(env), "/")
	count, err := strconv.Atoi(n)
	d, err2 := time.ParseDuration(window)
	if !ok || err != nil || err2 != nil || count < 1 || d <= 0 {
		p.fail(env, fmt.Errorf("must be COUNT/DURATION such as 10/15m, not %q", p.lookup(env)))
	}
	return Limit{N: count, Window: d}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	prefix, err := netip.ParsePrefix(s)
	return prefix.Masked(), err
}
