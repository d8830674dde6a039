package mail

import (
	"context"
	"log/slog"
)

// LogTransport "delivers" mail by writing it to the log, link included, for
// development without an SMTP server: a newcomer copies the link from the
// log. It writes live tokens to the log by design and is never to be used in
// production.
type LogTransport struct {
	Logger *slog.Logger
}

// Send logs m at info.
func (t LogTransport) Send(ctx context.Context, m Message) error {
	log := t.Logger
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "mail (development: written to the log, not sent)",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}
