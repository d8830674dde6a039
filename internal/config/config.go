// Package config parses authql's configuration once, from AUTHQL_* environment
// variables mirrored by command-line flags, into one validated struct with a
// part per concern. The table in settings.go names every setting; the parts'
// validate methods hold the rules and report against fields, not names.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/authql/authql/internal/ratelimit"
)

// MinSecretLen is the shortest accepted AUTHQL_JWT_SECRET: HS256 wants a key at
// least as long as its output.
const MinSecretLen = 32

// Config is everything authql reads from its environment.
type Config struct {
	Production bool
	Server     Server
	Database   Database
	Tokens     Tokens
	Keys       Keys
	Cookies    Cookies
	GraphQL    GraphQL
	Limits     Limits
	Passwords  Passwords
	Sessions   Sessions
	Mail       Mail
	MFA        MFA
	Audit      Audit
	Log        Log
	// Warnings are what development accepts but production would refuse, for
	// the start-up log.
	Warnings []string
}

// Server is the HTTP listener and what it believes of its peers.
type Server struct {
	Addr string
	// MetricsAddr, when set, serves /metrics on a listener of its own.
	MetricsAddr string
	// ShutdownDelay is how long SIGTERM keeps serving with /readyz at 503
	// before the listener closes, for a load balancer to notice.
	ShutdownDelay  time.Duration
	ShutdownGrace  time.Duration
	TrustedProxies []netip.Prefix
	CORSOrigins    []string
}

// Database is where users, sessions and the audit trail live.
type Database struct {
	URL string
	// MaxConns bounds the MySQL connection pool of one instance.
	MaxConns int
}

// Tokens are the lifetimes, claims and secret of access and refresh tokens.
type Tokens struct {
	AccessTTL     time.Duration
	RefreshTTL    time.Duration
	SessionMaxAge time.Duration
	ReuseGrace    time.Duration
	Issuer        string
	Audience      string
	// Secret signs HS256 access tokens (when no JWKS file is set) and always signs
	// and hashes refresh tokens.
	Secret []byte
	// SecretSource says where Secret came from, for the start-up log (never the value).
	SecretSource string
	// KeyFile keeps development's generated secret when none is configured.
	KeyFile string
}

// Keys are the asymmetric signing keys and how long clients cache their public half.
type Keys struct {
	JWKSFile   string
	JWKSMaxAge time.Duration
}

// Cookies says whether refresh tokens travel in an HttpOnly cookie.
type Cookies struct {
	Refresh bool
}

// GraphQL is what the endpoint shows of itself.
type GraphQL struct {
	Playground    bool
	Introspection bool
}

// Limits are the rate limits of the abuse-sensitive operations and where
// their counts are kept.
type Limits struct {
	Enabled     bool
	RedisURL    string
	RedisPrefix string
	// IPv6Prefix is the length of the IPv6 network a client is counted as: one
	// host normally owns a whole /64.
	IPv6Prefix int
	Rules      Rules
}

// Rules are the limiter rules of the operations; the auth service takes them
// as its Limits.
type Rules struct {
	LoginAccountIP ratelimit.Rule // failed logins per (account, client network)
	LoginIP        ratelimit.Rule // failed logins per client network, across accounts
	LoginAccount   ratelimit.Rule // successful logins per account, from anywhere
	Signup         ratelimit.Rule // signups per client network
	Refresh        ratelimit.Rule // refreshes per client network
	Logout         ratelimit.Rule // logouts per client network
	ChangePassword ratelimit.Rule // password changes per account
	PasswordReset  ratelimit.Rule // reset requests per address, known or not
	ResetIP        ratelimit.Rule // reset requests per client network
	VerifyEmail    ratelimit.Rule // verification mails asked for per account
	MFA            ratelimit.Rule // wrong second-factor codes per account
}

// Passwords bound the wait for the password hasher.
type Passwords struct {
	HashQueueTimeout time.Duration
}

// Sessions bound a user's live sessions; not a rate limit, so
// AUTHQL_RATE_LIMIT=off leaves the bound on.
type Sessions struct {
	MaxPerUser int
}

// Mail is the account mail (verification and reset links) and how it is sent.
type Mail struct {
	// Enabled is AUTHQL_MAIL: off disables verification and reset mail.
	Enabled bool
	// SMTPURL is where mail goes; without it development logs each mail.
	SMTPURL string
	From    string
	// AppURL is the single-page app the links open.
	AppURL    string
	VerifyTTL time.Duration
	ResetTTL  time.Duration
}

// MFA is the second login step.
type MFA struct {
	// TokenTTL is how long a login's mfaToken waits for its code.
	TokenTTL time.Duration
}

// Audit says how long the audit trail is kept.
type Audit struct {
	Retention time.Duration
}

// Log is the level of the service's log.
type Log struct {
	Level string
}

// IPv6 network lengths accepted for AUTHQL_RATE_LIMIT_IPV6_PREFIX: shorter than
// a /32 (a whole ISP's allocation) would put unrelated clients in one budget.
const (
	minIPv6Prefix = 32
	maxIPv6Prefix = 128
)

// Load reads the configuration: a flag given on the command line wins over the
// environment, which wins over the default. getenv is os.Getenv outside tests.
// Every bad setting is reported at once.
func Load(args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	settings := c.settings()
	fs := flag.NewFlagSet("authql", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := make([]*string, len(settings))
	for i, s := range settings {
		flags[i] = fs.String(FlagName(s.env), "", s.usage)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	p := &problems{c: c, failed: map[any]bool{}}
	for i, s := range settings {
		// Trimmed: a value read from a file usually ends in a newline.
		v, from := strings.TrimSpace(*flags[i]), "--"+FlagName(s.env)
		if v == "" {
			v, from = strings.TrimSpace(getenv(s.env)), s.env
		}
		if v == "" {
			v, from = s.def, ""
		}
		p.check(s.field, s.parse(v, from))
	}
	c.Server.validate(p)
	c.Database.validate(p)
	c.Tokens.validate(p)
	c.Keys.validate(p)
	c.Passwords.validate(p)
	c.Mail.validate(p, c.Production)
	c.MFA.validate(p)
	c.Audit.validate(p)
	c.Log.validate(p)
	if err := errors.Join(p.errs...); err != nil {
		if c.Production {
			// Say everything production lacks at once; only development's
			// key file must wait for an otherwise valid configuration.
			if serr := c.resolveSecret(); serr != nil {
				err = errors.Join(serr, err)
			}
		}
		return nil, err
	}
	// Last, and only for an otherwise valid configuration: it may write the
	// development key file.
	if err := c.resolveSecret(); err != nil {
		return nil, err
	}
	return c, nil
}

// problems collects what is wrong, each under the name of its setting.
type problems struct {
	c      *Config
	errs   []error
	failed map[any]bool
}

// check records err against field, once per field: a value that did not
// parse is not also reported as out of range.
func (p *problems) check(field any, err error) {
	if err == nil || p.failed[field] {
		return
	}
	p.failed[field] = true
	p.errs = append(p.errs, fmt.Errorf("%s: %w", p.c.Name(field), err))
}

func (p *problems) positive(d *time.Duration) {
	if *d <= 0 {
		p.check(d, errors.New("must be positive"))
	}
}

func (p *problems) notNegative(d *time.Duration) {
	if *d < 0 {
		p.check(d, errors.New("must not be negative"))
	}
}

func (s *Server) validate(p *problems) {
	p.positive(&s.ShutdownGrace)
	p.notNegative(&s.ShutdownDelay)
	for _, o := range s.CORSOrigins {
		if o == "*" {
			p.check(&s.CORSOrigins, errors.New(`"*" cannot be used with credentials: list each origin`))
		}
	}
}

func (d *Database) validate(p *problems) {
	if !strings.HasPrefix(d.URL, "sqlite://") && !strings.HasPrefix(d.URL, "mysql://") {
		p.check(&d.URL, errors.New("must start with sqlite:// or mysql://"))
	}
}

func (t *Tokens) validate(p *problems) {
	p.positive(&t.AccessTTL)
	p.positive(&t.RefreshTTL)
	p.positive(&t.SessionMaxAge)
	p.notNegative(&t.ReuseGrace)
	if t.Issuer == "" || t.Audience == "" {
		p.check(&t.Issuer, errors.New("issuer and audience must not be empty"))
	}
	if len(t.Secret) > 0 && len(t.Secret) < MinSecretLen {
		p.check(&t.Secret, fmt.Errorf("must be at least %d bytes, got %d", MinSecretLen, len(t.Secret)))
	}
}

func (k *Keys) validate(p *problems) { p.notNegative(&k.JWKSMaxAge) }

func (pw *Passwords) validate(p *problems) { p.positive(&pw.HashQueueTimeout) }

func (a *Audit) validate(p *problems) { p.positive(&a.Retention) }

func (m *Mail) validate(p *problems, production bool) {
	p.positive(&m.VerifyTTL)
	p.positive(&m.ResetTTL)
	if u, err := url.Parse(m.AppURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.check(&m.AppURL, errors.New("must be an http:// or https:// URL"))
	}
	if m.SMTPURL != "" {
		if u, err := url.Parse(m.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			// Never quote the value: it may hold the SMTP password.
			p.check(&m.SMTPURL, errors.New("must be smtp://USER:PASS@HOST:PORT or smtps://USER:PASS@HOST:PORT"))
		}
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		p.check(&m.From, fmt.Errorf("must be an address such as %q", "authql <no-reply@example.com>"))
	}
	if production && m.Enabled && m.SMTPURL == "" {
		p.check(&m.SMTPURL, errors.New("is required in production while mail is on (set AUTHQL_MAIL=off to run without verification and reset mail)"))
	}
}

func (m *MFA) validate(p *problems) { p.positive(&m.TokenTTL) }

func (l *Log) validate(p *problems) {
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "error":
	default:
		p.check(&l.Level, fmt.Errorf("must be debug, info, warn or error, not %q", l.Level))
	}
}

// resolveSecret vets the configured secret or, in development only, takes the
// one kept in the key file (made on first start) so that restarts keep
// sessions alive.
func (c *Config) resolveSecret() error {
	t := &c.Tokens
	name := c.Name(&t.Secret)
	if len(t.Secret) > 0 {
		if why := secretWeakness(t.Secret); why != "" {
			msg := fmt.Sprintf("%s looks weak: it %s; use at least 32 random bytes, e.g. `openssl rand -base64 48`", name, why)
			if c.Production {
				return errors.New(msg)
			}
			c.Warnings = append(c.Warnings, msg+" (refused in production)")
		}
		return nil
	}
	if c.Production {
		return fmt.Errorf("%s is required in production (at least 32 random bytes, e.g. `openssl rand -base64 48`): "+
			"it signs and hashes refresh tokens, and access tokens unless %s is set", name, c.Name(&c.Keys.JWKSFile))
	}
	key, err := loadOrCreateKeyFile(t.KeyFile)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name(&t.KeyFile), err)
	}
	t.Secret, t.SecretSource = key, "key file "+t.KeyFile
	return nil
}
