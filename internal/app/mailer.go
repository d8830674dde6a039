package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/mail"
	"github.com/authql/authql/internal/store"
)

// outboxMailer is auth's Mailer: it renders a mail from its template and
// queues it in the outbox on the caller's transaction; the local sender
// delivers it.
type outboxMailer struct {
	outbox *mail.Outbox
	sender *mail.Sender
	appURL string
}

func (m *outboxMailer) Queue(ctx context.Context, q *store.Queries, kind, to, token string, now, expires time.Time) error {
	var msg mail.Message
	var err error
	switch kind {
	case auth.MailVerifyEmail:
		msg, err = mail.VerificationMail(m.appURL, to, token)
	case auth.MailPasswordReset:
		msg, err = mail.ResetMail(m.appURL, to, token)
	default:
		err = fmt.Errorf("app: no mail of kind %q", kind)
	}
	if err != nil {
		return err
	}
	return m.outbox.Enqueue(ctx, q, msg, now, expires)
}

func (m *outboxMailer) Notify() { m.sender.Notify() }

// newMailer builds account mail from the configuration: nil with AUTHQL_MAIL=off;
// SMTP with AUTHQL_SMTP_URL; otherwise (development) the log.
func newMailer(cfg *config.Config, st *store.Store, log *slog.Logger) (*outboxMailer, error) {
	if !cfg.Mail.Enabled {
		return nil, nil
	}
	outbox, err := mail.NewOutbox(cfg.Tokens.Secret)
	if err != nil {
		return nil, err
	}
	var transport mail.Transport = mail.LogTransport{Logger: log}
	if cfg.Mail.SMTPURL != "" {
		smtp, err := mail.NewSMTP(cfg.Mail.SMTPURL, cfg.Mail.From)
		if err != nil {
			// Never quote the URL: it may hold the SMTP password.
			return nil, fmt.Errorf("%s: %w", cfg.Name(&cfg.Mail.SMTPURL), err)
		}
		transport = smtp
	} else {
		log.Warn("no SMTP server configured: account mail, links included, is written to the log (development only)")
	}
	sender := mail.NewSender(st, outbox, transport, mail.SenderConfig{Logger: log})
	return &outboxMailer{outbox: outbox, sender: sender, appURL: cfg.Mail.AppURL}, nil
}
