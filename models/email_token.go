package models

import "time"

// EmailToken is a token mailed to prove control of an address: a
// verification link, or a password reset link. Only a keyed hash of the
// token is stored, so a copy of the database yields no usable link. It is
// single-use (UsedAt) and dies when it expires or is voided (VoidedAt): a
// newer reset link, a password change or a reset voids the outstanding ones.
type EmailToken struct {
	ID     string `gorm:"primaryKey;type:varchar(36)"`
	UserID string `gorm:"type:varchar(36);not null;index:idx_email_tokens_user,priority:1"`
	// Kind is "verify_email" or "password_reset": a token of one kind never
	// works as the other.
	Kind      string     `gorm:"type:varchar(16);not null;index:idx_email_tokens_user,priority:2"`
	Hash      string     `gorm:"type:char(64);not null;uniqueIndex:idx_email_tokens_hash" json:"-"`
	CreatedAt time.Time  `gorm:"not null"`
	ExpiresAt time.Time  `gorm:"not null;index:idx_email_tokens_expires"`
	UsedAt    *time.Time ``
	VoidedAt  *time.Time ``
}
