package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/authql/authql/models"
)

// ResetPassword sets a new password hash from a reset link: a new credentials
// version, like ChangePassword, so a login that checked the old password
// cannot start a session after it; and the address verified, since the link
// reached its inbox. It reports false when the user is gone.
func (q *Queries) ResetPassword(ctx context.Context, userID, hash string, now time.Time) (_ bool, err error) {
	defer wrap(&err, "store.ResetPassword")
	res := q.db.WithContext(ctx).Model(&models.User{}).Where("id = ?", userID).
		Updates(map[string]any{
			"password_hash": hash, "credentials_version": gorm.Expr("credentials_version + 1"),
			"email_verified": true, "updated_at": now,
		})
	return res.RowsAffected == 1, classify(res.Error)
}

// MarkEmailVerified records that the user proved the address.
func (q *Queries) MarkEmailVerified(ctx context.Context, userID string, now time.Time) (_ bool, err error) {
	defer wrap(&err, "store.MarkEmailVerified")
	res := q.db.WithContext(ctx).Model(&models.User{}).Where("id = ?", userID).
		Updates(map[string]any{"email_verified": true, "updated_at": now})
	return res.RowsAffected == 1, classify(res.Error)
}

// DeleteQueuedMail deletes the mails waiting to go to an address, and reports
// how many: the account they were for is being deleted.
//
// It finds them with a plain read (through idx_outbox_mails_recipient) and
// deletes them by primary key, so that the account deletion's transaction
// locks those rows and nothing else. A DELETE ... WHERE recipient = ? under
// InnoDB's REPEATABLE READ locks every index record it scans and the gaps
// around them until the transaction ends. Without the index that is the whole
// outbox: the sender's claims (FOR UPDATE SKIP LOCKED) found no mail and
// every new mail's INSERT waited. With the index it is the address's range
// plus the gaps on either side, so a mail queued for a neighbouring address
// in index order (a signup as bob2@ while bob@ is deleted) still waited; and
// the planner scans anyway when one address holds a large share of a small
// outbox. By primary key each row is an exact match on a unique index, which
// InnoDB locks without gaps (TestAccountDeletionLocksOnlyItsMail). READ
// COMMITTED for this transaction would also drop the gap locks, but needs a
// per-transaction isolation level in InTx, and MySQL refuses its writes when
// binlog_format is STATEMENT.
//
// A mail queued for the address by a transaction that commits after the read
// stays queued, as one queued after a DELETE by recipient did: its link
// carries a token of the deleted user, which no longer works.
func (q *Queries) DeleteQueuedMail(ctx context.Context, recipient string) (_ int64, err error) {
	defer wrap(&err, "store.DeleteQueuedMail")
	var ids []string
	err = q.db.WithContext(ctx).Model(&models.OutboxMail{}).Where("recipient = ?", recipient).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, classify(err)
	}
	res := q.db.WithContext(ctx).Where("id IN ?", ids).Delete(&models.OutboxMail{})
	return res.RowsAffected, classify(res.Error)
}

// DeleteUser deletes a user with every row of theirs: sessions and their
// refresh tokens, second factor, email tokens and audit events. The caller
// has locked the user row (LockCredentials) and deletes their queued mail
// (DeleteQueuedMail), which is keyed by address. Several statements: run it
// in the caller's transaction.
func (q *Queries) DeleteUser(ctx context.Context, userID string) (err error) {
	defer wrap(&err, "store.DeleteUser")
	db := q.db.WithContext(ctx)
	sessions := db.Model(&models.Session{}).Select("id").Where("user_id = ?", userID)
	if err := db.Where("session_id IN (?)", sessions).Delete(&models.RefreshToken{}).Error; err != nil {
		return classify(err)
	}
	for _, m := range []any{&models.Session{}, &models.EmailToken{}, &models.AuditEvent{}} {
		if err := db.Where("user_id = ?", userID).Delete(m).Error; err != nil {
			return classify(err)
		}
	}
	if err := q.DeleteUserMFA(ctx, userID); err != nil {
		return err
	}
	return classify(db.Where("id = ?", userID).Delete(&models.User{}).Error)
}
