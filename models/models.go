// Package models holds the GORM models: the tables authql owns. gqlgen autobinds
// the GraphQL User type to User, so what is stored is what is served.
package models

import "time"

// User is an account. Email is stored in one normalized form (NFKC with
// Unicode case folding before the @, IDNA UTS #46 after it), which makes the
// unique index one account per address on every engine.
type User struct {
	ID           string `gorm:"primaryKey;type:varchar(36)"`
	Email        string `gorm:"type:varchar(254);not null;uniqueIndex:idx_users_email"`
	PasswordHash string `gorm:"type:varchar(255);not null" json:"-"`
	// CredentialsVersion counts password changes. A session is only created, or
	// a password only changed, while it still equals the version whose password
	// was verified: a login that checked the old password cannot outlive the
	// change. Rows older than the column start at 0.
	CredentialsVersion uint64 `gorm:"not null;default:0" json:"-"`
	// EmailVerified is set once the owner proved the address (verifyEmail, or
	// resetPassword, whose link reached that inbox).
	EmailVerified bool `gorm:"not null;default:false"`
	// MFAEnabled mirrors a confirmed TOTP factor, written in the transaction
	// that confirms or removes it, so that me and login read it with the user.
	MFAEnabled bool      `gorm:"column:mfa_enabled;not null;default:false"`
	CreatedAt  time.Time `gorm:"not null"`
	UpdatedAt  time.Time `gorm:"not null"`
	// LastLoginAt is when the user last started a session with a password.
	// Writing it makes a login conflict with a password change made on
	// another Galera node (store.TouchLogin).
	LastLoginAt *time.Time `json:"-"`
	// LoginCount counts those logins. It is what guarantees the write: two
	// logins in one millisecond would store the same LastLoginAt, and an
	// UPDATE that changes nothing is not certified by Galera.
	LoginCount uint64 `gorm:"not null;default:0" json:"-"`
}

// Session is one login: the family of refresh tokens that rotate from it. Its
// RevokedAt is what makes revocation immediate for access tokens as well.
type Session struct {
	ID string `gorm:"primaryKey;type:varchar(36)"`
	// idx_sessions_user_live answers "the user's live sessions" (listing,
	// counting against the cap, revoking them all) from the index alone.
	UserID string `gorm:"type:varchar(36);not null;index:idx_sessions_user_live,priority:1"`
	// CurrentTokenID is the jti of the one refresh token that may be rotated now.
	CurrentTokenID string     `gorm:"type:varchar(36);not null"`
	UserAgent      *string    `gorm:"type:varchar(512)"`
	IPAddress      *string    `gorm:"type:varchar(45)"`
	CreatedAt      time.Time  `gorm:"not null"`
	LastUsedAt     time.Time  `gorm:"not null"`
	ExpiresAt      time.Time  `gorm:"not null;index:idx_sessions_expires;index:idx_sessions_user_live,priority:3"`
	RevokedAt      *time.Time `gorm:"index:idx_sessions_user_live,priority:2"`
	RevokedReason  *string    `gorm:"type:varchar(32)"`
	// AMR is how the session was authenticated, space-separated ("pwd",
	// "pwd otp", "email"): every access token of the session carries it as amr.
	AMR string `gorm:"column:amr;type:varchar(32);not null;default:'pwd'"`
}

// RefreshToken is one issued refresh token, kept (used or not) until its session
// expires so that reuse of any ancestor is always detected. Only a keyed hash of
// the token is stored; IssuedAt and ExpiresAt are whole seconds so that the
// current token can be re-derived (signed again, byte for byte) within the grace
// window instead of being stored.
type RefreshToken struct {
	ID        string     `gorm:"primaryKey;type:varchar(36)"` // the jti
	SessionID string     `gorm:"type:varchar(36);not null;index:idx_refresh_tokens_session"`
	ParentID  *string    `gorm:"type:varchar(36)"`
	Hash      string     `gorm:"type:char(64);not null;uniqueIndex:idx_refresh_tokens_hash"`
	IssuedAt  time.Time  `gorm:"not null"`
	ExpiresAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time ``
}

// AuditEvent is one security event (signup, login, refresh, reuse, logout,
// revocation, password change, rate limiting). The auto-increment ID orders
// events and is the pagination cursor.
//
// Repeated refusals are one row: an event with a DedupeKey is written once
// per key and counted after that (Count), so a flood of refused attempts
// grows a number, not the table. Events without a key (NULL, which never
// collides in a unique index) are one row each, with Count 1.
type AuditEvent struct {
	ID        uint64    `gorm:"primaryKey;autoIncrement"`
	CreatedAt time.Time `gorm:"not null;index:idx_audit_events_created"`
	Type      string    `gorm:"type:varchar(32);not null"`
	UserID    *string   `gorm:"type:varchar(36);index:idx_audit_events_user,priority:1"`
	SessionID *string   `gorm:"type:varchar(36)"`
	IPAddress *string   `gorm:"type:varchar(45)"`
	UserAgent *string   `gorm:"type:varchar(512)"`
	// Detail is a short reason class such as "wrong_password"; never a secret.
	Detail *string `gorm:"type:varchar(64)"`
	// Count is how many times the event happened; CreatedAt is the first time.
	Count     int     `gorm:"not null;default:1"`
	DedupeKey *string `gorm:"type:char(64);uniqueIndex:idx_audit_events_dedupe" json:"-"`
}
