package config_test

import (
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/ratelimit"
)

// goodSecret is 32 random bytes' worth of base64 text, the shortest accepted.
const goodSecret = "Rj6zsQxU+QdS/SlIYDOMU7wCnyu/+Qb3"

// testSMTP is the SMTP server every test environment names unless it names
// its own: production refuses to start with mail on and none (TestMail).
const testSMTP = "smtp://127.0.0.1:2525"

// env returns a getenv over a fixed map, so no test reads the real environment.
func env(kv map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := kv[k]; ok || k != "AUTHQL_SMTP_URL" {
			return v
		}
		return testSMTP
	}
}

// withSecret is a valid base environment plus overrides: a secret is set so
// that no key file is involved unless a test asks for one.
func withSecret(kv map[string]string) map[string]string {
	m := map[string]string{"AUTHQL_JWT_SECRET": goodSecret}
	for k, v := range kv {
		m[k] = v
	}
	return m
}

// TestDefaults checks every default of the contract's configuration table with
// an empty environment, run in an empty directory so that the development key
// file lands there.
func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c, err := config.Load(nil, env(nil))
	if err != nil {
		t.Fatalf("Load with an empty environment: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"AUTHQL_ADDR", c.Server.Addr, ":8080"},
		{"AUTHQL_DATABASE_URL", c.Database.URL, "sqlite://authql.db"},
		{"AUTHQL_ACCESS_TOKEN_TTL", c.Tokens.AccessTTL, 15 * time.Minute},
		{"AUTHQL_REFRESH_TOKEN_TTL", c.Tokens.RefreshTTL, 168 * time.Hour},
		{"AUTHQL_SESSION_MAX_AGE", c.Tokens.SessionMaxAge, 720 * time.Hour},
		{"AUTHQL_REFRESH_REUSE_GRACE", c.Tokens.ReuseGrace, 10 * time.Second},
		{"AUTHQL_RATE_LIMIT", c.Limits.Enabled, true},
		{"AUTHQL_ENV is development", c.Production, false},
		{"AUTHQL_KEY_FILE", c.Tokens.KeyFile, "authql.key"},
		{"AUTHQL_JWKS_FILE", c.Keys.JWKSFile, ""},
		{"AUTHQL_ISSUER", c.Tokens.Issuer, "authql"},
		{"AUTHQL_AUDIENCE", c.Tokens.Audience, "authql"},
		{"AUTHQL_PLAYGROUND on in development", c.GraphQL.Playground, true},
		{"introspection on in development", c.GraphQL.Introspection, true},
		{"AUTHQL_REFRESH_COOKIE", c.Cookies.Refresh, false},
		{"AUTHQL_CORS_ORIGINS", len(c.Server.CORSOrigins), 0},
		{"AUTHQL_REDIS_URL", c.Limits.RedisURL, ""},
		{"no trusted proxies", len(c.Server.TrustedProxies), 0},
		{"login limit: 10 failures per (account, IP) in 15 minutes", c.Limits.Rules.LoginAccountIP, ratelimit.Rule{Name: "login-account-ip", Limit: 10, Window: 15 * time.Minute}},
		{"a wider per-IP login budget", c.Limits.Rules.LoginIP.Limit > c.Limits.Rules.LoginAccountIP.Limit, true},
		{"signup limit set", c.Limits.Rules.Signup.Limit > 0 && c.Limits.Rules.Signup.Window > 0, true},
		{"refresh limit set", c.Limits.Rules.Refresh.Limit > 0 && c.Limits.Rules.Refresh.Window > 0, true},
		{"change-password limit set", c.Limits.Rules.ChangePassword.Limit > 0 && c.Limits.Rules.ChangePassword.Window > 0, true},
		{"AUTHQL_RATE_LIMIT_LOGIN_ACCOUNT: 30 successful logins per account a minute", c.Limits.Rules.LoginAccount, ratelimit.Rule{Name: "login-account", Limit: 30, Window: time.Minute}},
		{"AUTHQL_RATE_LIMIT_LOGOUT", c.Limits.Rules.Logout, ratelimit.Rule{Name: "logout-ip", Limit: 600, Window: 5 * time.Minute}},
		{"AUTHQL_RATE_LIMIT_IPV6_PREFIX", c.Limits.IPv6Prefix, 64},
		{"hash queue timeout positive", c.Passwords.HashQueueTimeout > 0, true},
		{"AUTHQL_MAX_SESSIONS_PER_USER", c.Sessions.MaxPerUser, 100},
		{"a secret of at least 32 bytes", len(c.Tokens.Secret) >= config.MinSecretLen, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v; want %v", tc.got, tc.want)
			}
		})
	}
	t.Run("development key file made in the working directory", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dir, "authql.key")); err != nil {
			t.Errorf("key file: %v", err)
		}
	})
}

// TestPlayground checks that GraphiQL (and introspection) follow the
// environment unless explicitly set: exposed in development, hidden in
// production.
func TestPlayground(t *testing.T) {
	tests := []struct {
		name              string
		env               map[string]string
		playground, intro bool
	}{
		{"development default", nil, true, true},
		{"production default", map[string]string{"AUTHQL_ENV": "production"}, false, false},
		{"production, asked for", map[string]string{"AUTHQL_ENV": "production", "AUTHQL_PLAYGROUND": "on"}, true, false},
		{"production, introspection asked for", map[string]string{"AUTHQL_ENV": "production", "AUTHQL_INTROSPECTION": "on"}, false, true},
		{"development, turned off", map[string]string{"AUTHQL_PLAYGROUND": "off"}, false, true},
		{"prod alias, mixed case", map[string]string{"AUTHQL_ENV": "Production"}, false, false},
		{"explicit development", map[string]string{"AUTHQL_ENV": "development"}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(nil, env(withSecret(tc.env)))
			if err != nil {
				t.Fatal(err)
			}
			if c.GraphQL.Playground != tc.playground || c.GraphQL.Introspection != tc.intro {
				t.Errorf("playground, introspection = %v, %v; want %v, %v", c.GraphQL.Playground, c.GraphQL.Introspection, tc.playground, tc.intro)
			}
		})
	}
}

// TestShutdownDelay checks that SIGTERM waits for a load balancer only where
// there is one to wait for: production, unless told otherwise.
func TestShutdownDelay(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"development default: stop at once", nil, 0},
		{"production default: a health check's time", map[string]string{"AUTHQL_ENV": "production"}, 5 * time.Second},
		{"production, set", map[string]string{"AUTHQL_ENV": "production", "AUTHQL_SHUTDOWN_DELAY": "20s"}, 20 * time.Second},
		{"production, turned off", map[string]string{"AUTHQL_ENV": "production", "AUTHQL_SHUTDOWN_DELAY": "0s"}, 0},
		{"development, set", map[string]string{"AUTHQL_SHUTDOWN_DELAY": "2s"}, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(nil, env(withSecret(tc.env)))
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.ShutdownDelay != tc.want {
				t.Errorf("shutdown delay %v; want %v", c.Server.ShutdownDelay, tc.want)
			}
		})
	}
}

// TestFlagsOverrideEnv checks precedence: flag, then environment, then default.
func TestFlagsOverrideEnv(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(c *config.Config) (got, want any)
	}{
		{"--addr wins over AUTHQL_ADDR", []string{"--addr", ":9000"}, map[string]string{"AUTHQL_ADDR": ":7000"},
			func(c *config.Config) (any, any) { return c.Server.Addr, ":9000" }},
		{"--addr=value form", []string{"--addr=:9001"}, map[string]string{"AUTHQL_ADDR": ":7000"},
			func(c *config.Config) (any, any) { return c.Server.Addr, ":9001" }},
		{"AUTHQL_ADDR wins over the default", nil, map[string]string{"AUTHQL_ADDR": ":7000"},
			func(c *config.Config) (any, any) { return c.Server.Addr, ":7000" }},
		{"environment values are trimmed", nil, map[string]string{"AUTHQL_ADDR": "  :7000\n"},
			func(c *config.Config) (any, any) { return c.Server.Addr, ":7000" }},
		{"--database-url wins", []string{"--database-url", "mysql://u:p@db:3306/authql?parseTime=true"},
			map[string]string{"AUTHQL_DATABASE_URL": "sqlite://env.db"},
			func(c *config.Config) (any, any) { return c.Database.URL, "mysql://u:p@db:3306/authql?parseTime=true" }},
		{"--access-token-ttl wins", []string{"--access-token-ttl", "5m"}, map[string]string{"AUTHQL_ACCESS_TOKEN_TTL": "1h"},
			func(c *config.Config) (any, any) { return c.Tokens.AccessTTL, 5 * time.Minute }},
		{"--refresh-token-ttl", []string{"--refresh-token-ttl", "24h"}, nil,
			func(c *config.Config) (any, any) { return c.Tokens.RefreshTTL, 24 * time.Hour }},
		{"--session-max-age", []string{"--session-max-age", "48h"}, nil,
			func(c *config.Config) (any, any) { return c.Tokens.SessionMaxAge, 48 * time.Hour }},
		{"--refresh-reuse-grace 0 turns the grace window off", []string{"--refresh-reuse-grace", "0s"}, nil,
			func(c *config.Config) (any, any) { return c.Tokens.ReuseGrace, time.Duration(0) }},
		{"--rate-limit off wins over env on", []string{"--rate-limit", "off"}, map[string]string{"AUTHQL_RATE_LIMIT": "on"},
			func(c *config.Config) (any, any) { return c.Limits.Enabled, false }},
		{"--refresh-cookie on", []string{"--refresh-cookie", "on"}, nil,
			func(c *config.Config) (any, any) { return c.Cookies.Refresh, true }},
		{"--issuer and --audience", []string{"--issuer", "https://id.example", "--audience", "api"}, nil,
			func(c *config.Config) (any, any) {
				return c.Tokens.Issuer + "|" + c.Tokens.Audience, "https://id.example|api"
			}},
		{"--env production wins over env development", []string{"--env", "production"}, map[string]string{"AUTHQL_ENV": "development"},
			func(c *config.Config) (any, any) { return c.Production, true }},
		{"--jwt-secret wins over AUTHQL_JWT_SECRET", []string{"--jwt-secret", strings.Repeat("f", 40)}, nil,
			func(c *config.Config) (any, any) {
				return string(c.Tokens.Secret) + "|" + c.Tokens.SecretSource, strings.Repeat("f", 40) + "|--jwt-secret"
			}},
		{"--cors-origins list", []string{"--cors-origins", "https://a.example, https://b.example ,"}, nil,
			func(c *config.Config) (any, any) {
				return c.Server.CORSOrigins, []string{"https://a.example", "https://b.example"}
			}},
		{"--rate-limit-login", []string{"--rate-limit-login", "5/1m"}, nil,
			func(c *config.Config) (any, any) {
				return c.Limits.Rules.LoginAccountIP, ratelimit.Rule{Name: "login-account-ip", Limit: 5, Window: time.Minute}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(tc.args, env(withSecret(tc.env)))
			if err != nil {
				t.Fatalf("Load(%q): %v", tc.args, err)
			}
			if got, want := tc.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v; want %v", got, want)
			}
		})
	}
}

// TestBadArguments checks that the command line itself is validated.
func TestBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--no-such-flag", "x"}},
		{"positional argument", []string{"serve"}},
		{"flag without value", []string{"--addr"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := config.Load(tc.args, env(withSecret(nil))); err == nil {
				t.Errorf("Load(%q) succeeded; want an error", tc.args)
			}
		})
	}
}

// TestInvalidValues checks that a bad value stops the start-up with an error
// that names the variable, so an operator knows what to fix.
func TestInvalidValues(t *testing.T) {
	tests := []struct {
		variable, value string
	}{
		{"AUTHQL_ACCESS_TOKEN_TTL", "15"},
		{"AUTHQL_ACCESS_TOKEN_TTL", "fifteen minutes"},
		{"AUTHQL_ACCESS_TOKEN_TTL", "0s"},
		{"AUTHQL_ACCESS_TOKEN_TTL", "-1m"},
		{"AUTHQL_REFRESH_TOKEN_TTL", "7d"},
		{"AUTHQL_REFRESH_TOKEN_TTL", "0"},
		{"AUTHQL_SESSION_MAX_AGE", "forever"},
		{"AUTHQL_SESSION_MAX_AGE", "-720h"},
		{"AUTHQL_REFRESH_REUSE_GRACE", "ten"},
		{"AUTHQL_REFRESH_REUSE_GRACE", "-1s"},
		{"AUTHQL_HASH_QUEUE_TIMEOUT", "0s"},
		{"AUTHQL_AUDIT_RETENTION", "90 days"},
		{"AUTHQL_RATE_LIMIT", "maybe"},
		{"AUTHQL_RATE_LIMIT", "disabled"},
		{"AUTHQL_REFRESH_COOKIE", "enabled"},
		{"AUTHQL_PLAYGROUND", "sure"},
		{"AUTHQL_INTROSPECTION", "2"},
		{"AUTHQL_RATE_LIMIT_LOGIN", "10"},
		{"AUTHQL_RATE_LIMIT_LOGIN", "0/15m"},
		{"AUTHQL_RATE_LIMIT_LOGIN", "-1/15m"},
		{"AUTHQL_RATE_LIMIT_LOGIN", "ten/15m"},
		{"AUTHQL_RATE_LIMIT_LOGIN", "10/0s"},
		{"AUTHQL_RATE_LIMIT_LOGIN", "10/15"},
		{"AUTHQL_RATE_LIMIT_LOGIN_IP", "100/"},
		{"AUTHQL_RATE_LIMIT_SIGNUP", "/1h"},
		{"AUTHQL_RATE_LIMIT_REFRESH", "300 per 5m"},
		{"AUTHQL_RATE_LIMIT_CHANGE_PASSWORD", "1.5/15m"},
		{"AUTHQL_RATE_LIMIT_LOGIN_ACCOUNT", "30"},
		{"AUTHQL_RATE_LIMIT_LOGOUT", "0/5m"},
		{"AUTHQL_RATE_LIMIT_IPV6_PREFIX", "/64"},
		{"AUTHQL_RATE_LIMIT_IPV6_PREFIX", "31"},
		{"AUTHQL_RATE_LIMIT_IPV6_PREFIX", "129"},
		{"AUTHQL_RATE_LIMIT_IPV6_PREFIX", "sixty-four"},
		{"AUTHQL_DATABASE_URL", "postgres://u:p@localhost/authql"},
		{"AUTHQL_DATABASE_URL", "authql.db"},
		{"AUTHQL_DATABASE_URL", "file:authql.db"},
		{"AUTHQL_CORS_ORIGINS", "*"},
		{"AUTHQL_CORS_ORIGINS", "https://app.example, *"},
		{"AUTHQL_TRUSTED_PROXIES", "10.0.0.0/33"},
		{"AUTHQL_TRUSTED_PROXIES", "not-an-ip"},
		{"AUTHQL_TRUSTED_PROXIES", "10.0.0.0/8, bogus"},
		{"AUTHQL_TRUSTED_PROXIES", "300.1.1.1"},
		{"AUTHQL_ENV", "staging"},
		{"AUTHQL_SHUTDOWN_DELAY", "-1s"},
		{"AUTHQL_SHUTDOWN_DELAY", "5"},
		{"AUTHQL_JWT_SECRET", "too-short"},
		{"AUTHQL_MAX_SESSIONS_PER_USER", "0"},
		{"AUTHQL_MAX_SESSIONS_PER_USER", "ten"},
	}
	for _, tc := range tests {
		t.Run(tc.variable+"="+tc.value, func(t *testing.T) {
			e := withSecret(map[string]string{tc.variable: tc.value})
			c, err := config.Load(nil, env(e))
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			if !strings.Contains(err.Error(), tc.variable) {
				t.Errorf("error %q does not name %s", err, tc.variable)
			}
		})
		flag := "--" + config.FlagName(tc.variable)
		t.Run(flag+"="+tc.value, func(t *testing.T) {
			if _, err := config.Load([]string{flag, tc.value}, env(withSecret(nil))); err == nil {
				t.Fatal("Load succeeded with the bad value given as a flag")
			}
		})
	}
	t.Run("every bad variable is reported at once", func(t *testing.T) {
		_, err := config.Load(nil, env(withSecret(map[string]string{
			"AUTHQL_ACCESS_TOKEN_TTL": "x", "AUTHQL_RATE_LIMIT": "x", "AUTHQL_CORS_ORIGINS": "*",
		})))
		if err == nil {
			t.Fatal("Load succeeded")
		}
		for _, v := range []string{"AUTHQL_ACCESS_TOKEN_TTL", "AUTHQL_RATE_LIMIT", "AUTHQL_CORS_ORIGINS"} {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("error %q does not name %s", err, v)
			}
		}
	})
}

// TestValidValues checks the accepted spellings and how lists are parsed.
func TestValidValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c *config.Config) (got, want any)
	}{
		{"booleans: true/false", map[string]string{"AUTHQL_RATE_LIMIT": "false", "AUTHQL_REFRESH_COOKIE": "true"},
			func(c *config.Config) (any, any) {
				return [2]bool{c.Limits.Enabled, c.Cookies.Refresh}, [2]bool{false, true}
			}},
		{"booleans: 0/1", map[string]string{"AUTHQL_RATE_LIMIT": "0", "AUTHQL_REFRESH_COOKIE": "1"},
			func(c *config.Config) (any, any) {
				return [2]bool{c.Limits.Enabled, c.Cookies.Refresh}, [2]bool{false, true}
			}},
		{"booleans: case-insensitive", map[string]string{"AUTHQL_RATE_LIMIT": "OFF", "AUTHQL_REFRESH_COOKIE": "On"},
			func(c *config.Config) (any, any) {
				return [2]bool{c.Limits.Enabled, c.Cookies.Refresh}, [2]bool{false, true}
			}},
		{"mysql URL", map[string]string{"AUTHQL_DATABASE_URL": "mysql://u:p@tcp(db:3306)/authql?parseTime=true"},
			func(c *config.Config) (any, any) {
				return c.Database.URL, "mysql://u:p@tcp(db:3306)/authql?parseTime=true"
			}},
		{"sqlite URL with a path", map[string]string{"AUTHQL_DATABASE_URL": "sqlite:///var/lib/authql/db.sqlite"},
			func(c *config.Config) (any, any) { return c.Database.URL, "sqlite:///var/lib/authql/db.sqlite" }},
		{"trusted proxies: CIDRs, bare addresses, IPv6, host bits masked",
			map[string]string{"AUTHQL_TRUSTED_PROXIES": "10.1.2.3/8, 192.168.1.1 ,::1,fd00::/8"},
			func(c *config.Config) (any, any) {
				return c.Server.TrustedProxies, []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32"),
					netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8"),
				}
			}},
		{"CORS origins trimmed, empty items dropped", map[string]string{"AUTHQL_CORS_ORIGINS": " https://a.example ,,https://b.example:8443 "},
			func(c *config.Config) (any, any) {
				return c.Server.CORSOrigins, []string{"https://a.example", "https://b.example:8443"}
			}},
		{"grace window may be zero", map[string]string{"AUTHQL_REFRESH_REUSE_GRACE": "0s"},
			func(c *config.Config) (any, any) { return c.Tokens.ReuseGrace, time.Duration(0) }},
		{"secret of exactly 32 bytes", map[string]string{"AUTHQL_JWT_SECRET": goodSecret},
			func(c *config.Config) (any, any) {
				return string(c.Tokens.Secret) + "|" + c.Tokens.SecretSource, goodSecret + "|AUTHQL_JWT_SECRET"
			}},
		{"limits", map[string]string{"AUTHQL_RATE_LIMIT_SIGNUP": "3/1h30m"},
			func(c *config.Config) (any, any) {
				return c.Limits.Rules.Signup, ratelimit.Rule{Name: "signup-ip", Limit: 3, Window: 90 * time.Minute}
			}},
		{"new limits", map[string]string{"AUTHQL_RATE_LIMIT_LOGIN_ACCOUNT": "5/10m", "AUTHQL_RATE_LIMIT_LOGOUT": "7/1m"},
			func(c *config.Config) (any, any) {
				return [2]ratelimit.Rule{c.Limits.Rules.LoginAccount, c.Limits.Rules.Logout},
					[2]ratelimit.Rule{{Name: "login-account", Limit: 5, Window: 10 * time.Minute}, {Name: "logout-ip", Limit: 7, Window: time.Minute}}
			}},
		{"IPv6 prefix bounds", map[string]string{"AUTHQL_RATE_LIMIT_IPV6_PREFIX": "32"},
			func(c *config.Config) (any, any) { return c.Limits.IPv6Prefix, 32 }},
		{"IPv6 prefix up to a single address", map[string]string{"AUTHQL_RATE_LIMIT_IPV6_PREFIX": "128"},
			func(c *config.Config) (any, any) { return c.Limits.IPv6Prefix, 128 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(nil, env(withSecret(tc.env)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tc.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v; want %v", got, want)
			}
		})
	}
}

// TestSecretRequirements checks that production never starts with a missing
// or weak secret (nor silently with a development key file), and says why.
func TestSecretRequirements(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		keyFile     string // written to AUTHQL_KEY_FILE first, when not empty
		wantErr     []string
		wantSecret  string
		wantKeyFile bool // whether AUTHQL_KEY_FILE exists afterwards
	}{
		{name: "production without a secret", env: map[string]string{"AUTHQL_ENV": "production"},
			wantErr: []string{"AUTHQL_JWT_SECRET", "required in production", "32"}},
		{name: "production ignores a development key file", env: map[string]string{"AUTHQL_ENV": "production"},
			keyFile: base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 48))) + "\n",
			wantErr: []string{"AUTHQL_JWT_SECRET", "required in production"}, wantKeyFile: true},
		{name: "production, whitespace-only secret", env: map[string]string{"AUTHQL_ENV": "production", "AUTHQL_JWT_SECRET": "   "},
			wantErr: []string{"AUTHQL_JWT_SECRET"}},
		{name: "production, 31-byte secret", env: map[string]string{"AUTHQL_ENV": "production", "AUTHQL_JWT_SECRET": goodSecret[:31]},
			wantErr: []string{"AUTHQL_JWT_SECRET", "at least 32 bytes"}},
		{name: "development, 31-byte secret is refused too", env: map[string]string{"AUTHQL_JWT_SECRET": goodSecret[:31]},
			wantErr: []string{"AUTHQL_JWT_SECRET", "at least 32 bytes"}},
		{name: "production, 31-byte --jwt-secret", args: []string{"--jwt-secret", goodSecret[:31]},
			env: map[string]string{"AUTHQL_ENV": "production"}, wantErr: []string{"at least 32 bytes"}},
		{name: "production, 32-byte secret", env: map[string]string{"AUTHQL_ENV": "production", "AUTHQL_JWT_SECRET": goodSecret},
			wantSecret: goodSecret},
		{name: "production, --jwt-secret", args: []string{"--jwt-secret", goodSecret},
			env: map[string]string{"AUTHQL_ENV": "production"}, wantSecret: goodSecret},
		{name: "development with a secret never writes a key file", env: map[string]string{"AUTHQL_JWT_SECRET": goodSecret},
			wantSecret: goodSecret},
		{name: "32 multi-byte bytes are 32 bytes", env: map[string]string{"AUTHQL_JWT_SECRET": strings.Repeat("é", 16)},
			wantSecret: strings.Repeat("é", 16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keyFile := filepath.Join(t.TempDir(), "authql.key")
			if tc.keyFile != "" {
				if err := os.WriteFile(keyFile, []byte(tc.keyFile), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			e := map[string]string{"AUTHQL_KEY_FILE": keyFile}
			for k, v := range tc.env {
				e[k] = v
			}
			c, err := config.Load(tc.args, env(e))
			_, statErr := os.Stat(keyFile)
			if exists := statErr == nil; exists != tc.wantKeyFile {
				t.Errorf("key file exists = %v; want %v", exists, tc.wantKeyFile)
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Load succeeded with secret %q", c.Tokens.Secret)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if string(c.Tokens.Secret) != tc.wantSecret {
				t.Errorf("secret = %q; want %q", c.Tokens.Secret, tc.wantSecret)
			}
		})
	}
}

// TestDevelopmentKeyFile checks the zero-configuration start: development
// makes a private random key once and reuses it, so restarts keep sessions.
func TestDevelopmentKeyFile(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "nested", "dir", "authql.key")
	e := env(map[string]string{"AUTHQL_KEY_FILE": keyFile})
	first, err := config.Load(nil, e)
	if err != nil {
		t.Fatalf("first Load: %v", err)
	}
	second, err := config.Load(nil, e)
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	other, err := config.Load(nil, env(map[string]string{"AUTHQL_KEY_FILE": filepath.Join(t.TempDir(), "authql.key")}))
	if err != nil {
		t.Fatalf("Load with another key file: %v", err)
	}
	info, statErr := os.Stat(keyFile)
	data, readErr := os.ReadFile(keyFile)
	decoded, decodeErr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	tests := []struct {
		name string
		ok   bool
		info any
	}{
		{"key file created", statErr == nil, statErr},
		{"key file readable only by its owner (0600)", statErr == nil && info.Mode().Perm() == 0o600, info},
		{"key file holds the secret in base64", readErr == nil && decodeErr == nil && string(decoded) == string(first.Tokens.Secret), decodeErr},
		{"secret at least 32 bytes", len(first.Tokens.Secret) >= config.MinSecretLen, len(first.Tokens.Secret)},
		{"second start reads the same key", string(second.Tokens.Secret) == string(first.Tokens.Secret), nil},
		{"another key file gets another random key", string(other.Tokens.Secret) != string(first.Tokens.Secret), nil},
		{"the source names the key file, not the value", strings.Contains(first.Tokens.SecretSource, keyFile) &&
			!strings.Contains(first.Tokens.SecretSource, string(data)), first.Tokens.SecretSource},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("failed (%v)", tc.info)
			}
		})
	}
}

// TestDevelopmentKeyFileConcurrentStart checks what the O_EXCL creation is
// for: several processes starting at once against a fresh key file must all
// come up, with one shared key. (Goroutines stand in for processes: the file
// system sees the same open/read/write calls.) The race window is narrow, so
// the start is repeated; one failure is enough to show it.
func TestDevelopmentKeyFileConcurrentStart(t *testing.T) {
	for attempt := range 200 {
		keyFile := filepath.Join(t.TempDir(), "authql.key")
		e := env(map[string]string{"AUTHQL_KEY_FILE": keyFile})
		const n = 8
		secrets := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				c, err := config.Load(nil, e)
				errs[i] = err
				if err == nil {
					secrets[i] = string(c.Tokens.Secret)
				}
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("attempt %d: start %d failed: %v", attempt, i, errs[i])
			}
			if secrets[i] != secrets[0] {
				t.Fatalf("attempt %d: starts %d and 0 got different keys", attempt, i)
			}
		}
	}
}

// TestCorruptKeyFile checks that a damaged key file stops the start-up and is
// left alone: silently replacing it would log everybody out and hide the
// damage.
func TestCorruptKeyFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"not base64", "this is not base64 !!!\n"},
		{"empty", ""},
		{"only whitespace", "  \n"},
		{"base64 of 16 bytes: too short", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 16))) + "\n"},
		{"base64 of 31 bytes: too short", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 31)))},
		{"truncated base64", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 48)))[:50]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keyFile := filepath.Join(t.TempDir(), "authql.key")
			if err := os.WriteFile(keyFile, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(nil, env(map[string]string{"AUTHQL_KEY_FILE": keyFile}))
			if err == nil {
				t.Fatalf("Load succeeded with secret %q", c.Tokens.Secret)
			}
			if !strings.Contains(err.Error(), "AUTHQL_KEY_FILE") {
				t.Errorf("error %q does not name AUTHQL_KEY_FILE", err)
			}
			if data, _ := os.ReadFile(keyFile); string(data) != tc.content {
				t.Errorf("key file was rewritten: %q", data)
			}
		})
	}
	t.Run("key file path is a directory", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := config.Load(nil, env(map[string]string{"AUTHQL_KEY_FILE": dir})); err == nil {
			t.Error("Load succeeded with a directory as key file")
		}
	})
	t.Run("a valid key file with surrounding whitespace is read", func(t *testing.T) {
		keyFile := filepath.Join(t.TempDir(), "authql.key")
		key := strings.Repeat("k", 32)
		if err := os.WriteFile(keyFile, []byte("\n "+base64.StdEncoding.EncodeToString([]byte(key))+" \n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(nil, env(map[string]string{"AUTHQL_KEY_FILE": keyFile}))
		if err != nil || string(c.Tokens.Secret) != key {
			t.Errorf("Load = %v; want the key from the file", err)
		}
	})
}

// TestWeakSecrets checks that production refuses a secret long enough but
// plainly not random, saying why, while development starts with a warning.
func TestWeakSecrets(t *testing.T) {
	tests := []struct {
		name, secret string
		weak         string // what the error says, "" when the secret passes
	}{
		{"one character repeated", strings.Repeat("a", 48), "one character repeated"},
		{"one multi-byte character repeated", strings.Repeat("é", 16), "pattern of 2"},
		{"a word repeated out to length", strings.Repeat("secret", 6), "pattern of 6"},
		{"a repeated pattern cut short", "hunter2hunter2hunter2hunter2hunt", "pattern of 7"},
		{"two halves alike", "0123456789abcdef0123456789abcdef", "pattern of 16"},
		{"short text padded with zeros", "password" + strings.Repeat("0", 24), "repetition"},
		{"short text padded with a varied tail", "mysecretpassword!!!!!!!!!!!!!!!!", "repetition"},
		{"a word repeated with a suffix", strings.Repeat("secret", 4) + "4711XYZq", "repetition"},
		{"too few distinct bytes", "abcabdabcabdddccbbaaabcdabcdabcdaaaa", "different characters"},
		{"binary digits", "01101001110100101101001011101001", "different characters"},
		{"base64 of random bytes", goodSecret, ""},
		{"hex of random bytes", "9f86d081884c7d659a2feaa0c55ad015", ""},
		{"long hex of random bytes", "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", ""},
		{"the e2e test secret", "e2e-test-secret-0123456789abcdef0123456789", ""},
		{"a long passphrase", "correct horse battery staple under moonlight", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prod, err := config.Load(nil, env(map[string]string{"AUTHQL_ENV": "production", "AUTHQL_JWT_SECRET": tc.secret}))
			dev, devErr := config.Load(nil, env(map[string]string{"AUTHQL_JWT_SECRET": tc.secret}))
			if devErr != nil {
				t.Fatalf("development refused it: %v", devErr)
			}
			if string(dev.Tokens.Secret) != tc.secret {
				t.Fatalf("development secret = %q", dev.Tokens.Secret)
			}
			if tc.weak == "" {
				if err != nil {
					t.Fatalf("production refused a good secret: %v", err)
				}
				if string(prod.Tokens.Secret) != tc.secret || len(dev.Warnings) != 0 {
					t.Fatalf("secret %q, warnings %q", prod.Tokens.Secret, dev.Warnings)
				}
				return
			}
			if err == nil {
				t.Fatal("production accepted a weak secret")
			}
			for _, want := range []string{"AUTHQL_JWT_SECRET", "weak", tc.weak, "openssl rand"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if len(dev.Warnings) != 1 || !strings.Contains(dev.Warnings[0], tc.weak) {
				t.Errorf("development warnings %q, want one saying %q", dev.Warnings, tc.weak)
			}
		})
	}
}

func TestMail(t *testing.T) {
	prod := func(kv map[string]string) map[string]string {
		return withSecret(mergeEnv(map[string]string{"AUTHQL_ENV": "production"}, kv))
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" when Load must succeed
	}{
		{"development logs mail without SMTP", withSecret(map[string]string{"AUTHQL_SMTP_URL": ""}), ""},
		{"production without SMTP", prod(map[string]string{"AUTHQL_SMTP_URL": ""}), "AUTHQL_SMTP_URL: is required in production"},
		{"production with mail off", prod(map[string]string{"AUTHQL_SMTP_URL": "", "AUTHQL_MAIL": "off"}), ""},
		{"production with SMTP", prod(map[string]string{"AUTHQL_SMTP_URL": "smtps://u:p@mail.example.com:465"}), ""},
		{"not an SMTP URL", withSecret(map[string]string{"AUTHQL_SMTP_URL": "http://u:hunter2@mail.example.com"}), "AUTHQL_SMTP_URL: must be smtp://"},
		{"app URL without a scheme", withSecret(map[string]string{"AUTHQL_APP_URL": "app.example.com"}), "AUTHQL_APP_URL"},
		{"from is not an address", withSecret(map[string]string{"AUTHQL_MAIL_FROM": "nobody"}), "AUTHQL_MAIL_FROM"},
		{"zero reset lifetime", withSecret(map[string]string{"AUTHQL_PASSWORD_RESET_TTL": "0s"}), "AUTHQL_PASSWORD_RESET_TTL"},
		{"zero mfaToken lifetime", withSecret(map[string]string{"AUTHQL_MFA_TOKEN_TTL": "0s"}), "AUTHQL_MFA_TOKEN_TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(nil, env(tc.env))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error quotes the SMTP password: %v", err)
			}
		})
	}
}

func TestMailDefaults(t *testing.T) {
	c, err := config.Load(nil, env(withSecret(nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Mail{Enabled: true, SMTPURL: testSMTP, From: "authql <no-reply@localhost>", AppURL: "http://localhost:8080", VerifyTTL: 24 * time.Hour, ResetTTL: time.Hour}
	if c.Mail != want {
		t.Fatalf("Mail = %+v, want %+v", c.Mail, want)
	}
	if c.MFA.TokenTTL != 5*time.Minute {
		t.Fatalf("MFA.TokenTTL = %v, want 5m", c.MFA.TokenTTL)
	}
}

func mergeEnv(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}
