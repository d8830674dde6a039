package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/jwtstrict"
)

// Errors returned by [Verifier.Verify]. Every rejected token yields an error
// that matches ErrInvalidToken with [errors.Is]; the reason is wrapped in it
// and may additionally match ErrUnknownKey or ErrExpired. Error messages never
// contain the token or text taken from it, so they are safe to log.
var (
	ErrMissingToken = errors.New("verify: missing token")
	ErrInvalidToken = errors.New("verify: invalid token")
	// ErrUnknownKey means no published key has the token's kid, even after a
	// refresh of the key set (or the refresh rate limit forbade one).
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrExpired is the one reason a client can fix by itself: refresh the
	// access token and retry.
	ErrExpired = errors.New("token expired")
)

// Reasons wrapped by ErrInvalidToken. They are not exported: callers should
// not need to tell them apart, only to log them.
var (
	errMalformed      = errors.New("malformed token")
	errAlgorithm      = errors.New("algorithm not allowed for this key")
	errType           = errors.New(`token type is not "at+jwt"`)
	errCritical       = errors.New("unsupported critical header")
	errMissingKid     = errors.New("missing kid header")
	errSignature      = errors.New("invalid signature")
	errNotYetValid    = errors.New("token not valid yet")
	errIssuer         = errors.New("wrong issuer")
	errAudience       = errors.New("wrong audience")
	errMissingClaim   = errors.New("required claim missing")
	errMissingSubject = errors.New("missing sub claim")
	errRejected       = errors.New("token rejected")
)

const (
	// maxTokenBytes rejects absurd inputs before any parsing work.
	maxTokenBytes = 16 << 10
	// maxLeeway keeps Leeway what it is for, absorbing clock skew; a large
	// value would quietly extend every token's lifetime.
	maxLeeway = 5 * time.Minute

	defaultMinRefreshInterval = 15 * time.Second
	defaultMinCacheTTL        = time.Minute
	defaultMaxCacheTTL        = time.Hour
	defaultHTTPTimeout        = 10 * time.Second
)

// Config configures a [Verifier]. JWKSURL, Issuer and Audience are required.
type Config struct {
	// JWKSURL is authql's key set, e.g. "https://auth.example.com/.well-known/jwks.json".
	// It must be https unless the host is a loopback address or
	// AllowInsecureHTTP is set: whoever can alter this response can mint
	// tokens.
	JWKSURL string
	// Issuer must equal the tokens' iss claim exactly.
	Issuer string
	// Audience must be (one of) the tokens' aud claim.
	Audience string

	// HTTPClient fetches the key set. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Leeway tolerates clock skew when checking exp and nbf. Default 0, as
	// authql itself uses; at most 5 minutes.
	Leeway time.Duration
	// MinRefreshInterval is the least time between two fetches of the key
	// set, whatever triggers them. Default 15 s.
	MinRefreshInterval time.Duration
	// MinCacheTTL and MaxCacheTTL bound the Cache-Control max-age of the key
	// set response. Defaults: 1 minute and 1 hour.
	MinCacheTTL time.Duration
	MaxCacheTTL time.Duration
	// AllowInsecureHTTP permits a plain-http JWKSURL on a non-loopback host,
	// e.g. inside a private container network.
	AllowInsecureHTTP bool
	// Logger receives refresh failures and ignored keys. Default: slog.Default().
	Logger *slog.Logger
}

// Claims are the claims of a verified authql access token.
type Claims struct {
	Subject   string // sub: the user id
	SessionID string // sid: the authql session the token belongs to
	ID        string // jti: unique token id
	Issuer    string // iss
	// Audience is the configured audience the token was accepted for.
	Audience  string
	IssuedAt  time.Time // iat; zero if absent
	ExpiresAt time.Time // exp
	// EmailVerified is email_verified: the user proved they own the address.
	EmailVerified bool
	// AMR is amr (RFC 8176), how the session was authenticated: ["pwd"],
	// ["pwd","otp"] after a second factor, ["email"] after a password reset
	// by mail. Refreshing keeps the session's amr. Nil when the token has none.
	AMR []string
}

// AuthenticatedWith reports whether the session was authenticated with
// method, one of the amr values: AuthenticatedWith("otp") gates what needs a
// second factor.
func (c *Claims) AuthenticatedWith(method string) bool {
	return slices.Contains(c.AMR, method)
}

// Verifier verifies authql access tokens against authql's published keys.
// It is safe for concurrent use.
type Verifier struct {
	audience string
	parser   *jwt.Parser
	keys     *keySet
	logger   *slog.Logger
}

// New returns a Verifier after fetching the key set once, so that a wrong
// URL or an authql without public keys (HS256 mode) shows at startup rather
// than as every request failing. ctx bounds only that first fetch.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	return newVerifier(ctx, cfg, time.Now)
}

// newVerifier is New with an injectable clock, for tests.
func newVerifier(ctx context.Context, cfg Config, now func() time.Time) (*Verifier, error) {
	if err := checkURL(cfg.JWKSURL, cfg.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("verify: Config.Issuer and Config.Audience are required")
	}
	if cfg.Leeway < 0 || cfg.Leeway > maxLeeway {
		return nil, fmt.Errorf("verify: Config.Leeway must be between 0 and %s", maxLeeway)
	}
	if cfg.MinRefreshInterval < 0 || cfg.MinCacheTTL < 0 || cfg.MaxCacheTTL < 0 {
		return nil, errors.New("verify: negative durations in Config")
	}
	ks := &keySet{
		url:         cfg.JWKSURL,
		client:      cfg.HTTPClient,
		minInterval: orDefault(cfg.MinRefreshInterval, defaultMinRefreshInterval),
		minTTL:      orDefault(cfg.MinCacheTTL, defaultMinCacheTTL),
		maxTTL:      orDefault(cfg.MaxCacheTTL, defaultMaxCacheTTL),
		logger:      cfg.Logger,
		now:         now,
	}
	if ks.minTTL > ks.maxTTL {
		return nil, errors.New("verify: Config.MinCacheTTL exceeds MaxCacheTTL")
	}
	if ks.client == nil {
		ks.client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if ks.logger == nil {
		ks.logger = slog.Default()
	}

	ks.lastFetch = now()
	if err := ks.refresh(ctx); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("verify: JWKS has no usable keys (is authql running with a JWKS file?)")
	}

	return &Verifier{
		audience: cfg.Audience,
		keys:     ks,
		logger:   ks.logger,
		parser: jwt.NewParser(
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func checkURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("verify: Config.JWKSURL must be an absolute URL")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (allowHTTP || isLoopback(u.Hostname())):
		return nil
	case u.Scheme == "http":
		return errors.New("verify: Config.JWKSURL must use https (or set AllowInsecureHTTP)")
	default:
		return errors.New("verify: Config.JWKSURL must be an http(s) URL")
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokenClaims is the JSON shape of an authql access token's claims.
type tokenClaims struct {
	jwt.RegisteredClaims
	SessionID     string   `json:"sid"`
	EmailVerified bool     `json:"email_verified"`
	AMR           []string `json:"amr"`
}

// Validate is called by the jwt parser after the standard checks. A token
// without a subject would authenticate nobody in particular.
func (c *tokenClaims) Validate() error {
	if c.Subject == "" {
		return errMissingSubject
	}
	return nil
}

// Verify checks token and returns its claims. Errors match ErrMissingToken
// or ErrInvalidToken, except a cancelled ctx while the key set was being
// refreshed, which returns ctx's error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	if len(token) > maxTokenBytes {
		return nil, invalid(errMalformed)
	}
	if err := jwtstrict.Check(token); err != nil {
		if errors.Is(err, jwtstrict.ErrCritical) {
			return nil, invalid(errCritical)
		}
		return nil, invalid(errMalformed)
	}
	var tc tokenClaims
	var keyErr error
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		k, err := v.keyFor(ctx, t)
		keyErr = err
		return k, err
	})
	switch {
	case errors.Is(keyErr, context.Canceled) || errors.Is(keyErr, context.DeadlineExceeded):
		// The caller gave up while the key set was being refreshed; that
		// says nothing about the token.
		return nil, fmt.Errorf("verify: %w", keyErr)
	case keyErr != nil:
		// Our own reasons, not the jwt package's wrapping of them.
		return nil, invalid(keyErr)
	case err != nil:
		return nil, invalid(reasonFor(err))
	}

	c := &Claims{
		Subject:   tc.Subject,
		SessionID: tc.SessionID,
		ID:        tc.ID,
		Issuer:    tc.Issuer,
		Audience:  v.audience,
		ExpiresAt: tc.ExpiresAt.Time,

		EmailVerified: tc.EmailVerified,
		AMR:           tc.AMR,
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	return c, nil
}

// keyFor picks the verification key for t. Only tokens that look like
// authql access tokens get as far as the key lookup, which may fetch.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	if alg != "EdDSA" && alg != "ES256" && alg != "RS256" {
		// Refuses "none" and every HS* outright: a public key must never be
		// usable as an HMAC secret.
		return nil, errAlgorithm
	}
	if !isAccessTokenType(t.Header["typ"]) {
		// Keeps other JWTs signed by the same keys (refresh or ID tokens)
		// from being accepted as access tokens.
		return nil, errType
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errMissingKid
	}
	k, err := v.keys.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	if k.alg != alg {
		return nil, errAlgorithm
	}
	return k.key, nil
}

// isAccessTokenType accepts the typ values of RFC 9068 access tokens.
func isAccessTokenType(typ any) bool {
	s, _ := typ.(string)
	return strings.EqualFold(s, "at+jwt") || strings.EqualFold(s, "application/at+jwt")
}

func invalid(reason error) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, reason)
}

// reasonFor maps a jwt package error to one of our reasons. The jwt errors
// are not passed on because some quote values from the token.
func reasonFor(err error) error {
	for _, r := range []struct{ jwtErr, reason error }{
		{jwt.ErrTokenMalformed, errMalformed},
		{jwt.ErrTokenUnverifiable, errAlgorithm}, // alg missing or unknown
		{jwt.ErrTokenSignatureInvalid, errSignature},
		{jwt.ErrTokenExpired, ErrExpired},
		{jwt.ErrTokenNotValidYet, errNotYetValid},
		{jwt.ErrTokenInvalidIssuer, errIssuer},
		{jwt.ErrTokenInvalidAudience, errAudience},
		{jwt.ErrTokenRequiredClaimMissing, errMissingClaim},
		{errMissingSubject, errMissingSubject},
	} {
		if errors.Is(err, r.jwtErr) {
			return r.reason
		}
	}
	return errRejected
}
