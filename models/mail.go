package models

import "time"

// OutboxMail is a mail waiting to be delivered: written in the transaction
// that creates the token it carries, deleted once delivered. Its body
// (subject, text and HTML) holds a live token, so it is stored only sealed
// (secretbox, bound to the row's id and recipient).
//
// A row is due when NextAttemptAt has passed and no live lease holds it. A
// sender claims it by setting ClaimedBy and ClaimedUntil; the lease outlasts
// one delivery attempt, so a sender that died mid-attempt only delays the
// mail until the lease runs out.
type OutboxMail struct {
	ID   string `gorm:"primaryKey;type:varchar(36)"`
	Kind string `gorm:"type:varchar(32);not null"` // "verify_email", "password_reset"
	// idx_outbox_mails_recipient (migration 00002): an account deletion
	// finds the mail queued for its address without scanning the outbox.
	Recipient string `gorm:"type:varchar(254);not null;index:idx_outbox_mails_recipient"`
	Body      []byte `gorm:"not null" json:"-"`
	// Attempts counts failed deliveries.
	Attempts      int       `gorm:"not null;default:0"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_outbox_mails_due"`
	ClaimedBy     *string   `gorm:"type:varchar(64)"`
	ClaimedUntil  *time.Time
	// LastError is the class of the last failure ("smtp_4xx", "connect"...),
	// never a server reply or anything of the body.
	LastError *string   `gorm:"type:varchar(32)"`
	CreatedAt time.Time `gorm:"not null"`
	// ExpiresAt is when the token in the body stops working: an undelivered
	// mail is dropped then rather than deliver a dead link.
	ExpiresAt time.Time `gorm:"not null"`
}
