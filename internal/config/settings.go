package config

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/authql/authql/internal/ratelimit"
)

// setting binds one environment variable (and its flag) to the field of
// Config it fills: the only place a setting is named.
type setting struct {
	env, def, usage string
	binding
}

// binding is a field of Config and how a value is stored in it.
type binding struct {
	field any // a pointer into Config: what validate methods report against
	// parse stores v; from says where v came from ("--flag", the variable's
	// name, or "" for the default).
	parse func(v, from string) error
}

// settings is the table of every setting of c. AUTHQL_ENV comes first: the
// defaults of the playground and introspection depend on it.
func (c *Config) settings() []setting {
	s, t, l := &c.Server, &c.Tokens, &c.Limits
	return []setting{
		{"AUTHQL_ENV", "development", "development or production", environment(&c.Production)},
		{"AUTHQL_ADDR", ":8080", "listen address", text(&s.Addr)},
		{"AUTHQL_METRICS_ADDR", "", "listen address of GET /metrics (default: served on AUTHQL_ADDR)", text(&s.MetricsAddr)},
		{"AUTHQL_DATABASE_URL", "sqlite://authql.db", "sqlite://PATH or mysql://USER:PASS@HOST:PORT/DB?PARAMS", text(&c.Database.URL)},
		{"AUTHQL_DB_MAX_CONNS", "16", "MySQL connections per instance (max_connections must cover every instance's)", count(&c.Database.MaxConns)},
		{"AUTHQL_ACCESS_TOKEN_TTL", "15m", "access token lifetime", duration(&t.AccessTTL)},
		{"AUTHQL_REFRESH_TOKEN_TTL", "168h", "refresh token lifetime", duration(&t.RefreshTTL)},
		{"AUTHQL_SESSION_MAX_AGE", "720h", "absolute session lifetime", duration(&t.SessionMaxAge)},
		{"AUTHQL_REFRESH_REUSE_GRACE", "10s", "grace window for a rotated refresh token (0s: none)", duration(&t.ReuseGrace)},
		{"AUTHQL_RATE_LIMIT", "on", "off turns every limiter off", toggle(&l.Enabled, nil)},
		{"AUTHQL_JWT_SECRET", "", "server secret, at least 32 bytes (required in production)", secret(t)},
		{"AUTHQL_KEY_FILE", "authql.key", "where development keeps its generated secret", text(&t.KeyFile)},
		{"AUTHQL_JWKS_FILE", "", "JSON Web Key Set of private signing keys", text(&c.Keys.JWKSFile)},
		{"AUTHQL_ISSUER", "authql", "iss of every token", text(&t.Issuer)},
		{"AUTHQL_AUDIENCE", "authql", "aud of access tokens", text(&t.Audience)},
		{"AUTHQL_PLAYGROUND", "", "serve GraphiQL at / (default: on in development)", toggle(&c.GraphQL.Playground, &c.Production)},
		{"AUTHQL_INTROSPECTION", "", "allow schema introspection (default: on in development)", toggle(&c.GraphQL.Introspection, &c.Production)},
		{"AUTHQL_REFRESH_COOKIE", "off", "on: refresh tokens travel as an HttpOnly cookie", toggle(&c.Cookies.Refresh, nil)},
		{"AUTHQL_CORS_ORIGINS", "", "comma-separated origins allowed to call with credentials", list(&s.CORSOrigins)},
		{"AUTHQL_REDIS_URL", "", "Redis for shared rate-limit state", text(&l.RedisURL)},
		{"AUTHQL_REDIS_PREFIX", "authql:ratelimit:", "prefix of authql's Redis keys", text(&l.RedisPrefix)},
		{"AUTHQL_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed", prefixes(&s.TrustedProxies)},
		{"AUTHQL_JWKS_MAX_AGE", "5m", "Cache-Control max-age of /.well-known/jwks.json", duration(&c.Keys.JWKSMaxAge)},
		{"AUTHQL_LOG_LEVEL", "info", "debug, info, warn or error", text(&c.Log.Level)},
		// 5s in production: the example HAProxy checks /readyz every second and
		// drops a server after 2 failures (≤ 3s), and Kubernetes takes a few
		// seconds to remove a terminating pod's endpoint. No balancer in
		// development: Ctrl-C stops at once.
		{"AUTHQL_SHUTDOWN_DELAY", "", "how long SIGTERM keeps serving with /readyz at 503 before it stops accepting (default: 5s in production, 0 in development)", durationByEnv(&s.ShutdownDelay, &c.Production, 5*time.Second, 0)},
		{"AUTHQL_SHUTDOWN_GRACE", "15s", "how long SIGTERM waits for requests in flight", duration(&s.ShutdownGrace)},
		// Rule names namespace the limiters' keys, in Redis too: renaming one
		// resets its counts.
		{"AUTHQL_RATE_LIMIT_LOGIN", "10/15m", "failed logins per (account, client IP)", rule(&l.Rules.LoginAccountIP, "login-account-ip")},
		{"AUTHQL_RATE_LIMIT_LOGIN_IP", "100/15m", "failed logins per client IP", rule(&l.Rules.LoginIP, "login-ip")},
		{"AUTHQL_RATE_LIMIT_LOGIN_ACCOUNT", "30/1m", "successful logins per account, from any address", rule(&l.Rules.LoginAccount, "login-account")},
		{"AUTHQL_RATE_LIMIT_SIGNUP", "60/1h", "signups per client IP", rule(&l.Rules.Signup, "signup-ip")},
		{"AUTHQL_RATE_LIMIT_REFRESH", "600/5m", "refreshes per client IP", rule(&l.Rules.Refresh, "refresh-ip")},
		{"AUTHQL_RATE_LIMIT_LOGOUT", "600/5m", "logouts per client IP", rule(&l.Rules.Logout, "logout-ip")},
		{"AUTHQL_RATE_LIMIT_IPV6_PREFIX", "64", "IPv6 clients are limited per network of this many bits (32-128)", wholeNumber(&l.IPv6Prefix, minIPv6Prefix, maxIPv6Prefix)},
		{"AUTHQL_RATE_LIMIT_CHANGE_PASSWORD", "10/15m", "password changes per account", rule(&l.Rules.ChangePassword, "change-password-account")},
		{"AUTHQL_HASH_QUEUE_TIMEOUT", "20s", "how long a login waits for a free password hasher", duration(&c.Passwords.HashQueueTimeout)},
		{"AUTHQL_AUDIT_RETENTION", "2160h", "how long audit events are kept", duration(&c.Audit.Retention)},
		{"AUTHQL_MAX_SESSIONS_PER_USER", "100", "live sessions per user; one more revokes the least recently used", count(&c.Sessions.MaxPerUser)},
		{"AUTHQL_MAIL", "on", "off disables verification and reset mail", toggle(&c.Mail.Enabled, nil)},
		{"AUTHQL_SMTP_URL", "", "smtp://USER:PASS@HOST:PORT (STARTTLS when offered) or smtps:// (implicit TLS); unset in development: mail is logged", text(&c.Mail.SMTPURL)},
		{"AUTHQL_MAIL_FROM", "authql <no-reply@localhost>", "the From of account mail", text(&c.Mail.From)},
		{"AUTHQL_APP_URL", "http://localhost:8080", "base URL of the app that mail links open", text(&c.Mail.AppURL)},
		{"AUTHQL_EMAIL_VERIFY_TTL", "24h", "lifetime of an email verification token", duration(&c.Mail.VerifyTTL)},
		{"AUTHQL_PASSWORD_RESET_TTL", "1h", "lifetime of a password reset token", duration(&c.Mail.ResetTTL)},
		{"AUTHQL_MFA_TOKEN_TTL", "5m", "how long a login's mfaToken waits for its second factor", duration(&c.MFA.TokenTTL)},
		{"AUTHQL_RATE_LIMIT_PASSWORD_RESET", "5/1h", "password reset requests per address", rule(&l.Rules.PasswordReset, "password-reset-address")},
		{"AUTHQL_RATE_LIMIT_PASSWORD_RESET_IP", "30/1h", "password reset requests per client IP", rule(&l.Rules.ResetIP, "password-reset-ip")},
		{"AUTHQL_RATE_LIMIT_VERIFY_EMAIL", "5/1h", "verification mails asked for per account", rule(&l.Rules.VerifyEmail, "verify-email-account")},
		{"AUTHQL_RATE_LIMIT_MFA", "10/15m", "wrong second-factor codes per account", rule(&l.Rules.MFA, "mfa-account")},
	}
}

// FlagName is the flag that mirrors an environment variable: AUTHQL_DATABASE_URL
// is --database-url.
func FlagName(env string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "AUTHQL_"), "_", "-"))
}

// Usage writes the table of settings, for --help.
func Usage(w io.Writer) {
	for _, s := range new(Config).settings() {
		def := s.def
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(w, "  --%-28s %-34s %s [default %s]\n", FlagName(s.env), s.env, s.usage, def)
	}
}

// Name is the environment variable that sets field, a pointer into c, for
// messages that tell an operator what to change.
func (c *Config) Name(field any) string {
	for _, s := range c.settings() {
		if s.field == field {
			return s.env
		}
	}
	panic(fmt.Sprintf("config: %T is no setting's field", field))
}

func text(p *string) binding {
	return binding{p, func(v, _ string) error { *p = v; return nil }}
}

func duration(p *time.Duration) binding {
	return binding{p, func(v, _ string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a Go duration (e.g. 15m, 168h): %q", v)
		}
		*p = d
		return nil
	}}
}

// durationByEnv parses a duration; an empty value (a setting without a
// default) is prod in production, dev otherwise.
func durationByEnv(p *time.Duration, production *bool, prod, dev time.Duration) binding {
	parse := duration(p).parse
	return binding{p, func(v, from string) error {
		if v == "" {
			*p = dev
			if *production {
				*p = prod
			}
			return nil
		}
		return parse(v, from)
	}}
}

// toggle parses on/off. An empty value (a setting without a default) is on
// in development when production is given, off otherwise.
func toggle(p *bool, production *bool) binding {
	return binding{p, func(v, _ string) error {
		switch v = strings.ToLower(v); v {
		case "":
			*p = production != nil && !*production
		case "on", "true", "1", "yes":
			*p = true
		case "off", "false", "0", "no":
			*p = false
		default:
			return fmt.Errorf("must be on or off, not %q", v)
		}
		return nil
	}}
}

func environment(production *bool) binding {
	return binding{production, func(v, _ string) error {
		switch v = strings.ToLower(v); v {
		case "development", "dev":
			*production = false
		case "production", "prod":
			*production = true
		default:
			return fmt.Errorf("must be development or production, not %q", v)
		}
		return nil
	}}
}

// secret keeps the configured secret and where it came from; Tokens.validate
// decides whether it will do.
func secret(t *Tokens) binding {
	return binding{&t.Secret, func(v, from string) error {
		t.Secret, t.SecretSource = []byte(v), from
		return nil
	}}
}

// list splits on commas, dropping empty items.
func list(p *[]string) binding {
	return binding{p, func(v, _ string) error {
		*p = splitList(v)
		return nil
	}}
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// prefixes parses a list of CIDRs or bare addresses, host bits masked.
func prefixes(p *[]netip.Prefix) binding {
	return binding{p, func(v, _ string) error {
		var errs []error
		for _, item := range splitList(v) {
			prefix, err := parsePrefix(item)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			*p = append(*p, prefix)
		}
		return errors.Join(errs...)
	}}
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

// wholeNumber parses an integer within [lo, hi].
func wholeNumber(p *int, lo, hi int) binding {
	return binding{p, func(v, _ string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a whole number from %d to %d, not %q", lo, hi, v)
		}
		*p = n
		return nil
	}}
}

func count(p *int) binding {
	return binding{p, func(v, _ string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("must be a positive integer, not %q", v)
		}
		*p = n
		return nil
	}}
}

// rule parses "COUNT/DURATION", e.g. "10/15m", into the limiter's rule name.
func rule(p *ratelimit.Rule, name string) binding {
	return binding{p, func(v, _ string) error {
		n, window, ok := strings.Cut(v, "/")
		limit, err := strconv.Atoi(n)
		d, err2 := time.ParseDuration(window)
		if !ok || err != nil || err2 != nil || limit < 1 || d <= 0 {
			return fmt.Errorf("must be COUNT/DURATION such as 10/15m, not %q", v)
		}
		*p = ratelimit.Rule{Name: name, Limit: limit, Window: d}
		return nil
	}}
}
