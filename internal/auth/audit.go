package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/authql/authql/internal/ratelimit"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/models"
)

// Audit event types, as stored and as served by myAuditEvents.
const (
	EventSignup               = "signup"
	EventLogin                = "login"
	EventLoginFailed          = "login_failed"
	EventRefresh              = "refresh"
	EventReuseDetected        = "refresh_token_reuse"
	EventLogout               = "logout"
	EventLogoutAll            = "logout_all"
	EventSessionRevoked       = "session_revoked"
	EventPasswordChanged      = "password_changed"
	EventPasswordChangeFailed = "password_change_failed"
	EventRateLimited          = "rate_limited"
)

// Why a session was revoked, stored with it.
const (
	ReasonLogout         = "logout"
	ReasonLogoutAll      = "logout_all"
	ReasonRevoked        = "revoked"
	ReasonPasswordChange = "password_change"
	ReasonReuse          = "reuse"
	// ReasonEvicted: a new session of the user went over the session cap.
	ReasonEvicted = "evicted"
)

// Event is a security event to record.
type Event struct {
	Type      string
	Client    Client
	UserID    string
	SessionID string
	// Detail is a reason class ("wrong_password"), never a secret.
	Detail string
}

// The audit trail and transactions. An event that records a change of state
// (signup, login, refresh, refresh_token_reuse, logout, logout_all,
// session_revoked, password_changed) is written by audit, in the transaction
// that makes the change: the change and its row commit together or not at
// all, so the trail never shows a rotation or a revocation that did not
// happen, nor misses one that did, and a failure to write the row fails the
// operation. An event that records a refusal (login_failed,
// password_change_failed, rate_limited) has no change to be atomic with: it is
// written by auditBestEffort (rate_limited by auditRateLimited, aggregated),
// outside any transaction, after the fact; a failure to write it is logged and
// never changes the answer.

// audit records e in the transaction of q.
func (s *Service) audit(ctx context.Context, q *store.Queries, e Event) error {
	return q.InsertAuditEvent(ctx, s.auditRow(e))
}

// auditBestEffort records a refusal on its own, logging a failure to.
func (s *Service) auditBestEffort(ctx context.Context, e Event) {
	if err := s.store.InsertAuditEvent(ctx, s.auditRow(e)); err != nil {
		s.log.ErrorContext(ctx, "audit event not recorded", "type", e.Type, "err", err)
	}
}

// auditRateLimited records a refusal by rule, best effort as any refusal,
// aggregated: all refusals of one account (or, without one, of one client
// network) by one rule in one window of the rule are one rate_limited row
// counting them, and one warning in the log. A flood of refused attempts,
// each costing the attacker one GraphQL field, would otherwise cost a row in
// the victim's trail and a log line apiece.
func (s *Service) auditRateLimited(ctx context.Context, e Event, rule ratelimit.Rule) {
	row := s.auditRow(e)
	subject := "user:" + e.UserID
	if e.UserID == "" {
		subject = "net:" + e.Client.limitKey()
	}
	var window int64 // a rule without a window counts in one row
	if rule.Window > 0 {
		window = row.CreatedAt.UnixNano() / int64(rule.Window)
	}
	sum := sha256.Sum256([]byte(EventRateLimited + "\x00" + subject + "\x00" + rule.Name + "\x00" + strconv.FormatInt(window, 10)))
	key := hex.EncodeToString(sum[:])
	row.DedupeKey = &key
	created, err := s.store.CountAuditEvent(ctx, row)
	if err != nil {
		s.log.ErrorContext(ctx, "audit event not recorded", "type", e.Type, "err", err)
		return
	}
	if created {
		s.log.WarnContext(ctx, "security event", "type", e.Type, "detail", e.Detail, "ip", e.Client.IP,
			"note", "further refusals in this window are counted, not logged")
	}
}

func (s *Service) auditRow(e Event) *models.AuditEvent {
	return &models.AuditEvent{
		CreatedAt: s.now(), Type: e.Type, Count: 1,
		UserID: clip(e.UserID, 36), SessionID: clip(e.SessionID, 36),
		IPAddress: clip(e.Client.IP, 45), UserAgent: clip(e.Client.UserAgent, 512), Detail: clip(e.Detail, 64),
	}
}

// AuditPage is one page of a user's audit events, newest first.
type AuditPage struct {
	Events      []models.AuditEvent
	HasNextPage bool
	EndCursor   string
}

// MaxAuditPage bounds one page.
const MaxAuditPage = 100

// AuditEvents pages through the caller's own events. after is the opaque
// cursor of the last event of the previous page.
func (s *Service) AuditEvents(ctx context.Context, p Principal, first int, after string) (*AuditPage, error) {
	if first < 0 || first > MaxAuditPage {
		return nil, &InputError{Field: "first", Message: "first must be between 0 and 100"}
	}
	var before uint64
	if after != "" {
		var ok bool
		if before, ok = DecodeCursor(after); !ok {
			return nil, &InputError{Field: "after", Message: "after is not a cursor from this API"}
		}
	}
	rows, err := s.store.AuditEvents(ctx, p.UserID, before, first+1)
	if err != nil {
		return nil, s.fail(err)
	}
	page := &AuditPage{HasNextPage: len(rows) > first}
	if page.HasNextPage {
		rows = rows[:first]
	}
	page.Events = rows
	if len(rows) > 0 {
		page.EndCursor = EncodeCursor(rows[len(rows)-1].ID)
	}
	return page, nil
}

// EncodeCursor makes an opaque cursor of an event id.
func EncodeCursor(id uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ae:" + strconv.FormatUint(id, 10)))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(c string) (uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 4 || string(b[:3]) != "ae:" {
		return 0, false
	}
	id, err := strconv.ParseUint(string(b[3:]), 10, 64)
	return id, err == nil && id > 0
}

// Prune deletes sessions (with their refresh tokens) and login MFA
// challenges that expired, and audit events older than retention. It returns when ctx is done, pruning every interval.
func (s *Service) Prune(ctx context.Context, interval, retention time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.pruneOnce(ctx, retention)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) pruneOnce(ctx context.Context, retention time.Duration) {
	const batch = 500
	now := s.now()
	for _, job := range []struct {
		name string
		run  func() (int64, error)
	}{
		{"sessions", func() (int64, error) { return s.store.PruneExpired(ctx, now, batch) }},
		{"audit events", func() (int64, error) { return s.store.PruneAuditEvents(ctx, now.Add(-retention), batch) }},
		{"mfa challenges", func() (int64, error) { return s.store.PruneMFAChallenges(ctx, now, batch) }},
		{"email tokens", func() (int64, error) { return s.store.PruneEmailTokens(ctx, now, batch) }},
	} {
		// Small batches keep the SQLite writer free for logins between them.
		for ctx.Err() == nil {
			n, err := job.run()
			if err != nil {
				s.log.WarnContext(ctx, "prune failed", "what", job.name, "err", err)
				break
			}
			if n > 0 {
				s.log.DebugContext(ctx, "pruned", "what", job.name, "rows", n)
			}
			if n < batch {
				break
			}
		}
	}
}
