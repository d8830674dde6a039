package ceiling

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authql/authql/internal/token"
)

// Rotator rotates refresh tokens with the statements a rotation needs and
// nothing else, straight through database/sql on prepared statements, in one
// transaction each:
//
//	lock the session and the presented token (one join)
//	mark the token used; insert its successor; point the session at it
//	insert the audit row
//
// then reads email_verified for the access token, as authql must. Tokens are
// verified, signed and hashed by authql's token.Service, so the crypto is
// the same too.
type Rotator struct {
	db                                                          *sql.DB
	tokens                                                      *token.Service
	lock, markUsed, insertToken, advance, insertAudit, readUser *sql.Stmt
	ttl                                                         time.Duration
}

// Chain is one session's current refresh token, as a client keeps it.
type Chain struct {
	UserID, SessionID, Refresh string
	expires                    time.Time
}

// NewRotator prepares the rotation's statements on db (from OpenSQL).
func NewRotator(ctx context.Context, db *sql.DB, dialect string, tokens *token.Service, ttl time.Duration) (*Rotator, error) {
	forUpdate := ""
	if dialect == "mysql" {
		forUpdate = " FOR UPDATE"
	}
	r := &Rotator{db: db, tokens: tokens, ttl: ttl}
	for _, s := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.lock, `SELECT s.user_id, s.current_token_id, s.expires_at, s.revoked_at IS NOT NULL, t.session_id, t.hash, t.used_at IS NOT NULL
			FROM sessions s JOIN refresh_tokens t ON t.id = ? WHERE s.id = ?` + forUpdate},
		{&r.markUsed, `UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL`},
		{&r.insertToken, `INSERT INTO refresh_tokens (id, session_id, parent_id, hash, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`},
		{&r.advance, `UPDATE sessions SET current_token_id = ?, last_used_at = ? WHERE id = ?`},
		{&r.insertAudit, `INSERT INTO audit_events (created_at, type, user_id, session_id, ip_address, user_agent, count) VALUES (?, 'refresh', ?, ?, ?, ?, 1)`},
		{&r.readUser, `SELECT email_verified FROM users WHERE id = ?`},
	} {
		st, err := db.PrepareContext(ctx, s.sql)
		if err != nil {
			return nil, fmt.Errorf("ceiling: prepare: %w", err)
		}
		*s.stmt = st
	}
	return r, nil
}

// Start opens a session of userID with its first refresh token.
func (r *Rotator) Start(ctx context.Context, userID string) (*Chain, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	sid := token.NewID()
	exp := now.Add(30 * 24 * time.Hour)
	claims := r.tokens.NewRefresh(userID, sid, r.ttl, exp)
	raw, err := r.tokens.SignRefresh(claims)
	if err != nil {
		return nil, err
	}
	_, err = r.db.ExecContext(ctx, `INSERT INTO sessions (id, user_id, current_token_id, created_at, last_used_at, expires_at, amr) VALUES (?, ?, ?, ?, ?, ?, 'pwd')`,
		sid, userID, claims.ID, now, now, exp)
	if err == nil {
		_, err = r.insertToken.ExecContext(ctx, claims.ID, sid, nil, r.tokens.HashRefresh(raw), claims.IssuedAt, claims.ExpiresAt)
	}
	return &Chain{UserID: userID, SessionID: sid, Refresh: raw, expires: exp}, err
}

// errRefused is a rotation refused: the ceiling's chains never are.
var errRefused = errors.New("ceiling: rotation refused")

// Rotate rotates c's refresh token and keeps its successor.
func (r *Rotator) Rotate(ctx context.Context, c *Chain) error {
	claims, err := r.tokens.VerifyRefresh(c.Refresh)
	if err != nil {
		return err
	}
	hash := r.tokens.HashRefresh(c.Refresh)
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	var (
		userID, current, tokSession, tokHash string
		expires                              time.Time
		revoked, used                        bool
	)
	if err := tx.StmtContext(ctx, r.lock).QueryRowContext(ctx, claims.ID, claims.SessionID).
		Scan(&userID, &current, &expires, &revoked, &tokSession, &tokHash, &used); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if revoked || used || userID != claims.Subject || current != claims.ID || tokSession != claims.SessionID ||
		!now.Before(expires) || subtle.ConstantTimeCompare([]byte(tokHash), []byte(hash)) != 1 {
		return errRefused
	}
	if res, err := tx.StmtContext(ctx, r.markUsed).ExecContext(ctx, now, claims.ID); err != nil {
		return err
	} else if n, _ := res.RowsAffected(); n != 1 {
		return errRefused
	}
	next := r.tokens.NewRefresh(userID, claims.SessionID, r.ttl, expires)
	raw, err := r.tokens.SignRefresh(next)
	if err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, r.insertToken).ExecContext(ctx, next.ID, claims.SessionID, claims.ID,
		r.tokens.HashRefresh(raw), next.IssuedAt, next.ExpiresAt); err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, r.advance).ExecContext(ctx, next.ID, now, claims.SessionID); err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, r.insertAudit).ExecContext(ctx, now, userID, claims.SessionID, "127.0.0.1", "authql-ceiling"); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	var verified bool
	if err := r.readUser.QueryRowContext(ctx, userID).Scan(&verified); err != nil {
		return err
	}
	if _, _, err := r.tokens.IssueAccess(userID, claims.SessionID, expires, token.Facts{EmailVerified: verified, AMR: []string{"pwd"}}); err != nil {
		return err
	}
	c.Refresh = raw
	return nil
}

// Close releases the prepared statements.
func (r *Rotator) Close() {
	for _, st := range []*sql.Stmt{r.lock, r.markUsed, r.insertToken, r.advance, r.insertAudit, r.readUser} {
		st.Close()
	}
}
