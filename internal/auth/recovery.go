package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/models"
)

// Audit events and the revocation reason of the account lifecycle.
const (
	EventEmailVerified          = "email_verified"
	EventPasswordResetRequested = "password_reset_requested"
	EventPasswordReset          = "password_reset"
	ReasonPasswordReset         = "password_reset"
)

// RequestPasswordReset mails a reset link to the account of email, if there
// is one, and answers the same either way, in the same time: the request
// only checks its input and its limits, then hands the address to the reset
// workers, which look it up, store the token, audit and queue the mail after
// the answer has gone. Whether an address has an account therefore shows
// neither in the answer nor in its timing.
func (s *Service) RequestPasswordReset(ctx context.Context, c Client, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if s.resets == nil {
		return ErrMailOff
	}
	// A refusal for a known address shows in that account's trail; the
	// lookup runs for every refused address, known or not.
	owner := s.ownerOf(ctx, email)
	if err := s.take(ctx, c, s.opts.Limits.ResetIP, c.limitKey(), nil); err != nil {
		return err
	}
	if err := s.take(ctx, c, s.opts.Limits.PasswordReset, email, owner); err != nil {
		s.refund(ctx, s.opts.Limits.ResetIP, c.limitKey())
		return err
	}
	return s.resets.submit(ctx, resetJob{client: c, email: email})
}

// resetWorkers do the database work of reset requests off the request path:
// a bounded queue and a few goroutines draining it. A full queue makes the
// request wait for a free slot, which depends on the load and never on the
// address: neither doing the work inline (slower for a known address) nor
// dropping it (a lost mail) would keep that promise. Close drains the queue.
type resetWorkers struct {
	s    *Service
	jobs chan resetJob
	wg   sync.WaitGroup
	mu   sync.RWMutex // submit holds it shared while it may send on jobs; close takes it
	done bool
}

type resetJob struct {
	client Client
	email  string
}

// Default sizes of the reset pool: a request takes a few milliseconds of
// database work, so two workers keep up with far more than the per-IP limit
// lets one client ask, and the queue absorbs a burst.
const (
	defaultResetWorkers = 2
	defaultResetQueue   = 1024
	// resetJobTimeout bounds one request's work once it has been answered.
	resetJobTimeout = 30 * time.Second
)

func startResetWorkers(s *Service, workers, queue int) *resetWorkers {
	if workers <= 0 {
		workers = defaultResetWorkers
	}
	if queue <= 0 {
		queue = defaultResetQueue
	}
	w := &resetWorkers{s: s, jobs: make(chan resetJob, queue)}
	w.wg.Add(workers)
	for range workers {
		go func() {
			defer w.wg.Done()
			for j := range w.jobs {
				w.s.passwordResetRequested(j)
			}
		}()
	}
	return w
}

// submit queues a job, waiting for a slot while the queue is full; ErrBusy
// when the request ends first, ErrUnavailable once the service is closing.
func (w *resetWorkers) submit(ctx context.Context, j resetJob) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.done {
		return ErrUnavailable
	}
	select {
	case w.jobs <- j:
		return nil
	case <-ctx.Done():
		return ErrBusy
	}
}

// close refuses new jobs and returns once the queued ones are done.
func (w *resetWorkers) close() {
	w.mu.Lock()
	if !w.done {
		w.done = true
		close(w.jobs)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// Close finishes the password reset requests already answered: their tokens
// are stored and their mails queued before it returns. Call it after the
// server has stopped taking requests, before closing the store.
func (s *Service) Close() {
	if s.resets != nil {
		s.resets.close()
	}
}

// passwordResetRequested is a reset request's work: for an address with an
// account, a new reset token that voids the older ones, its mail and the
// audit event, in one transaction. A failure is logged; the requester asks
// again.
func (s *Service) passwordResetRequested(j resetJob) {
	ctx, cancel := context.WithTimeout(context.Background(), resetJobTimeout)
	defer cancel()
	u, err := s.store.UserByEmail(ctx, j.email)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err == nil {
		err = s.store.InTx(ctx, func(q *store.Queries) error {
			// The user row first, as every transaction that touches a user's
			// rows: the account may have been deleted since the lookup.
			if _, err := q.LockCredentials(ctx, u.ID); err != nil {
				return err
			}
			// Only the newest link works.
			if _, err := q.VoidEmailTokens(ctx, u.ID, MailPasswordReset, s.now()); err != nil {
				return err
			}
			if err := s.mailToken(ctx, q, u, MailPasswordReset, s.opts.Mail.ResetTTL); err != nil {
				return err
			}
			return s.audit(ctx, q, Event{Type: EventPasswordResetRequested, Client: j.client, UserID: u.ID})
		})
	}
	switch {
	case err == nil:
		s.opts.Mail.Mailer.Notify()
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
	default:
		s.log.ErrorContext(ctx, "password reset request not processed", "err", err)
	}
}

// ResetPassword consumes a reset token, sets the new password, marks the
// address verified (the link reached it), voids the other reset links,
// revokes every session and starts a new one, authenticated by email: one
// transaction, so of two requests with one token exactly one succeeds. A new
// password outside policy is refused before the token is looked at, so the
// link still works for a better one.
func (s *Service) ResetPassword(ctx context.Context, c Client, raw, newPassword string) (*Payload, error) {
	if err := validatePassword("newPassword", newPassword); err != nil {
		return nil, err
	}
	t, hash, err := s.findEmailToken(ctx, raw, MailPasswordReset)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if err != nil {
		return nil, s.fail(notFoundAs(err, ErrInvalidToken))
	}
	pwHash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return nil, s.fail(err)
	}
	u.PasswordHash, u.EmailVerified = pwHash, true
	return s.startSession(ctx, c, u, EventPasswordReset, AMREmail, func(q *store.Queries) error {
		// The user row before its token and sessions (see makeRoom).
		if _, err := q.LockCredentials(ctx, u.ID); err != nil {
			return notFoundAs(err, ErrInvalidToken)
		}
		if err := s.spendEmailToken(ctx, q, hash, MailPasswordReset, u.ID); err != nil {
			return err
		}
		now := s.now()
		// A new credentials version: a login that checked the old password
		// and has not committed its session yet is refused (passwordSuffices).
		if ok, err := q.ResetPassword(ctx, u.ID, pwHash, now); err != nil || !ok {
			return or(err, ErrInvalidToken)
		}
		if _, err := q.VoidEmailTokens(ctx, u.ID, MailPasswordReset, now); err != nil {
			return err
		}
		if _, err := q.RevokeUserSessions(ctx, u.ID, "", ReasonPasswordReset, now); err != nil {
			return err
		}
		// A login waiting for its second factor began with the old password.
		_, err := q.DeleteMFAChallenges(ctx, u.ID)
		return err
	})
}

// VerifyEmail consumes a verification token and marks its address verified.
func (s *Service) VerifyEmail(ctx context.Context, c Client, raw string) (*models.User, error) {
	t, hash, err := s.findEmailToken(ctx, raw, MailVerifyEmail)
	if err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(q *store.Queries) error {
		if _, err := q.LockCredentials(ctx, t.UserID); err != nil {
			return notFoundAs(err, ErrInvalidToken)
		}
		if err := s.spendEmailToken(ctx, q, hash, MailVerifyEmail, t.UserID); err != nil {
			return err
		}
		if _, err := q.MarkEmailVerified(ctx, t.UserID, s.now()); err != nil {
			return err
		}
		return s.audit(ctx, q, Event{Type: EventEmailVerified, Client: c, UserID: t.UserID})
	})
	if err != nil {
		return nil, s.fail(err)
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	return u, s.fail(notFoundAs(err, ErrInvalidToken))
}

// ResendVerificationEmail mails the caller a new verification link; nothing
// when the address is verified already. Earlier links keep working until
// they expire: any of them proves the same address.
func (s *Service) ResendVerificationEmail(ctx context.Context, c Client, p Principal) error {
	if s.opts.Mail.Mailer == nil {
		return ErrMailOff
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return s.fail(notFoundAs(err, ErrUnauthenticated))
	}
	if u.EmailVerified {
		return nil
	}
	if err := s.take(ctx, c, s.opts.Limits.VerifyEmail, u.ID, func() string { return u.ID }); err != nil {
		return err
	}
	return s.sendVerification(ctx, u)
}

// sendVerification queues a verification mail to u in a transaction of its own.
func (s *Service) sendVerification(ctx context.Context, u *models.User) error {
	err := s.store.InTx(ctx, func(q *store.Queries) error {
		if _, err := q.LockCredentials(ctx, u.ID); err != nil {
			return notFoundAs(err, ErrUnauthenticated)
		}
		return s.mailToken(ctx, q, u, MailVerifyEmail, s.opts.Mail.VerifyTTL)
	})
	if err != nil {
		return s.fail(err)
	}
	s.opts.Mail.Mailer.Notify()
	return nil
}
