package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/mail"
	"github.com/authql/authql/internal/mail/mailtest"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/logbuf"
)

func smtpTo(t *testing.T, srv *mailtest.Server) *mail.SMTP {
	t.Helper()
	tr, err := mail.NewSMTP(srv.URL(), "authql <no-reply@auth.example.com>", mail.WithSMTPTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func depth(t *testing.T, s *store.Store) int64 {
	t.Helper()
	n, err := s.MailQueueDepth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEnqueueRollsBackWithItsTransaction: the mail exists only if the
// transaction that queued it (the one storing its token) commits.
func TestEnqueueRollsBackWithItsTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		st, ob := openStore(t, db), newOutbox(t)
		srv := mailtest.Start(t, mailtest.Options{})
		sender := mail.NewSender(st, ob, smtpTo(t, srv), fast("a", nil))
		run(t, sender)

		m, _ := mail.VerificationMail(appURL, "rolled@example.com", "rolled-back-token")
		errLater := errors.New("a later step of the flow failed")
		err := st.InTx(t.Context(), func(q *store.Queries) error {
			if err := ob.Enqueue(t.Context(), q, m, time.Now(), time.Now().Add(time.Hour)); err != nil {
				return err
			}
			return errLater
		})
		if !errors.Is(err, errLater) {
			t.Fatalf("InTx: %v", err)
		}
		sender.Notify()
		enqueue(t, st, ob, "committed@example.com", "committed-token")
		sender.Notify()
		srv.WaitFor(1, 10*time.Second)
		time.Sleep(200 * time.Millisecond) // four polls: time for a wrong mail to go out
		got := srv.Messages()
		if len(got) != 1 || got[0].To[0] != "committed@example.com" {
			t.Fatalf("delivered %d mails (%v), want only the committed one", len(got), got)
		}
		if n := depth(t, st); n != 0 {
			t.Errorf("queue depth %d after delivery", n)
		}
	})
}

// TestDeliveredOnce: a committed mail goes out once, as a mail client wants
// it, and leaves the outbox.
func TestDeliveredOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		st, ob := openStore(t, db), newOutbox(t)
		srv := mailtest.Start(t, mailtest.Options{})
		obs := &recorder{}
		cfg := fast("a", obs)
		cfg.Poll = time.Hour // only Notify can wake it
		sender := mail.NewSender(st, ob, smtpTo(t, srv), cfg)
		run(t, sender)

		enqueue(t, st, ob, "carol@example.com", "tok-once")
		start := time.Now()
		sender.Notify()
		got := srv.WaitFor(1, 5*time.Second)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Notify took %v to deliver", d)
		}
		p := parse(t, got[0].Data)
		if p.header.Get("To") != "<carol@example.com>" || p.header.Get("Subject") != "Verify your email address" ||
			!strings.HasSuffix(p.header.Get("Message-Id"), "@auth.example.com>") || p.header.Get("Date") == "" {
			t.Errorf("headers: %v", p.header)
		}
		link := appURL + "/verify-email#token=tok-once"
		if !hasLine(p.text, link) || !strings.Contains(p.html, link) {
			t.Errorf("the link is not on its own line of the text, or not in the HTML:\n%s\n%s", p.text, p.html)
		}
		waitUntil(t, "the delivered mail to leave the outbox", func() bool { return depth(t, st) == 0 })
		sender.Notify()
		time.Sleep(100 * time.Millisecond)
		if n := len(srv.Messages()); n != 1 {
			t.Errorf("delivered %d times", n)
		}
		if obs.count("sent") != 1 || obs.lastDepth() != 0 {
			t.Errorf("observer: sent %d, last depth %d", obs.count("sent"), obs.lastDepth())
		}
	})
}

// TestNoTokenInTheDatabase: a copy of the outbox yields no link or token.
func TestNoTokenInTheDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		st, ob := openStore(t, db), newOutbox(t)
		token := "SECRET-token-7f3a9c"
		enqueue(t, st, ob, "dave@example.com", token)
		m, _ := mail.ResetMail(appURL, "dave@example.com", token)
		if err := st.InTx(t.Context(), func(q *store.Queries) error {
			return ob.Enqueue(t.Context(), q, m, time.Now(), time.Now().Add(time.Hour))
		}); err != nil {
			t.Fatal(err)
		}
		rows, err := storetest.SQL(t, db).Query("SELECT * FROM outbox_mails")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				if b, ok := v.([]byte); ok {
					s = string(b)
				} else {
					s = fmt.Sprint(v)
				}
				for _, secret := range []string{token, "token=", "Verify your", "Reset your"} {
					if strings.Contains(s, secret) {
						t.Errorf("column %s holds %q in clear", cols[i], secret)
					}
				}
			}
		}
		if n != 2 {
			t.Fatalf("%d rows in the outbox, want 2", n)
		}
	})
}

// TestSMTPOutage: mail queued while the server is down is delivered, once,
// when it comes back; nothing fails for the flow that queued it.
func TestSMTPOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		st, ob := openStore(t, db), newOutbox(t)
		srv := mailtest.Start(t, mailtest.Options{})
		srv.Stop()
		obs := &recorder{}
		run(t, mail.NewSender(st, ob, smtpTo(t, srv), fast("a", obs)))

		const n = 5
		for i := range n {
			enqueue(t, st, ob, fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("outage-%d", i))
		}
		// Every mail has failed at least twice: the retries run.
		waitUntil(t, "failed attempts", func() bool { return obs.count("failed") >= 2*n })
		raw := storetest.SQL(t, db)
		var minAttempts int
		var class string
		if err := raw.QueryRow("SELECT MIN(attempts), MIN(last_error) FROM outbox_mails").Scan(&minAttempts, &class); err != nil {
			t.Fatal(err)
		}
		if minAttempts < 1 || class != "connect" {
			t.Errorf("attempts %d, last_error %q; want >= 1, connect", minAttempts, class)
		}

		srv.Restart()
		srv.WaitFor(n, 10*time.Second)
		waitUntil(t, "the outbox to empty", func() bool { return depth(t, st) == 0 })
		time.Sleep(200 * time.Millisecond)
		got := srv.Messages()
		seen := make(map[string]int)
		for _, r := range got {
			seen[r.To[0]]++
		}
		for i := range n {
			if c := seen[fmt.Sprintf("user%d@example.com", i)]; c != 1 {
				t.Errorf("user%d received %d mails", i, c)
			}
		}
		if len(got) != n {
			t.Errorf("%d mails delivered, want %d", len(got), n)
		}
	})
}

// TestTemporaryRefusalRetried: a server answering 4xx gets the mail later.
func TestTemporaryRefusalRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		st, ob := openStore(t, db), newOutbox(t)
		srv := mailtest.Start(t, mailtest.Options{})
		srv.FailWith(451)
		obs := &recorder{}
		run(t, mail.NewSender(st, ob, smtpTo(t, srv), fast("a", obs)))
		enqueue(t, st, ob, "erin@example.com", "tok-451")
		waitUntil(t, "three refused attempts", func() bool { return obs.count("failed") >= 3 })
		var class string
		if err := storetest.SQL(t, db).QueryRow("SELECT last_error FROM outbox_mails").Scan(&class); err != nil || class != "smtp_4xx" {
			t.Errorf("last_error %q (%v), want smtp_4xx", class, err)
		}
		srv.FailWith(0)
		srv.WaitFor(1, 10*time.Second)
		waitUntil(t, "the outbox to empty", func() bool { return depth(t, st) == 0 })
	})
}

// TestExpiredMailDropped: a mail whose link died undelivered is deleted,
// not delivered late.
func TestExpiredMailDropped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		st, ob := openStore(t, db), newOutbox(t)
		srv := mailtest.Start(t, mailtest.Options{})
		srv.Stop()
		obs := &recorder{}
		run(t, mail.NewSender(st, ob, smtpTo(t, srv), fast("a", obs)))
		m, _ := mail.VerificationMail(appURL, "frank@example.com", "tok-expiring")
		if err := st.InTx(t.Context(), func(q *store.Queries) error {
			return ob.Enqueue(t.Context(), q, m, time.Now(), time.Now().Add(300*time.Millisecond))
		}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the expired mail to be dropped", func() bool { return obs.count("expired") == 1 })
		if n := depth(t, st); n != 0 {
			t.Errorf("queue depth %d", n)
		}
		if obs.count("failed") == 0 {
			t.Error("no attempt was made before it expired")
		}
		srv.Restart()
		time.Sleep(200 * time.Millisecond)
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("%d mails delivered after their link expired", n)
		}
	})
}

// TestTwoSendersExactlyOnce: two instances (their own pools, their own
// senders) on one database deliver each of 50 mails exactly once.
func TestTwoSendersExactlyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		srv := mailtest.Start(t, mailtest.Options{})
		a, b := openStore(t, db), openStore(t, db)
		obsA, obsB := &recorder{}, &recorder{}
		senderA := mail.NewSender(a, newOutbox(t), smtpTo(t, srv), fast("instance-a", obsA))
		senderB := mail.NewSender(b, newOutbox(t), smtpTo(t, srv), fast("instance-b", obsB))
		run(t, senderA)
		run(t, senderB)

		const n = 50
		for i := range n {
			st, s := a, senderA
			if i%2 == 1 {
				st, s = b, senderB
			}
			enqueue(t, st, newOutbox(t), fmt.Sprintf("u%02d@example.com", i), fmt.Sprintf("two-%02d", i))
			s.Notify()
		}
		srv.WaitFor(n, 20*time.Second)
		waitUntil(t, "the outbox to empty", func() bool { return depth(t, a) == 0 })
		time.Sleep(300 * time.Millisecond) // six polls of each sender
		got := srv.Messages()
		seen := make(map[string]int)
		for _, r := range got {
			seen[r.To[0]]++
		}
		for i := range n {
			if c := seen[fmt.Sprintf("u%02d@example.com", i)]; c != 1 {
				t.Errorf("u%02d received %d mails", i, c)
			}
		}
		if len(got) != n {
			t.Errorf("%d deliveries for %d mails", len(got), n)
		}
		t.Logf("instance-a sent %d, instance-b %d", obsA.count("sent"), obsB.count("sent"))
	})
}

// TestFailureLogged: each failed attempt is a warn line naming the
// recipient's domain and the failure's class, and nothing of the recipient's
// address, the server's reply or the mail.
func TestFailureLogged(t *testing.T) {
	st, ob := openStore(t, storetest.SQLite(t)), newOutbox(t)
	srv := mailtest.Start(t, mailtest.Options{})
	srv.FailWith(550)
	var buf logbuf.Buffer
	cfg := fast("a", &recorder{})
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	run(t, mail.NewSender(st, ob, smtpTo(t, srv), cfg))
	enqueue(t, st, ob, "private.person@example.com", "tok-never-logged")
	waitUntil(t, "a warn line", func() bool { return strings.Contains(buf.String(), "level=WARN") })
	out := buf.String()
	for _, want := range []string{"domain=example.com", "error_class=smtp_5xx", "attempt=1", "kind=verify_email"} {
		if !strings.Contains(out, want) {
			t.Errorf("log without %q: %s", want, out)
		}
	}
	for _, secret := range []string{"private.person", "tok-never-logged", "token=", "refused as told"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q: %s", secret, out)
		}
	}
}

// gate is a transport that holds every mail until released, counting how
// many it holds at most.
type gate struct {
	mu            sync.Mutex
	inflight, max int
	sent          int
	release       chan struct{}
}

func (g *gate) Send(ctx context.Context, _ mail.Message) error {
	g.mu.Lock()
	g.inflight++
	g.max = max(g.max, g.inflight)
	g.mu.Unlock()
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	g.sent++
	return nil
}

func (g *gate) stats() (inflight, maxInflight, sent int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, g.max, g.sent
}

// TestConcurrencyBounded: no more than Concurrency mails are in flight, and
// a stopping sender finishes them before Run returns.
func TestConcurrencyBounded(t *testing.T) {
	st, ob := openStore(t, storetest.SQLite(t)), newOutbox(t)
	g := &gate{release: make(chan struct{})}
	cfg := fast("a", nil)
	cfg.Concurrency = 3
	sender := mail.NewSender(st, ob, g, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sender.Run(ctx) }()
	for i := range 10 {
		enqueue(t, st, ob, fmt.Sprintf("c%d@example.com", i), "tok")
	}
	sender.Notify()
	waitUntil(t, "three mails in flight", func() bool { n, _, _ := g.stats(); return n == 3 })
	time.Sleep(150 * time.Millisecond) // three polls: room for a fourth to start
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned with mails in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, peak, sent := g.stats(); peak != 3 || sent != 3 {
		t.Errorf("at most %d in flight, %d sent; want 3 and 3", peak, sent)
	}
	if n := depth(t, st); n != 7 {
		t.Errorf("queue depth %d after stopping, want the 7 not started", n)
	}
}
