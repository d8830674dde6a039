package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/models"
)

// Observer learns what the sender does, for metrics. Its methods are called
// from several goroutines and must not block.
type Observer interface {
	// Sent counts one mail by outcome: "sent", "failed" (an attempt failed; it
	// will be retried) or "expired" (dropped undelivered, its link dead).
	Sent(result string)
	// QueueDepth reports how many mails wait in the outbox, all instances'.
	QueueDepth(n int)
}

type nopObserver struct{}

func (nopObserver) Sent(string)    {}
func (nopObserver) QueueDepth(int) {}

// Backoff spaces the attempts of a failing mail: Base after the first
// failure, doubling to at most Max, each pause drawn at random from its upper
// half so that mails that failed together (an SMTP outage) do not retry
// together.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff retries after about 5 s, 10 s, 20 s... and then hourly: the
// first retries catch a blip, the hourly ones ride out an outage without
// hammering a server that is down. A mail is retried until its link expires
// (see Sender).
var DefaultBackoff = Backoff{Base: 5 * time.Second, Max: time.Hour}

// Delay is the pause after the n-th failed attempt (n >= 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if half := d / 2; half > 0 {
		return half + mathrand.N(half+1)
	}
	return d
}

// SenderConfig tunes a Sender; the zero value of each field takes its default.
type SenderConfig struct {
	// ID names this sender in the leases it takes; unique per instance.
	// Default: the host name and a random suffix.
	ID string
	// Concurrency bounds the mails delivered at once. Default 4.
	Concurrency int
	// Poll is how often the outbox is checked without a Notify, which is how
	// mails queued by other instances, and retries, are picked up. Default 5 s.
	Poll time.Duration
	// Lease is how long a claimed mail is this sender's. One attempt is cut
	// off at half of it, so a lease never runs out under a live attempt; a
	// sender that dies gives its mails back when their leases end. Default 1 m.
	Lease time.Duration
	// Backoff spaces the retries of a failing mail. Default DefaultBackoff.
	Backoff Backoff
	// Observer receives counts for metrics. Default: none.
	Observer Observer
	// Logger receives a line per failed attempt and per dropped mail.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: the store's (Store.Now).
	Now func() time.Time
}

// Sender delivers the outbox's due mails in the background (Run). It gives a
// mail up only when the token it carries has expired: then the link is dead
// and delivering it would only confuse, so the mail is deleted, logged at
// error and counted as "expired". Every other failure, permanent-looking SMTP
// rejections included (a relay misconfigured for an hour answers 5xx to
// everything), is retried with backoff until then.
type Sender struct {
	store     *store.Store
	outbox    *Outbox
	transport Transport
	cfg       SenderConfig
	log       *slog.Logger
	wake      chan struct{}
}

// NewSender builds a sender; nothing runs until Run.
func NewSender(st *store.Store, outbox *Outbox, transport Transport, cfg SenderConfig) *Sender {
	if cfg.ID == "" {
		cfg.ID = defaultID()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Backoff.Base <= 0 || cfg.Backoff.Max < cfg.Backoff.Base {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = st.Now
	}
	return &Sender{
		store: st, outbox: outbox, transport: transport, cfg: cfg,
		log:  cfg.Logger.With("component", "mail", "sender", cfg.ID),
		wake: make(chan struct{}, 1),
	}
}

func defaultID() string {
	host, _ := os.Hostname()
	if len(host) > 48 {
		host = host[:48]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// ID is the name this sender leases mails under.
func (s *Sender) ID() string { return s.cfg.ID }

// Notify wakes the sender to look for due mail now. Call it after committing
// a transaction that queued mail; it never blocks.
func (s *Sender) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers mail until ctx ends, then waits for the attempts in flight
// (each bounded by half the lease) and returns. A database that cannot be
// reached is logged and tried again at the next poll.
func (s *Sender) Run(ctx context.Context) error {
	done := make(chan struct{}, s.cfg.Concurrency)
	inflight := 0
	poll := time.NewTimer(s.cfg.Poll)
	defer poll.Stop()
	more := true // whether the outbox may hold due mail we have not claimed
	for {
		if free := s.cfg.Concurrency - inflight; more && free > 0 && ctx.Err() == nil {
			rows, err := s.store.ClaimMail(ctx, s.cfg.Now(), free, s.cfg.ID, s.cfg.Lease)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("mail: cannot claim queued mail", "err", err)
			}
			for _, row := range rows {
				inflight++
				go func() {
					defer func() { done <- struct{}{} }()
					s.deliver(ctx, row)
				}()
			}
			// A full batch means more may be due: claim again as soon as a
			// slot frees up. Otherwise the outbox is drained until the next
			// Notify or poll.
			more = err == nil && len(rows) == free
			if !more && err == nil {
				s.reportDepth(ctx)
			}
		}
		select {
		case <-ctx.Done():
			for ; inflight > 0; inflight-- {
				<-done
			}
			return nil
		case <-done:
			inflight--
		case <-s.wake:
			more = true
		case <-poll.C:
			more = true
			poll.Reset(s.cfg.Poll)
		}
	}
}

func (s *Sender) reportDepth(ctx context.Context) {
	if n, err := s.store.MailQueueDepth(ctx); err == nil {
		s.cfg.Observer.QueueDepth(int(n))
	}
}

// deliver makes one attempt at a claimed mail and records its outcome. An
// attempt under way when the sender stops is finished, not abandoned: cut off
// mid-DATA, a mail the server took could be sent again.
func (s *Sender) deliver(ctx context.Context, row models.OutboxMail) {
	ctx = context.WithoutCancel(ctx)
	log := s.log.With("mail_id", row.ID, "kind", row.Kind, "domain", domain(row.Recipient))
	if !s.cfg.Now().Before(row.ExpiresAt) {
		s.drop(ctx, row, log)
		return
	}
	m, err := s.outbox.open(&row)
	if err == nil {
		attempt, cancel := context.WithTimeout(ctx, s.cfg.Lease/2)
		err = s.transport.Send(attempt, m)
		cancel()
		if err == nil {
			if err := s.store.MarkMailDelivered(ctx, row.ID); err != nil {
				log.Error("mail: delivered but still queued; it will be sent again when its lease ends", "err", err)
			}
			s.cfg.Observer.Sent("sent")
			return
		}
	} else {
		// Another instance may hold the right server secret (a rollout that
		// changes it): retry like any failure rather than lose the mail.
		err = errUndecryptable
	}
	class, detail := describe(err)
	attempts := row.Attempts + 1
	now := s.cfg.Now()
	next := now.Add(s.cfg.Backoff.Delay(attempts))
	if next.After(row.ExpiresAt) {
		next = row.ExpiresAt // to be dropped when it expires, not an hour later
	}
	if _, err := s.store.MarkMailFailed(ctx, row.ID, s.cfg.ID, next, class); err != nil {
		log.Error("mail: cannot record a failed attempt; the mail is retried when its lease ends", "err", err)
	}
	attrs := []any{"attempt", attempts, "error_class", class, "retry_in", next.Sub(now).Round(time.Millisecond).String()}
	if detail != "" {
		attrs = append(attrs, "detail", detail)
	}
	log.Warn("mail: delivery failed", attrs...)
	s.cfg.Observer.Sent("failed")
}

func (s *Sender) drop(ctx context.Context, row models.OutboxMail, log *slog.Logger) {
	dropped, err := s.store.DropMail(ctx, row.ID, s.cfg.ID)
	if err != nil {
		log.Error("mail: cannot drop an expired mail", "err", err)
		return
	}
	if !dropped {
		return // another sender holds it now, and will drop it
	}
	lastError := ""
	if row.LastError != nil {
		lastError = *row.LastError
	}
	log.Error("mail: dropped undelivered, its link expired", "attempts", row.Attempts, "last_error_class", lastError,
		"queued_for", s.cfg.Now().Sub(row.CreatedAt).Round(time.Millisecond).String())
	s.cfg.Observer.Sent("expired")
}
