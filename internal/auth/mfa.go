package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/authql/authql/internal/recovery"
	"github.com/authql/authql/internal/secretbox"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/token"
	"github.com/authql/authql/internal/totp"
	"github.com/authql/authql/models"
)

// The second factor: a TOTP authenticator with recovery codes, and the second
// step of a login for an account that has one.
//
// Every check that a code may still be used is the UPDATE that spends it
// (store/mfa.go), and every flow that turns MFA on or off, or starts a session
// that depends on it, first locks the user row (store.LockMFAState): of racing
// requests with one code exactly one wins, and a login never starts a
// password-only session for an account whose factor was confirmed meanwhile.

// Audit event types of the second factor. mfa_enabled, mfa_disabled and
// recovery_code_used record changes, written with them; mfa_failed records a
// refusal, best effort.
const (
	EventMFAEnabled       = "mfa_enabled"
	EventMFADisabled      = "mfa_disabled"
	EventMFAFailed        = "mfa_failed"
	EventRecoveryCodeUsed = "recovery_code_used"
)

// MaxMFAAttempts is how many codes one mfaToken may have checked: after that
// many wrong ones it is dead, even for the right code.
const MaxMFAAttempts = 5

// Refusals of the TOTP flows that are the caller's to fix: BAD_USER_INPUT.
var (
	// ErrMFAEnabled refuses enrolling (or confirming) a factor while one is
	// active: a confirmed factor is only ever replaced by disabling it first.
	ErrMFAEnabled = errors.New("MFA is already enabled: disable MFA first")
	// ErrNoTOTPEnrollment refuses confirmTotp without a pending enrollment.
	ErrNoTOTPEnrollment = errors.New("no TOTP enrollment is pending: call enrollTotp first")
	// ErrMFANotEnabled refuses disableTotp for an account without MFA.
	ErrMFANotEnabled = errors.New("MFA is not enabled")
)

// errSecondFactorNow is what a password-only session start finds when the
// account's factor was confirmed after the login read it: the login then asks
// for the second factor instead.
var errSecondFactorNow = errors.New("auth: MFA was enabled during the login")

// MFAOptions are what the second factor needs; build them with NewMFAOptions.
type MFAOptions struct {
	// Issuer names the service in authenticator apps (AUTHQL_ISSUER).
	Issuer string
	// Secrets seals TOTP secrets at rest.
	Secrets *secretbox.Box
	// RecoveryCodes computes the stored form of recovery codes.
	RecoveryCodes *recovery.Hasher
	// TokenKey keys the stored hash of mfaTokens.
	TokenKey []byte
	// TokenTTL is how long a login's mfaToken waits for its code.
	TokenTTL time.Duration
}

// NewMFAOptions derives the keys of the second factor from the server
// secret, each under a label of its own: the TOTP secrets' sealing key, the
// recovery codes' hashing key and the mfaTokens' hashing key are unrelated to
// one another and to the key that hashes refresh tokens.
func NewMFAOptions(serverSecret []byte, issuer string, tokenTTL time.Duration) (MFAOptions, error) {
	box, err := secretbox.New(serverSecret, secretbox.PurposeTOTPSecret)
	if err != nil {
		return MFAOptions{}, err
	}
	key, err := hkdf.Key(sha256.New, serverSecret, nil, "authql mfa token hash v1", sha256.Size)
	if err != nil {
		return MFAOptions{}, err
	}
	return MFAOptions{Issuer: issuer, Secrets: box, RecoveryCodes: recovery.NewHasher(serverSecret), TokenKey: key, TokenTTL: tokenTTL}, nil
}

// TOTPEnrollment is a factor being enrolled: its secret for manual entry and
// its otpauth:// URI for a QR code.
type TOTPEnrollment struct {
	Secret string
	URI    string
}

// EnrollTOTP starts enrolling a TOTP factor for the caller: a new secret,
// stored sealed as the pending factor (replacing a pending one). It stays
// inactive until ConfirmTOTP proves the authenticator has it.
func (s *Service) EnrollTOTP(ctx context.Context, c Client, p Principal) (*TOTPEnrollment, error) {
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, s.fail(notFoundAs(err, ErrUnauthenticated))
	}
	if u.MFAEnabled {
		return nil, ErrMFAEnabled
	}
	secret := totp.NewSecret()
	f := &models.TOTPFactor{UserID: u.ID, Secret: s.opts.MFA.Secrets.Seal([]byte(secret), []byte(u.ID)), CreatedAt: s.now()}
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		_, on, err := q.LockMFAState(ctx, u.ID)
		if err != nil {
			return notFoundAs(err, ErrUnauthenticated)
		}
		if _, err := s.lockLiveSession(ctx, q, p); err != nil {
			return err
		}
		if on {
			return ErrMFAEnabled
		}
		return q.StartTOTPEnrollment(ctx, f)
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, ErrMFAEnabled
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return &TOTPEnrollment{Secret: secret, URI: totp.URI(s.opts.MFA.Issuer, u.Email, secret)}, nil
}

// ConfirmTOTP activates the caller's pending factor with a current code,
// which it spends, and returns the account's new recovery codes: the only
// time they are ever shown. The factor, users.mfa_enabled, the codes and the
// audit event commit together.
func (s *Service) ConfirmTOTP(ctx context.Context, c Client, p Principal, code string) ([]string, error) {
	at, err := s.takeMFA(ctx, c, p.UserID, "")
	if err != nil {
		return nil, err
	}
	codes := recovery.Generate()
	hashes := make([]string, len(codes))
	for i, rc := range codes {
		hashes[i], _ = s.opts.MFA.RecoveryCodes.Hash(p.UserID, rc)
	}
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		_, on, err := q.LockMFAState(ctx, p.UserID)
		if err != nil {
			return notFoundAs(err, ErrUnauthenticated)
		}
		if _, err := s.lockLiveSession(ctx, q, p); err != nil {
			return err
		}
		f, err := q.TOTPFactorByUser(ctx, p.UserID)
		switch {
		case on || err == nil && f.ConfirmedAt != nil:
			return ErrMFAEnabled
		case errors.Is(err, store.ErrNotFound):
			return ErrNoTOTPEnrollment
		case err != nil:
			return err
		}
		now := s.now()
		step, ok, err := s.matchTOTP(f, code, now)
		if err != nil || !ok {
			return or(err, ErrInvalidMFACode)
		}
		// A step at or before the last one used is a replayed code.
		if ok, err := q.ConfirmTOTPFactor(ctx, p.UserID, step, now); err != nil || !ok {
			return or(err, ErrInvalidMFACode)
		}
		if err := q.SetMFAEnabled(ctx, p.UserID, true, now); err != nil {
			return err
		}
		if err := q.ReplaceRecoveryCodes(ctx, p.UserID, hashes, now); err != nil {
			return err
		}
		return s.audit(ctx, q, Event{Type: EventMFAEnabled, Client: c, UserID: p.UserID, SessionID: p.SessionID})
	})
	if err := s.settleMFA(ctx, c, at, p.SessionID, err); err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns the caller's second factor off, proven by a current TOTP
// code or an unused recovery code: the factor, the recovery codes and the
// pending logins' challenges go, and users.mfa_enabled is cleared, together.
func (s *Service) DisableTOTP(ctx context.Context, c Client, p Principal, code string) error {
	at, err := s.takeMFA(ctx, c, p.UserID, "")
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		_, on, err := q.LockMFAState(ctx, p.UserID)
		if err != nil {
			return notFoundAs(err, ErrUnauthenticated)
		}
		if _, err := s.lockLiveSession(ctx, q, p); err != nil {
			return err
		}
		f, err := q.TOTPFactorByUser(ctx, p.UserID)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && (!on || f.ConfirmedAt == nil):
			return ErrMFANotEnabled
		case err != nil:
			return err
		}
		now := s.now()
		how, err := s.spendCode(ctx, q, f, code, now)
		if err != nil {
			return err
		}
		if err := q.DeleteUserMFA(ctx, p.UserID); err != nil {
			return err
		}
		if err := q.SetMFAEnabled(ctx, p.UserID, false, now); err != nil {
			return err
		}
		return s.audit(ctx, q, Event{Type: EventMFADisabled, Client: c, UserID: p.UserID, SessionID: p.SessionID, Detail: how})
	})
	return s.settleMFA(ctx, c, at, p.SessionID, err)
}

// VerifyMFA is a login's second step: the mfaToken the login answered and a
// TOTP or recovery code start the session, with amr "pwd otp".
//
// Every code presented is first counted against the token, in a transaction
// of its own, and only the first MaxMFAAttempts are checked at all: however
// many requests race with one token, no more codes than that are ever tried.
// The right code then consumes the token, spends the code and starts the
// session in one transaction, which refuses a token whose account changed its
// password or turned MFA off since the login.
func (s *Service) VerifyMFA(ctx context.Context, c Client, mfaToken, code string) (*Payload, error) {
	if mfaToken == "" || len(mfaToken) > 128 {
		return nil, ErrInvalidToken
	}
	ch, err := s.store.MFAChallengeByHash(ctx, s.hashMFAToken(mfaToken))
	if err != nil {
		return nil, s.fail(notFoundAs(err, ErrInvalidToken))
	}
	if ch.UsedAt != nil || !s.now().Before(ch.ExpiresAt) || ch.FailedAttempts >= MaxMFAAttempts {
		return nil, ErrInvalidToken
	}
	u, err := s.store.UserByID(ctx, ch.UserID)
	if err != nil {
		return nil, s.fail(notFoundAs(err, ErrInvalidToken))
	}
	// Wrong codes count as failed logins too: the password was only half.
	at, err := s.takeMFA(ctx, c, u.ID, u.Email+"\x00"+c.limitKey())
	if err != nil {
		return nil, err
	}
	n, err := store.InTxValue(ctx, s.store, func(q *store.Queries) (int, error) { return q.RecordMFAFailure(ctx, ch.ID) })
	if err == nil && n > MaxMFAAttempts {
		err = ErrInvalidToken
	}
	if err != nil {
		s.refundMFA(ctx, at)
		return nil, s.fail(notFoundAs(err, ErrInvalidToken))
	}
	p, err := s.startSession(ctx, c, u, EventLogin, AMRPasswordOTP, func(q *store.Queries) error {
		// Written, not only locked: see passwordSuffices.
		if err := q.TouchLogin(ctx, u.ID, s.now()); err != nil {
			return err
		}
		v, on, err := q.LockMFAState(ctx, u.ID)
		if err != nil {
			return notFoundAs(err, ErrInvalidToken)
		}
		if !on || v != ch.CredentialsVersion {
			return ErrInvalidToken
		}
		now := s.now()
		// This attempt was admitted by its count above: the token's failures
		// no longer decide, only whether it is still unused and unexpired.
		if ok, err := q.ConsumeMFAChallenge(ctx, ch.ID, math.MaxInt32, now); err != nil || !ok {
			return or(err, ErrInvalidToken)
		}
		f, err := q.TOTPFactorByUser(ctx, u.ID)
		if err != nil || f.ConfirmedAt == nil {
			return or(notFoundAs(err, ErrInvalidToken), ErrInvalidToken)
		}
		how, err := s.spendCode(ctx, q, f, code, now)
		if err != nil || how != usedRecoveryCode {
			return err
		}
		return s.audit(ctx, q, Event{Type: EventRecoveryCodeUsed, Client: c, UserID: u.ID})
	})
	if err := s.settleMFA(ctx, c, at, "", err); err != nil {
		return nil, err
	}
	return p, nil
}

// requireSecondFactor answers a login whose password was right for an account
// with MFA: a new mfaToken, stored only as its keyed hash with the
// credentials version the login verified.
func (s *Service) requireSecondFactor(ctx context.Context, u *models.User) error {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails: it crashes the program instead
	raw := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	ch := &models.MFAChallenge{
		ID: token.NewID(), UserID: u.ID, Hash: s.hashMFAToken(raw), ExpiresAt: now.Add(s.opts.MFA.TokenTTL),
		CredentialsVersion: u.CredentialsVersion, CreatedAt: now,
	}
	if err := s.store.CreateMFAChallenge(ctx, ch); err != nil {
		return s.fail(err)
	}
	return &MFARequiredError{Token: raw}
}

// passwordSuffices is the entitlement of a password-only login: the
// credentials it verified are still the user's, and the account has no second
// factor, both read under the one lock of the user row that a password change
// and confirming a factor take. A login whose password was changed after it
// was read and verified is refused: the change revoked every session it could
// see, and this one would escape it. Recording the login on the user's row
// first makes the check and the session one step on a Galera cluster too,
// where only written rows conflict across nodes.
func passwordSuffices(ctx context.Context, u *models.User, now time.Time) func(q *store.Queries) error {
	return func(q *store.Queries) error {
		if err := q.TouchLogin(ctx, u.ID, now); err != nil {
			return err
		}
		v, on, err := q.LockMFAState(ctx, u.ID)
		if err != nil {
			return notFoundAs(err, ErrInvalidCredentials)
		}
		if v != u.CredentialsVersion {
			return ErrInvalidCredentials
		}
		if on {
			return errSecondFactorNow
		}
		return nil
	}
}

func (s *Service) hashMFAToken(raw string) string {
	m := hmac.New(sha256.New, s.opts.MFA.TokenKey)
	m.Write([]byte(raw))
	return hex.EncodeToString(m.Sum(nil))
}

// How a code proved the second factor, as audited.
const (
	usedTOTP         = "totp"
	usedRecoveryCode = "recovery_code"
)

// spendCode checks code against the user's confirmed factor f and spends it:
// a TOTP code's step, which no code of that step or an earlier one may then
// reuse, or an unused recovery code. ErrInvalidMFACode when it is neither.
func (s *Service) spendCode(ctx context.Context, q *store.Queries, f *models.TOTPFactor, code string, now time.Time) (string, error) {
	if digits := strings.Join(strings.Fields(code), ""); len(digits) == totp.Digits {
		step, ok, err := s.matchTOTP(f, digits, now)
		if err != nil || !ok {
			return "", or(err, ErrInvalidMFACode)
		}
		if ok, err := q.UseTOTPStep(ctx, f.UserID, step); err != nil || !ok {
			return "", or(err, ErrInvalidMFACode)
		}
		return usedTOTP, nil
	}
	hash, ok := s.opts.MFA.RecoveryCodes.Hash(f.UserID, code)
	if !ok {
		return "", ErrInvalidMFACode
	}
	if ok, err := q.UseRecoveryCode(ctx, f.UserID, hash, now); err != nil || !ok {
		return "", or(err, ErrInvalidMFACode)
	}
	return usedRecoveryCode, nil
}

// matchTOTP opens the factor's secret and matches code against the steps
// around now. A secret that does not open (another server secret) is an
// error of ours, never a wrong code.
func (s *Service) matchTOTP(f *models.TOTPFactor, code string, now time.Time) (int64, bool, error) {
	secret, err := s.opts.MFA.Secrets.Open(f.Secret, []byte(f.UserID))
	if err != nil {
		return 0, false, err
	}
	step, ok := totp.Match(string(secret), code, now)
	return step, ok, nil
}

// mfaAttempt is what takeMFA took: the account's rule always, and the
// (account, client) login rule for a login's second step.
type mfaAttempt struct {
	userID, accountKey string
}

// takeMFA counts one code against the limits before it is checked, so that
// racing guesses cannot overshoot; settleMFA gives it back unless the code
// was wrong.
func (s *Service) takeMFA(ctx context.Context, c Client, userID, accountKey string) (mfaAttempt, error) {
	owner := func() string { return userID }
	if err := s.take(ctx, c, s.opts.Limits.MFA, userID, owner); err != nil {
		return mfaAttempt{}, err
	}
	if accountKey != "" {
		if err := s.take(ctx, c, s.opts.Limits.LoginAccountIP, accountKey, owner); err != nil {
			s.refund(ctx, s.opts.Limits.MFA, userID)
			return mfaAttempt{}, err
		}
	}
	return mfaAttempt{userID: userID, accountKey: accountKey}, nil
}

func (s *Service) refundMFA(ctx context.Context, at mfaAttempt) {
	s.refund(ctx, s.opts.Limits.MFA, at.userID)
	if at.accountKey != "" {
		s.refund(ctx, s.opts.Limits.LoginAccountIP, at.accountKey)
	}
}

// settleMFA ends a flow that checked a code: a wrong code keeps its attempt
// and is audited; any other outcome gives the attempt back.
func (s *Service) settleMFA(ctx context.Context, c Client, at mfaAttempt, sessionID string, err error) error {
	if errors.Is(err, ErrInvalidMFACode) {
		s.auditBestEffort(ctx, Event{Type: EventMFAFailed, Client: c, UserID: at.userID, SessionID: sessionID, Detail: "wrong_code"})
		return ErrInvalidMFACode
	}
	s.refundMFA(ctx, at)
	return s.fail(err)
}

// or is err, or else the refusal when a check found nothing wrong with the
// database but everything wrong with the request.
func or(err, refusal error) error {
	if err != nil {
		return err
	}
	return refusal
}
