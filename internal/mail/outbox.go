package mail

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/authql/authql/internal/secretbox"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/models"
)

// Outbox seals mails into the outbox table and opens them again for the
// sender. Every instance builds it from the same server secret.
type Outbox struct {
	box *secretbox.Box
}

// NewOutbox derives the mail body key from the server secret.
func NewOutbox(secret []byte) (*Outbox, error) {
	box, err := secretbox.New(secret, secretbox.PurposeMailBody)
	if err != nil {
		return nil, err
	}
	return &Outbox{box: box}, nil
}

// sealedBody is what the outbox keeps encrypted: everything that carries the
// link.
type sealedBody struct {
	Subject string `json:"s"`
	Text    string `json:"t"`
	HTML    string `json:"h"`
}

// Enqueue queues m on q, which must be the transaction that stores the token
// m carries: the mail commits with it or not at all. now is the store's time
// (Store.Now), the mail's first due time; expiresAt is when that
// token stops working; an undelivered mail is dropped then. After the
// transaction commits, call Sender.Notify so the local sender delivers it at
// once rather than at its next poll.
func (o *Outbox) Enqueue(ctx context.Context, q *store.Queries, m Message, now, expiresAt time.Time) error {
	if m.Kind == "" || m.To == "" {
		return errors.New("mail: a queued mail needs a kind and a recipient")
	}
	body, err := json.Marshal(sealedBody{Subject: m.Subject, Text: m.Text, HTML: m.HTML})
	if err != nil {
		return err
	}
	now = now.UTC().Truncate(time.Millisecond)
	row := &models.OutboxMail{
		ID:            uuid.NewString(),
		Kind:          m.Kind,
		Recipient:     m.To,
		NextAttemptAt: now,
		CreatedAt:     now,
		ExpiresAt:     expiresAt.UTC().Truncate(time.Millisecond),
	}
	row.Body = o.box.Seal(body, bodyAD(row))
	return q.EnqueueMail(ctx, row)
}

// open recovers the message a row holds.
func (o *Outbox) open(row *models.OutboxMail) (Message, error) {
	plain, err := o.box.Open(row.Body, bodyAD(row))
	if err != nil {
		return Message{}, err
	}
	var b sealedBody
	if err := json.Unmarshal(plain, &b); err != nil {
		return Message{}, err
	}
	return Message{Kind: row.Kind, To: row.Recipient, Subject: b.Subject, Text: b.Text, HTML: b.HTML}, nil
}

// bodyAD binds a sealed body to its row and to where it goes: a body moved to
// another row, or a row readdressed to someone else, does not open, so a
// token cannot be redirected by editing the table.
func bodyAD(row *models.OutboxMail) []byte {
	return []byte("outbox_mails\x00" + row.ID + "\x00" + row.Kind + "\x00" + row.Recipient)
}
