package mail_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/mail"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

var secret = bytes.Repeat([]byte("s"), 32)

const appURL = "https://app.example.com"

func openStore(t *testing.T, db storetest.Backend) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newOutbox(t *testing.T) *mail.Outbox {
	t.Helper()
	o, err := mail.NewOutbox(secret)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// fast is a sender configuration that retries and polls in milliseconds.
func fast(id string, obs mail.Observer) mail.SenderConfig {
	return mail.SenderConfig{
		ID: id, Concurrency: 4, Poll: 50 * time.Millisecond, Lease: 10 * time.Second,
		Backoff: mail.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond}, Observer: obs,
		Logger: slog.New(slog.DiscardHandler),
	}
}

// run starts s and stops it, waiting for Run to return, when the test ends.
func run(t *testing.T, s *mail.Sender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// enqueue queues a verification mail for to carrying token, committed.
func enqueue(t *testing.T, s *store.Store, o *mail.Outbox, to, token string) {
	t.Helper()
	m, err := mail.VerificationMail(appURL, to, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(t.Context(), func(q *store.Queries) error {
		return o.Enqueue(t.Context(), q, m, time.Now(), time.Now().Add(time.Hour))
	}); err != nil {
		t.Fatal(err)
	}
}

type recorder struct {
	mu     sync.Mutex
	counts map[string]int
	depths []int
}

func (r *recorder) Sent(result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = make(map[string]int)
	}
	r.counts[result]++
}

func (r *recorder) QueueDepth(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.depths = append(r.depths, n)
}

func (r *recorder) count(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[result]
}

func (r *recorder) lastDepth() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.depths) == 0 {
		return -1
	}
	return r.depths[len(r.depths)-1]
}

// parsed is a received mail taken apart as a mail client would.
type parsed struct {
	header     netmail.Header
	text, html string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	p := parsed{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var order []string
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		order = append(order, ct)
		switch ct {
		case "text/plain":
			p.text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html":
			p.html = string(body)
		}
	}
	// The last alternative is the preferred one (RFC 2046): HTML, with the
	// text for clients that show no HTML.
	if strings.Join(order, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain then text/html", order)
	}
	return p
}

// hasLine reports whether text has line on a line of its own.
func hasLine(text, line string) bool {
	for l := range strings.SplitSeq(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
