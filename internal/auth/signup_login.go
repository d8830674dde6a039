package auth

import (
	"context"
	"errors"
	"time"

	"github.com/authql/authql/internal/ratelimit"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/token"
	"github.com/authql/authql/models"
)

// Signup creates an account and its first session.
func (s *Service) Signup(ctx context.Context, c Client, email, pw string) (*Payload, error) {
	email, err := s.admit(ctx, c, s.opts.Limits.Signup, email, pw)
	if err != nil {
		return nil, err
	}
	// A cheap look first spares an argon2id hash for a taken address; the unique
	// index still decides between racing signups.
	if _, err := s.store.UserByEmail(ctx, email); err == nil {
		return nil, ErrEmailTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, s.fail(err)
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return nil, s.fail(err)
	}
	now := s.now()
	u := &models.User{ID: token.NewID(), Email: email, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	mailer := s.opts.Mail.Mailer
	p, err := s.startSession(ctx, c, u, EventSignup, AMRPassword, func(q *store.Queries) error {
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		if mailer == nil {
			return nil
		}
		// With the account: an account never lacks its first link, and a
		// link never outlives a signup that failed.
		return s.mailToken(ctx, q, u, MailVerifyEmail, s.opts.Mail.VerifyTTL)
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, ErrEmailTaken
	}
	if err == nil && mailer != nil {
		mailer.Notify()
	}
	return p, err
}

// Login checks credentials and starts a session, or, for an account with
// MFA, answers MFARequiredError with the mfaToken that VerifyMFA takes.
// Unknown email and wrong password are one error, and both spend one
// password verification.
func (s *Service) Login(ctx context.Context, c Client, email, pw string) (_ *Payload, err error) {
	defer func() { s.opts.Observer.Login(loginResult(err)) }()
	// Attempts are taken before the password is checked and given back when it
	// was right, so only failures count and racing attempts cannot overshoot.
	email, err = s.admit(ctx, c, s.opts.Limits.LoginIP, email, pw)
	if err != nil {
		return nil, err
	}
	accountKey := email + "\x00" + c.limitKey()
	// A refusal for the account shows in that account's own audit trail.
	owner := s.ownerOf(ctx, email)
	if err := s.take(ctx, c, s.opts.Limits.LoginAccountIP, accountKey, owner); err != nil {
		s.refund(ctx, s.opts.Limits.LoginIP, c.limitKey())
		return nil, err
	}
	// Successes per account, from anywhere, are bounded too: one account must
	// not keep the hashers busy and mint sessions without end. Failures count
	// above, so they give this one back.
	if err := s.take(ctx, c, s.opts.Limits.LoginAccount, email, owner); err != nil {
		s.refund(ctx, s.opts.Limits.LoginAccountIP, accountKey)
		s.refund(ctx, s.opts.Limits.LoginIP, c.limitKey())
		return nil, err
	}
	u, err := s.checkPassword(ctx, c, email, pw)
	if err != nil {
		s.refund(ctx, s.opts.Limits.LoginAccount, email)
	}
	if !errors.Is(err, ErrInvalidCredentials) {
		// Only wrong credentials count: a success, or a failure of ours (busy
		// hashers, an unreachable database), gives the attempt back.
		s.refund(ctx, s.opts.Limits.LoginAccountIP, accountKey)
		s.refund(ctx, s.opts.Limits.LoginIP, c.limitKey())
	}
	if err != nil {
		return nil, err
	}
	// An account with a second factor gets an mfaToken instead of a session,
	// also when its factor was confirmed after u was read.
	if !u.MFAEnabled {
		p, err := s.startSession(ctx, c, u, EventLogin, AMRPassword, passwordSuffices(ctx, u, s.now()))
		if errors.Is(err, ErrInvalidCredentials) {
			s.auditBestEffort(ctx, Event{Type: EventLoginFailed, Client: c, UserID: u.ID, Detail: "password_changed"})
		}
		if !errors.Is(err, errSecondFactorNow) {
			return p, err
		}
	}
	return nil, s.requireSecondFactor(ctx, u)
}

// admit opens Signup and Login: the address in its stored form, a password
// of an acceptable shape, then one attempt of the client against rule. Input
// is checked first so that a malformed request spends no attempt.
func (s *Service) admit(ctx context.Context, c Client, rule ratelimit.Rule, email, pw string) (string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	if err := validatePassword("password", pw); err != nil {
		return "", err
	}
	if err := s.take(ctx, c, rule, c.limitKey(), nil); err != nil {
		return "", err
	}
	return email, nil
}

// How a session was authenticated, stored with it and carried by its access
// tokens as amr (RFC 8176 values, space-separated).
const (
	AMRPassword    = "pwd"
	AMRPasswordOTP = "pwd otp"
	AMREmail       = "email"
)

// startSession creates a session of u with its first refresh token and answers
// the token pair; amr says how u proved who they are. In the same transaction it first runs what entitles u to the
// session: the signup that creates u, or the check that the credentials a
// login verified are still u's; then it makes room under the session cap.
func (s *Service) startSession(ctx context.Context, c Client, u *models.User, event, amr string, entitle func(q *store.Queries) error) (*Payload, error) {
	now := s.now()
	sess := &models.Session{
		ID: token.NewID(), UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(s.opts.SessionMaxAge).Truncate(time.Second),
		UserAgent: clip(c.UserAgent, 512), IPAddress: clip(c.IP, 45), AMR: amr,
	}
	claims := s.tokens.NewRefresh(u.ID, sess.ID, s.opts.RefreshTTL, sess.ExpiresAt)
	refresh, row, err := s.signRefresh(claims, nil)
	if err != nil {
		return nil, s.fail(err)
	}
	sess.CurrentTokenID = row.ID
	// The rows are built once; a transaction that runs again inserts them as
	// they are, since the attempt before left nothing behind.
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		if err := entitle(q); err != nil {
			return err
		}
		// A user this very transaction created has no session to make room
		// among; counting would only take gap locks in the sessions index next
		// to other signups' rows, which deadlocked racing signups on InnoDB.
		if event != EventSignup {
			if err := s.makeRoom(ctx, q, c, u.ID, now); err != nil {
				return err
			}
		}
		if err := q.CreateSession(ctx, sess, row); err != nil {
			return err
		}
		return s.audit(ctx, q, Event{Type: event, Client: c, UserID: u.ID, SessionID: sess.ID})
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return s.payload(ctx, issued{sess: sess, refresh: refresh, exp: row.ExpiresAt}, u)
}
