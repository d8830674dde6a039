package auth

import (
	"context"

	"github.com/authql/authql/internal/ratelimit"
)

// Limits are the rate-limit rules; a zero rule is not enforced.
type Limits struct {
	LoginAccountIP ratelimit.Rule
	LoginIP        ratelimit.Rule
	LoginAccount   ratelimit.Rule
	Signup         ratelimit.Rule
	Refresh        ratelimit.Rule
	Logout         ratelimit.Rule
	ChangePassword ratelimit.Rule
	PasswordReset  ratelimit.Rule // per address, known or not
	ResetIP        ratelimit.Rule
	VerifyEmail    ratelimit.Rule // per account
	MFA            ratelimit.Rule // wrong second-factor codes per account
}

// take counts one attempt against rule. A refused attempt is audited, in the
// trail of the account owner names (nil when the limit is not an account's).
func (s *Service) take(ctx context.Context, c Client, rule ratelimit.Rule, key string, owner func() string) error {
	if rule.Limit <= 0 {
		return nil
	}
	res, err := s.limiter.Take(ctx, rule, key)
	if err != nil {
		// The limiter already falls back to in-process state when Redis is down;
		// an error here is unexpected, and refusing every login would be worse.
		s.log.ErrorContext(ctx, "rate limiter failed", "rule", rule.Name, "err", err)
		return nil
	}
	if res.Allowed {
		return nil
	}
	e := Event{Type: EventRateLimited, Client: c, Detail: rule.Name}
	if owner != nil {
		e.UserID = owner()
	}
	s.auditRateLimited(ctx, e, rule)
	s.opts.Observer.RateLimited(rule.Name)
	return &RateLimitError{RetryAfter: res.RetryAfter}
}

// refund gives back an attempt taken by take, for an outcome that must not count.
func (s *Service) refund(ctx context.Context, rule ratelimit.Rule, key string) {
	if rule.Limit <= 0 {
		return
	}
	if err := s.limiter.Refund(ctx, rule, key); err != nil {
		s.log.WarnContext(ctx, "rate limiter refund failed", "rule", rule.Name, "err", err)
	}
}

// ownerOf names, for take, the account of an address: "" for an address
// without one. It reads the account only when a refusal is audited.
func (s *Service) ownerOf(ctx context.Context, email string) func() string {
	return func() string {
		if u, err := s.store.UserByEmail(ctx, email); err == nil {
			return u.ID
		}
		return ""
	}
}
