package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authql/authql/internal/mail"
)

// TestMailObserver: what the mail sender reports shows in the scrape.
func TestMailObserver(t *testing.T) {
	m := New(nil, nil)
	var o mail.Observer = m
	o.Sent("sent")
	o.Sent("sent")
	o.Sent("failed")
	o.QueueDepth(7)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`authql_mails_sent_total{result="sent"} 2`,
		`authql_mails_sent_total{result="failed"} 1`,
		`authql_mails_sent_total{result="expired"} 0`,
		"authql_mail_queue_depth 7",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}
