// Package token issues and verifies authql's two kinds of JWT and hashes refresh
// tokens for storage.
//
// Access tokens (typ "at+jwt") are verified by anyone holding the public keys,
// or by authql with the server secret in the zero-configuration HS256 mode.
// Refresh tokens (typ "refresh+jwt") are only ever verified by authql, so they
// are always signed, and hashed for storage, with the server secret: rotating
// the public signing keys never logs anybody out. Each kind is refused where the
// other is expected, by its typ and by its claims.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/authql/authql/internal/jwtstrict"
)

// Header typ values; compared case-insensitively, as RFC 8725 asks.
const (
	TypeAccess  = "at+jwt"
	TypeRefresh = "refresh+jwt"
)

// ErrInvalid is wrapped by every verification failure; the wrapped reason is for
// logs and tests, never for clients.
var ErrInvalid = errors.New("invalid token")

// AccessClaims are what a verified access token says. Times are whole
// seconds, in UTC.
type AccessClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	SessionID string
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// EmailVerified and AMR are the email_verified and amr claims.
	EmailVerified bool
	AMR           []string
}

// RefreshClaims are the claims of a refresh token. Times are whole seconds,
// in UTC; a zero time is a claim left out.
type RefreshClaims struct {
	Issuer    string
	Subject   string
	SessionID string
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Key is one access-token key. HS256 keys sign and verify with the same secret;
// asymmetric keys sign with the private half and verify with the public one.
type Key struct {
	ID string
	// Algorithm is the JWS alg: "HS256", "EdDSA", "ES256" or "RS256".
	Algorithm string
	SignKey   any // nil for a verify-only key
	VerifyKey any
}

// methods are the algorithms a Key may name. The list is closed: "none" and
// anything a key set cannot hold never sign nor verify.
var methods = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256,
	"EdDSA": jwt.SigningMethodEdDSA,
	"ES256": jwt.SigningMethodES256,
	"RS256": jwt.SigningMethodRS256,
}

// key is a Key with its algorithm resolved.
type key struct {
	Key
	method jwt.SigningMethod
}

// Config configures a Service.
type Config struct {
	Secret    []byte
	Issuer    string
	Audience  string
	AccessTTL time.Duration
	// Keys are the access-token keys; the first with a SignKey signs. Empty means
	// HS256 with Secret.
	Keys []Key
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service issues and verifies tokens. It is safe for concurrent use.
type Service struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	signer   *key
	byKID    map[string]*key
	access   *jwt.Parser
	refresh  *jwt.Parser
	logout   *jwt.Parser
	// The key functions, made once: a method value made per parse allocates.
	accessKey, refreshKey jwt.Keyfunc
	// verified are the access tokens that verified already.
	verified verified
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("token: server secret must be at least 32 bytes")
	}
	s := &Service{
		secret: cfg.Secret, issuer: cfg.Issuer, audience: cfg.Audience, ttl: cfg.AccessTTL,
		now: cfg.Now, byKID: map[string]*key{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	keys := cfg.Keys
	if len(keys) == 0 {
		keys = []Key{{ID: SecretKID(cfg.Secret), Algorithm: "HS256", SignKey: cfg.Secret, VerifyKey: cfg.Secret}}
	}
	var algs []string
	for _, spec := range keys {
		m, ok := methods[spec.Algorithm]
		if !ok {
			return nil, fmt.Errorf("token: key %q: unsupported algorithm %q", spec.ID, spec.Algorithm)
		}
		k := &key{Key: spec, method: m}
		if _, dup := s.byKID[k.ID]; dup || k.ID == "" {
			return nil, fmt.Errorf("token: key id %q is empty or repeated", k.ID)
		}
		s.byKID[k.ID] = k
		algs = appendUnique(algs, spec.Algorithm)
		if k.SignKey != nil && s.signer == nil {
			s.signer = k
		}
	}
	if s.signer == nil {
		return nil, errors.New("token: no signing key")
	}
	timeFunc := jwt.WithTimeFunc(func() time.Time { return s.now() })
	// Strict decoding: a token has exactly one spelling. Lenient base64 would
	// accept variants of a refresh token whose hash matches no stored row, and
	// so slip a rotated token past reuse detection.
	s.access = jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithIssuer(cfg.Issuer), jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(), jwt.WithStrictDecoding(), timeFunc)
	s.refresh = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(), jwt.WithStrictDecoding(), timeFunc)
	s.logout = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	s.accessKey, s.refreshKey = s.accessKeyFor, s.refreshKeyFor
	return s, nil
}

// SecretKID names the HS256 key without revealing it: a truncated HMAC of a
// fixed label, stable across restarts and instances that share the secret.
func SecretKID(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authql key id"))
	return "hs-" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9])
}

func appendUnique(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// NewID returns a random identifier for tokens, sessions and users. Version 7
// UUIDs are time-ordered, which keeps B-tree inserts at the end of the index.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Facts are what an access token tells other services about its user and
// session, beyond who they are.
type Facts struct {
	// EmailVerified is the email_verified claim.
	EmailVerified bool
	// AMR is the amr claim (RFC 8176): how the session was authenticated,
	// "pwd", "otp", "email".
	AMR []string
}

// IssueAccess signs an access token for the user's session, expiring after the
// configured lifetime but never after notAfter (the session's end).
func (s *Service) IssueAccess(userID, sessionID string, notAfter time.Time, facts Facts) (string, time.Time, error) {
	now := s.now().Truncate(time.Second)
	exp := now.Add(s.ttl)
	if exp.After(notAfter) {
		exp = notAfter.Truncate(time.Second)
	}
	claims := accessJWT{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.issuer, Subject: userID, Audience: jwt.ClaimStrings{s.audience}, ID: NewID(),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
		SessionID: sessionID, EmailVerified: facts.EmailVerified, AMR: facts.AMR,
	}
	t := jwt.NewWithClaims(s.signer.method, claims)
	t.Header["typ"] = TypeAccess
	t.Header["kid"] = s.signer.ID
	signed, err := t.SignedString(s.signer.SignKey)
	return signed, exp, err
}

// VerifyAccess checks an access token: algorithm and key by kid, typ, signature,
// iss, aud and exp (no leeway). iat is not checked: a clock a second behind
// another instance's must not refuse that instance's fresh tokens.
func (s *Service) VerifyAccess(raw string) (*AccessClaims, error) {
	if c, ok := s.verified.get(raw); ok {
		// As the parser checks exp: valid strictly before it, no leeway.
		if !s.now().Before(c.ExpiresAt) {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, jwt.ErrTokenExpired)
		}
		claims := *c
		return &claims, nil
	}
	if err := jwtstrict.Check(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var c accessJWT
	_, err := s.access.ParseWithClaims(raw, &c, s.accessKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Subject == "" || c.SessionID == "" {
		return nil, fmt.Errorf("%w: missing sub or sid", ErrInvalid)
	}
	claims := &AccessClaims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, SessionID: c.SessionID, ID: c.ID,
		IssuedAt: timeOf(c.IssuedAt), ExpiresAt: timeOf(c.ExpiresAt),
		EmailVerified: c.EmailVerified, AMR: c.AMR,
	}
	if c.NotBefore == nil {
		remembered := *claims
		s.verified.put(raw, &remembered)
	}
	return claims, nil
}

// Errors of the key functions, made once.
var (
	errNotAccess   = errors.New("not an access token")
	errNotRefresh  = errors.New("not a refresh token")
	errUnknownKID  = errors.New("unknown kid")
	errKeyMismatch = errors.New("algorithm does not match the key")
)

// accessKeyFor finds the key of an access token by its kid.
func (s *Service) accessKeyFor(t *jwt.Token) (any, error) {
	if !hasType(t, TypeAccess) {
		return nil, errNotAccess
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := s.byKID[kid]
	if !ok {
		return nil, errUnknownKID
	}
	// The key decides the algorithm, never the token: this is what stops
	// algorithm confusion (an HS256 token "signed" with a public key).
	if t.Method.Alg() != k.Algorithm {
		return nil, errKeyMismatch
	}
	return k.VerifyKey, nil
}

// refreshKeyFor is the server secret, for refresh tokens only.
func (s *Service) refreshKeyFor(t *jwt.Token) (any, error) {
	if !hasType(t, TypeRefresh) {
		return nil, errNotRefresh
	}
	return s.secret, nil
}

// SignRefresh signs refresh claims with the server secret. HMAC is
// deterministic, so the same claims always give the same token: the current
// token of a session can be derived again from its stored claims.
func (s *Service) SignRefresh(c RefreshClaims) (string, error) {
	c.Issuer = s.issuer
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, refreshJWT{
		Issuer: c.Issuer, Subject: c.Subject, SessionID: c.SessionID, ID: c.ID,
		IssuedAt: numericDate(c.IssuedAt), ExpiresAt: numericDate(c.ExpiresAt),
	})
	t.Header["typ"] = TypeRefresh
	return t.SignedString(s.secret)
}

// NewRefresh returns the claims of a new refresh token of the session, expiring
// after ttl but never after notAfter.
func (s *Service) NewRefresh(userID, sessionID string, ttl time.Duration, notAfter time.Time) RefreshClaims {
	now := s.now().Truncate(time.Second)
	exp := now.Add(ttl)
	if exp.After(notAfter) {
		exp = notAfter.Truncate(time.Second)
	}
	return RefreshClaims{
		Issuer: s.issuer, Subject: userID, SessionID: sessionID, ID: NewID(),
		IssuedAt: now.UTC(), ExpiresAt: exp.UTC(),
	}
}

// VerifyRefresh checks a refresh token: HS256 with the server secret, typ,
// iss and exp (no leeway).
func (s *Service) VerifyRefresh(raw string) (*RefreshClaims, error) {
	return s.verifyRefresh(s.refresh, raw)
}

// VerifyRefreshIgnoringExpiry checks everything VerifyRefresh does but exp: a
// genuine but expired token may still log its session out.
func (s *Service) VerifyRefreshIgnoringExpiry(raw string) (*RefreshClaims, error) {
	c, err := s.verifyRefresh(s.logout, raw)
	if err == nil && c.Issuer != s.issuer {
		return nil, fmt.Errorf("%w: wrong issuer", ErrInvalid)
	}
	return c, err
}

func (s *Service) verifyRefresh(p *jwt.Parser, raw string) (*RefreshClaims, error) {
	// One spelling per token: a variant that verified would hash to no stored
	// row and so be refused without counting as reuse of the token it copies.
	if err := jwtstrict.Check(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var c refreshJWT
	_, err := p.ParseWithClaims(raw, &c, s.refreshKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Subject == "" || c.SessionID == "" || c.ID == "" || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: missing claims", ErrInvalid)
	}
	return &RefreshClaims{
		Issuer: c.Issuer, Subject: c.Subject, SessionID: c.SessionID, ID: c.ID,
		IssuedAt: timeOf(c.IssuedAt), ExpiresAt: timeOf(c.ExpiresAt),
	}, nil
}

// HashRefresh is the only form of a refresh token that is stored: HMAC-SHA-256
// keyed with the server secret, so a copy of the database yields no token and
// no offline guess can be checked without the secret.
func (s *Service) HashRefresh(raw string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(raw))
	return hex.EncodeToString(m.Sum(nil))
}

func hasType(t *jwt.Token, want string) bool {
	typ, _ := t.Header["typ"].(string)
	typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
	return typ == want
}

// accessJWT is an access token's claims as they are signed.
type accessJWT struct {
	jwt.RegisteredClaims
	SessionID     string   `json:"sid"`
	EmailVerified bool     `json:"email_verified"`
	AMR           []string `json:"amr"`
}

// refreshJWT is a refresh token's claims as they are signed. The field order
// is fixed, so the same claims always sign to the same token.
type refreshJWT struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	SessionID string           `json:"sid"`
	ID        string           `json:"jti"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
}

// numericDate is t in whole seconds; nil, the claim left out, for a zero t.
func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

// timeOf is the time of a claim in UTC; zero for a claim left out.
func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.UTC()
}

// GetExpirationTime and friends make refreshJWT a jwt.Claims.
func (c refreshJWT) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }

// GetIssuedAt implements jwt.Claims.
func (c refreshJWT) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt, nil }

// GetNotBefore implements jwt.Claims.
func (c refreshJWT) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c refreshJWT) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c refreshJWT) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c refreshJWT) GetAudience() (jwt.ClaimStrings, error) { return nil, nil }
