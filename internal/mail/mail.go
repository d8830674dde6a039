// Package mail delivers authql's transactional mail (email verification,
// password reset) through a transactional outbox.
//
// A flow that creates an email token queues the mail carrying it in the same
// transaction (Outbox.Enqueue), so the mail exists exactly when the token
// does. A Sender in every instance claims due mails, delivers them through a
// Transport (SMTP, or the log in development) and deletes each once it is
// delivered; a failed attempt is retried with exponential backoff until the
// link in the mail has expired. The body is stored sealed (secretbox) because
// it carries a live token.
//
// Delivery is at least once: a sender that dies between the server's
// acceptance and the row's deletion leaves the mail to be sent again when its
// lease runs out. Leases and FOR UPDATE SKIP LOCKED keep two instances from
// sending the same mail otherwise.
package mail

import (
	"context"
	"strings"
)

// Kinds of mail, as stored in the outbox.
const (
	KindVerifyEmail   = "verify_email"
	KindPasswordReset = "password_reset"
)

// Message is one mail to one recipient.
type Message struct {
	Kind    string
	To      string
	Subject string
	Text    string // the plain-text part
	HTML    string // the HTML alternative
}

// Transport delivers a message now or says why not. It must be safe for
// concurrent use: the sender delivers several mails at once.
type Transport interface {
	Send(ctx context.Context, m Message) error
}

// domain is the part of an address that may be logged: which provider is
// failing is worth knowing, who is not.
func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}
