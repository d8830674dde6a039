package models

import "time"

// TOTPFactor is a user's authenticator app: at most one per user, the user id
// being the key. It is inactive while ConfirmedAt is nil (enrolment started,
// no code proved yet).
type TOTPFactor struct {
	UserID string `gorm:"primaryKey;type:varchar(36)"`
	// Secret is the TOTP secret sealed with AES-GCM under a key derived from
	// the server secret: a copy of the database yields no authenticator. The
	// store never sees it in the clear. size picks varbinary on MySQL, blob on
	// SQLite: sealed bytes, not text, so no charset can touch them.
	Secret      []byte     `gorm:"size:255;not null" json:"-"`
	ConfirmedAt *time.Time ``
	// LastUsedStep is the newest TOTP time step accepted for this user (0
	// before any): a code of that step or an earlier one is a replay.
	LastUsedStep int64     `gorm:"not null;default:0"`
	CreatedAt    time.Time `gorm:"not null"`
}

// RecoveryCode is one single-use code standing in for a TOTP code. Only a
// keyed hash of the code (bound to the user) is stored.
type RecoveryCode struct {
	ID        uint64     `gorm:"primaryKey;autoIncrement"`
	UserID    string     `gorm:"type:varchar(36);not null;index:idx_recovery_codes_user"`
	Hash      string     `gorm:"type:char(64);not null;uniqueIndex:idx_recovery_codes_hash" json:"-"`
	UsedAt    *time.Time ``
	CreatedAt time.Time  `gorm:"not null"`
}

// MFAChallenge is the second step a login owes when the account has MFA: the
// mfaToken the login answered, stored as a keyed hash like a refresh token.
// It is single-use and dies after too many wrong codes.
type MFAChallenge struct {
	ID             string    `gorm:"primaryKey;type:varchar(36)"`
	UserID         string    `gorm:"type:varchar(36);not null;index:idx_mfa_challenges_user"`
	Hash           string    `gorm:"type:char(64);not null;uniqueIndex:idx_mfa_challenges_hash" json:"-"`
	ExpiresAt      time.Time `gorm:"not null;index:idx_mfa_challenges_expires"`
	FailedAttempts int       `gorm:"not null;default:0"`
	// CredentialsVersion is the user's credentials version whose password the
	// login verified: a password changed since makes the challenge useless.
	CredentialsVersion uint64     `gorm:"not null;default:0"`
	UsedAt             *time.Time ``
	CreatedAt          time.Time  `gorm:"not null"`
}
