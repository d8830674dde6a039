package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authql/authql/models"
)

// Queries are the statements authql runs, bound either to the pools or to one
// transaction (see Store.InTx).
type Queries struct {
	db   *gorm.DB // writes (and reads that must see them)
	read *gorm.DB // reads that may use the read pool
	// locking makes reads inside a transaction take row locks (MySQL). SQLite
	// needs none: its transactions already hold the database's one write lock.
	locking bool
	// mysql allows MySQL's own statements (a multi-table UPDATE).
	mysql bool
	// batches allows several statements in one round trip (MySQL, except
	// on Galera: see openMySQL).
	batches bool
	// hot runs the @auth check's reads outside GORM; nil inside a transaction.
	hot *hotReads
}

func (q *Queries) forUpdate(ctx context.Context) *gorm.DB {
	db := q.db.WithContext(ctx)
	if q.locking {
		db = db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	return db
}

// unprepared is q's handle for a statement the server cannot prepare (several
// statements in one): inside a transaction it runs on the transaction itself
// rather than through the pool's prepared statements (stmtPool).
func (q *Queries) unprepared(ctx context.Context) *gorm.DB {
	db := q.db.WithContext(ctx)
	if tx, ok := db.Statement.ConnPool.(*stmtTx); ok {
		db.Statement.ConnPool = tx.Tx
	}
	return db
}

// CreateUser inserts u; ErrDuplicate if its email is taken. The unique index
// decides, so two racing signups cannot both win.
func (q *Queries) CreateUser(ctx context.Context, u *models.User) (err error) {
	defer wrap(&err, "store.CreateUser")
	return classify(q.db.WithContext(ctx).Create(u).Error)
}

// UserByEmail finds a user by normalized email.
func (q *Queries) UserByEmail(ctx context.Context, email string) (_ *models.User, err error) {
	defer wrap(&err, "store.UserByEmail")
	var u models.User
	err = q.read.WithContext(ctx).Where("email = ?", email).Take(&u).Error
	return &u, classify(err)
}

// UserByID finds a user by id.
func (q *Queries) UserByID(ctx context.Context, id string) (_ *models.User, err error) {
	defer wrap(&err, "store.UserByID")
	var u models.User
	err = q.read.WithContext(ctx).Where("id = ?", id).Take(&u).Error
	return &u, classify(err)
}

// LockCredentials reads the credentials version of a user. Inside a MySQL
// transaction it locks the row, so no password change commits until the
// caller's transaction has; SQLite's transaction holds the write lock already.
func (q *Queries) LockCredentials(ctx context.Context, userID string) (_ uint64, err error) {
	defer wrap(&err, "store.LockCredentials")
	var row struct{ CredentialsVersion uint64 }
	err = q.forUpdate(ctx).Model(&models.User{}).Select("credentials_version").Where("id = ?", userID).Take(&row).Error
	return row.CredentialsVersion, classify(err)
}

// TouchLogin records a login on its user's row. It is a write on purpose: on
// Galera, row locks are local to a node and only written rows are certified
// across the cluster, so a login that merely locked the row could commit its
// session beside a password change committed on another node, which
// revoked every session it saw but not this one. Written, the row makes the
// two conflict at commit, and the login runs again and sees the change.
func (q *Queries) TouchLogin(ctx context.Context, userID string, now time.Time) (err error) {
	defer wrap(&err, "store.TouchLogin")
	// login_count makes the row change even when last_login_at does not (two
	// logins in one millisecond): a row the UPDATE leaves as it was is not
	// in the write set, and would not conflict.
	return classify(q.db.WithContext(ctx).Model(&models.User{}).Where("id = ?", userID).
		UpdateColumns(map[string]any{"last_login_at": now, "login_count": gorm.Expr("login_count + 1")}).Error)
}

// ChangePassword sets a new password hash and a new credentials version, if
// the version is still verified, the one whose password the caller checked.
// It reports false when another change came first.
func (q *Queries) ChangePassword(ctx context.Context, userID string, verified uint64, hash string, now time.Time) (_ bool, err error) {
	defer wrap(&err, "store.ChangePassword")
	res := q.db.WithContext(ctx).Model(&models.User{}).Where("id = ? AND credentials_version = ?", userID, verified).
		Updates(map[string]any{
			"password_hash": hash, "credentials_version": gorm.Expr("credentials_version + 1"), "updated_at": now,
		})
	return res.RowsAffected == 1, classify(res.Error)
}

// RehashPassword replaces a hash by one of the same password under new
// parameters, only if the stored hash is still old: an upgrade never
// overwrites a password changed meanwhile. The credentials version stays, as
// the password does.
func (q *Queries) RehashPassword(ctx context.Context, userID, old, hash string, now time.Time) (_ bool, err error) {
	defer wrap(&err, "store.RehashPassword")
	res := q.db.WithContext(ctx).Model(&models.User{}).Where("id = ? AND password_hash = ?", userID, old).
		Updates(map[string]any{"password_hash": hash, "updated_at": now})
	return res.RowsAffected == 1, classify(res.Error)
}

// CreateSession inserts a session with its first refresh token.
func (q *Queries) CreateSession(ctx context.Context, s *models.Session, t *models.RefreshToken) (err error) {
	defer wrap(&err, "store.CreateSession")
	if err := q.db.WithContext(ctx).Create(s).Error; err != nil {
		return classify(err)
	}
	return classify(q.db.WithContext(ctx).Create(t).Error)
}

// SessionByID reads a session; inside a MySQL transaction it locks the row, so
// every rotation of one session runs one after another.
func (q *Queries) SessionByID(ctx context.Context, id string) (_ *models.Session, err error) {
	defer wrap(&err, "store.SessionByID")
	var s models.Session
	err = q.forUpdate(ctx).Where("id = ?", id).Take(&s).Error
	return &s, classify(err)
}

// SessionState is what the @auth check needs of a session: one primary-key read.
type SessionState struct {
	UserID    string
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// SessionStateByID reads the liveness of a session from the read pool.
func (q *Queries) SessionStateByID(ctx context.Context, id string) (_ *SessionState, err error) {
	defer wrap(&err, "store.SessionStateByID")
	var st SessionState
	res := q.read.WithContext(ctx).Model(&models.Session{}).Select("user_id", "expires_at", "revoked_at").
		Where("id = ?", id).Limit(1).Scan(&st)
	if res.Error != nil {
		return nil, classify(res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	return &st, nil
}

// liveSessionUserSQL is LiveSessionUser's one statement, written out.
const liveSessionUserSQL = "SELECT users.email, users.email_verified, users.mfa_enabled, users.created_at " +
	"FROM sessions JOIN users ON users.id = sessions.user_id " +
	"WHERE sessions.id = ? AND sessions.user_id = ? AND sessions.revoked_at IS NULL AND sessions.expires_at > ? LIMIT 1"

// LiveSessionUser reads, from the read pool, the user of a session that is
// the user's, not revoked and not expired at now: ErrNotFound otherwise. It
// is the @auth check, made on every authenticated request, and what me
// answers. The user is as me serves it and access tokens claim it, without
// its password hash, credentials version and update time.
//
// It is one statement (two primary-key lookups joined): one round trip on
// MySQL, one compiled statement on SQLite. The session's liveness is the
// statement's condition rather than columns to compare afterwards: fewer
// columns to convert (a time column costs the SQLite driver a failed parse
// and several allocations). The statement is written out and its row
// scanned field by field, outside GORM (readRow): GORM's clause building,
// callbacks and reflection were about half of me's allocations.
func (q *Queries) LiveSessionUser(ctx context.Context, sessionID, userID string, now time.Time) (_ *models.User, err error) {
	defer wrap(&err, "store.LiveSessionUser")
	u := models.User{ID: userID}
	err = q.readRow(ctx, "sessions", liveSessionUserSQL, []any{sessionID, userID, now},
		&u.Email, &u.EmailVerified, &u.MFAEnabled, &u.CreatedAt)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// readRow runs one written-out statement on the read pool and scans its
// first row into dest: ErrNotFound when there is none. The Store's own
// Queries run it on database/sql (hotReads); a transaction's, on GORM's row
// callbacks. Failure hooks and statement spans see it either way.
func (q *Queries) readRow(ctx context.Context, table, query string, args []any, dest ...any) error {
	if q.hot != nil {
		return q.hot.row(ctx, table, query, args, dest...)
	}
	return scanRow(q.read.WithContext(ctx).Raw(query, args...), dest...)
}

// scanRow runs the statement db holds and scans its first row into dest:
// ErrNotFound when there is none.
func scanRow(db *gorm.DB, dest ...any) error {
	rows, err := db.Rows()
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return classify(err)
		}
		return ErrNotFound
	}
	if err := rows.Scan(dest...); err != nil {
		return classify(err)
	}
	// The statement's outcome comes after its rows: a statement cut short
	// can send a row, then its error (database/sql's Row.Scan reads to the
	// end for the same reason). On Galera, a locking read aborted by a
	// conflicting write set from another node sent its row with the user's
	// subqueries NULL, then 1213; reading only the row, a live session
	// looked missing and its refresh was refused
	// (TestRefreshUnderConflictingWrites).
	return classify(rows.Close())
}

// sessionTokenSQL is SessionWithToken's statement, written out and scanned
// field by field: GORM's Scan into a struct reflected over every column, in
// the transaction every rotation of the session waits for. The user's
// columns are scalar subqueries, not a join: a locking read locks the rows of
// the tables it joins but not those its subqueries read (InnoDB), so every
// refresh of a user does not queue behind the user's row, nor a password
// change behind a refresh.
const sessionTokenSQL = "SELECT sessions.id, sessions.user_id, sessions.current_token_id, sessions.expires_at, sessions.revoked_at, sessions.amr, " +
	"refresh_tokens.id, refresh_tokens.session_id, refresh_tokens.parent_id, refresh_tokens.hash, refresh_tokens.issued_at, " +
	"refresh_tokens.expires_at, refresh_tokens.used_at, " +
	"(SELECT users.email FROM users WHERE users.id = sessions.user_id), " +
	"(SELECT users.email_verified FROM users WHERE users.id = sessions.user_id), " +
	"(SELECT users.mfa_enabled FROM users WHERE users.id = sessions.user_id), " +
	"(SELECT users.created_at FROM users WHERE users.id = sessions.user_id) " +
	"FROM sessions JOIN refresh_tokens ON refresh_tokens.id = ? WHERE sessions.id = ? LIMIT 1"

// sessionTokenLockingSQL is sessionTokenSQL locking the session and token.
const sessionTokenLockingSQL = sessionTokenSQL + " FOR UPDATE"

// SessionWithToken reads a session, one refresh token and the session's
// user in one statement; inside a MySQL transaction it locks the session and
// the token (not the user), so every rotation of one session runs one after
// another. ErrNotFound when any of them is missing. The session has what a
// rotation needs: id, user, current token, end, revocation and amr. The user
// is as me serves it and access tokens claim it, without its password hash,
// credentials version and update time: a refresh answers with it and reads
// nothing after the commit.
func (q *Queries) SessionWithToken(ctx context.Context, sessionID, tokenID string) (_ *models.Session, _ *models.RefreshToken, _ *models.User, err error) {
	defer wrap(&err, "store.SessionWithToken")
	query := sessionTokenSQL
	if q.locking {
		query = sessionTokenLockingSQL
	}
	var (
		sess     models.Session
		tok      models.RefreshToken
		email    *string
		verified *bool
		mfa      *bool
		created  *time.Time
	)
	err = scanRow(q.db.WithContext(ctx).Raw(query, tokenID, sessionID),
		&sess.ID, &sess.UserID, &sess.CurrentTokenID, &sess.ExpiresAt, &sess.RevokedAt, &sess.AMR,
		&tok.ID, &tok.SessionID, &tok.ParentID, &tok.Hash, &tok.IssuedAt, &tok.ExpiresAt, &tok.UsedAt,
		&email, &verified, &mfa, &created)
	if err != nil {
		return nil, nil, nil, err
	}
	if email == nil || verified == nil || mfa == nil || created == nil {
		return nil, nil, nil, ErrNotFound
	}
	u := &models.User{ID: sess.UserID, Email: *email, EmailVerified: *verified, MFAEnabled: *mfa, CreatedAt: *created}
	return &sess, &tok, u, nil
}

// The statements of a rotation, written out: GORM's Create and Updates
// reflect over the model and build the SQL on every call, inside the
// transaction every rotation of a session (on SQLite, every write) waits for.
const (
	insertTokenSQL = "INSERT INTO refresh_tokens (id, session_id, parent_id, hash, issued_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
	insertAuditSQL = "INSERT INTO audit_events (created_at, type, user_id, session_id, ip_address, user_agent, detail, count, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	markUsedSQL    = "UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL"
	advanceSQL     = "UPDATE sessions SET current_token_id = ?, last_used_at = ? WHERE id = ?"
)

// rotateSQL is RotateToken's one round trip on MySQL but Galera (the
// connection runs multiple statements, see openMySQL): the successor and the
// audit row are inserted, then the presented token consumed and the session
// advanced in one multi-table UPDATE. The UPDATE comes last because its count is the one
// the driver reports, and it is the arbiter: when it changes nothing the
// caller's transaction rolls the inserts back. A failure of any statement
// ends the batch there and fails the whole Exec.
const rotateSQL = insertTokenSQL + ";\n" + insertAuditSQL + ";\n" +
	"UPDATE refresh_tokens t JOIN sessions s ON s.id = t.session_id " +
	"SET t.used_at = ?, s.current_token_id = ?, s.last_used_at = ? WHERE t.id = ? AND t.used_at IS NULL AND s.id = ?"

// RotateToken consumes the refresh token usedID, stores its successor next,
// makes next the session's current token and records audit. It reports
// false when usedID was already used: the conditional update is the arbiter
// on both engines, and the caller must then roll its transaction back (in a
// batch the inserts have run). On MySQL all of it is one round trip; SQLite,
// in process, where a statement costs no round trip, and Galera, where a
// batch is not safe (openMySQL), run four prepared ones.
func (q *Queries) RotateToken(ctx context.Context, usedID string, next *models.RefreshToken, now time.Time, audit *models.AuditEvent) (_ bool, err error) {
	defer wrap(&err, "store.RotateToken")
	if audit.CreatedAt.IsZero() {
		audit.CreatedAt = now
	}
	if audit.Count == 0 {
		audit.Count = 1
	}
	token := []any{next.ID, next.SessionID, next.ParentID, next.Hash, next.IssuedAt, next.ExpiresAt, next.UsedAt}
	event := []any{audit.CreatedAt, audit.Type, audit.UserID, audit.SessionID, audit.IPAddress, audit.UserAgent, audit.Detail, audit.Count, audit.DedupeKey}
	if q.batches {
		res := q.unprepared(ctx).Exec(rotateSQL, slices.Concat(token, event, []any{now, next.ID, now, usedID, next.SessionID})...)
		if err := classify(res.Error); err != nil {
			return false, err
		}
		return res.RowsAffected == 2, nil
	}
	db := q.db.WithContext(ctx)
	res := db.Exec(markUsedSQL, now, usedID)
	if err := classify(res.Error); err != nil || res.RowsAffected != 1 {
		return false, err
	}
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{insertTokenSQL, token},
		{advanceSQL, []any{next.ID, now, next.SessionID}},
		{insertAuditSQL, event},
	} {
		if err := classify(db.Exec(st.sql, st.args...).Error); err != nil {
			return false, err
		}
	}
	return true, nil
}

// RefreshTokenByID reads a refresh token row (locked inside a MySQL transaction).
func (q *Queries) RefreshTokenByID(ctx context.Context, id string) (_ *models.RefreshToken, err error) {
	defer wrap(&err, "store.RefreshTokenByID")
	var t models.RefreshToken
	err = q.forUpdate(ctx).Where("id = ?", id).Take(&t).Error
	return &t, classify(err)
}

// RevokeSession revokes a live session of a user and reports whether it did;
// a session already revoked, or not the user's, is left as it is.
func (q *Queries) RevokeSession(ctx context.Context, userID, sessionID, reason string, at time.Time) (_ bool, err error) {
	defer wrap(&err, "store.RevokeSession")
	res := q.db.WithContext(ctx).Model(&models.Session{}).Where("id = ? AND user_id = ?", sessionID, userID).
		Where("revoked_at IS NULL").Updates(map[string]any{"revoked_at": at, "revoked_reason": reason})
	return res.RowsAffected == 1, classify(res.Error)
}

// RevokeUserSessions revokes every live session of a user but except (may be
// empty) and reports how many it revoked.
func (q *Queries) RevokeUserSessions(ctx context.Context, userID, except, reason string, at time.Time) (_ int64, err error) {
	defer wrap(&err, "store.RevokeUserSessions")
	db := q.db.WithContext(ctx).Model(&models.Session{}).Where("user_id = ? AND revoked_at IS NULL", userID)
	if except != "" {
		db = db.Where("id <> ?", except)
	}
	res := db.Updates(map[string]any{"revoked_at": at, "revoked_reason": reason})
	return res.RowsAffected, classify(res.Error)
}

// CountLiveSessions counts a user's sessions that are neither revoked nor
// expired. Inside a MySQL transaction it is a locking read, which sees every
// session committed before it, whatever snapshot the transaction holds.
func (q *Queries) CountLiveSessions(ctx context.Context, userID string, now time.Time) (_ int64, err error) {
	defer wrap(&err, "store.CountLiveSessions")
	var n int64
	err = q.forUpdate(ctx).Model(&models.Session{}).
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, now).Count(&n).Error
	return n, classify(err)
}

// LeastRecentlyUsedSessions returns the ids of a user's n live sessions used
// least recently (locked inside a MySQL transaction).
func (q *Queries) LeastRecentlyUsedSessions(ctx context.Context, userID string, now time.Time, n int) (_ []string, err error) {
	defer wrap(&err, "store.LeastRecentlyUsedSessions")
	var ids []string
	err = q.forUpdate(ctx).Model(&models.Session{}).
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, now).
		Order("last_used_at").Order("created_at").Order("id").Limit(n).Pluck("id", &ids).Error
	return ids, classify(err)
}

// LiveSessions lists a user's sessions that are neither revoked nor expired,
// newest first.
func (q *Queries) LiveSessions(ctx context.Context, userID string, now time.Time) (_ []models.Session, err error) {
	defer wrap(&err, "store.LiveSessions")
	var out []models.Session
	err = q.read.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, now).
		Order("created_at DESC").Order("id DESC").Find(&out).Error
	return out, classify(err)
}

// PruneExpired deletes up to batch sessions that expired before cutoff, with
// their refresh tokens, in one transaction: a session is never left without
// the tokens whose reuse it must detect. Rows of used and revoked tokens live
// exactly as long as their session, so reuse detection never lapses while a
// token could still verify.
func (s *Store) PruneExpired(ctx context.Context, cutoff time.Time, batch int) (_ int64, err error) {
	defer wrap(&err, "store.PruneExpired")
	return InTxValue(ctx, s, func(q *Queries) (int64, error) {
		var ids []string
		if err := q.db.WithContext(ctx).Model(&models.Session{}).Where("expires_at < ?", cutoff).
			Limit(batch).Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
			return 0, classify(err)
		}
		if err := q.db.WithContext(ctx).Where("session_id IN ?", ids).Delete(&models.RefreshToken{}).Error; err != nil {
			return 0, classify(err)
		}
		res := q.db.WithContext(ctx).Where("id IN ?", ids).Delete(&models.Session{})
		return res.RowsAffected, classify(res.Error)
	})
}

// InsertAuditEvent records a security event.
func (q *Queries) InsertAuditEvent(ctx context.Context, e *models.AuditEvent) (err error) {
	defer wrap(&err, "store.InsertAuditEvent")
	return classify(q.db.WithContext(ctx).Create(e).Error)
}

// CountAuditEvent records e, which has a DedupeKey, or counts one more
// occurrence on the row already recorded with that key. It reports whether it
// created the row. An insert that the unique key refuses, then an increment,
// rather than one upsert: neither engine tells reliably whether an upsert
// inserted (SQLite counts an update as one row, as an insert; MariaDB answers
// an upsert's RETURNING with the row either way).
func (q *Queries) CountAuditEvent(ctx context.Context, e *models.AuditEvent) (_ bool, err error) {
	defer wrap(&err, "store.CountAuditEvent")
	err = classify(q.db.WithContext(ctx).Create(e).Error)
	if !errors.Is(err, ErrDuplicate) {
		return err == nil, err
	}
	return false, classify(q.db.WithContext(ctx).Model(&models.AuditEvent{}).Where("dedupe_key = ?", *e.DedupeKey).
		Update("count", gorm.Expr("? + 1", clause.Column{Name: "count"})).Error)
}

// AuditEvents lists a user's events newest first, after the cursor (an event id;
// 0 for the first page). It fetches limit rows.
func (q *Queries) AuditEvents(ctx context.Context, userID string, before uint64, limit int) (_ []models.AuditEvent, err error) {
	defer wrap(&err, "store.AuditEvents")
	db := q.read.WithContext(ctx).Where("user_id = ?", userID)
	if before > 0 {
		db = db.Where("id < ?", before)
	}
	var out []models.AuditEvent
	err = db.Order("id DESC").Limit(limit).Find(&out).Error
	return out, classify(err)
}

// PruneAuditEvents deletes events older than cutoff, at most batch at a time.
func (q *Queries) PruneAuditEvents(ctx context.Context, cutoff time.Time, batch int) (_ int64, err error) {
	defer wrap(&err, "store.PruneAuditEvents")
	var ids []uint64
	if err := q.read.WithContext(ctx).Model(&models.AuditEvent{}).Where("created_at < ?", cutoff).
		Order("id").Limit(batch).Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
		return 0, classify(err)
	}
	res := q.db.WithContext(ctx).Where("id IN ?", ids).Delete(&models.AuditEvent{})
	return res.RowsAffected, classify(res.Error)
}
