package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authql/authql/models"
)

// The mail outbox: rows written in the caller's transaction, claimed by one
// sender at a time, deleted once delivered.
//
// A claim moves a row's NextAttemptAt to the end of its lease, so "due" is
// the one indexed condition next_attempt_at <= now: a claimed row is not due
// until its lease runs out, and a sender that died mid-attempt gives its rows
// back by doing nothing.

// EnqueueMail inserts a mail into the outbox. Run it on the transaction's
// Queries that writes the token the mail carries: both commit, or neither.
func (q *Queries) EnqueueMail(ctx context.Context, m *models.OutboxMail) error {
	return classify(q.db.WithContext(ctx).Create(m).Error)
}

// ClaimMail leases up to limit due mails to owner until now+lease and returns
// them, oldest due first. On MySQL (8.0, MariaDB 10.6 and later) it reads with
// FOR UPDATE SKIP LOCKED, so senders of several instances claiming at once
// take disjoint rows instead of waiting for one another; on SQLite the single
// writer runs claims one after another.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, limit int, owner string, lease time.Duration) ([]models.OutboxMail, error) {
	until := now.Add(lease)
	return InTxValue(ctx, s, func(q *Queries) ([]models.OutboxMail, error) {
		db := q.db.WithContext(ctx)
		if q.locking {
			db = db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
		}
		var rows []models.OutboxMail
		if err := db.Where("next_attempt_at <= ?", now).Order("next_attempt_at").Order("id").
			Limit(limit).Find(&rows).Error; err != nil || len(rows) == 0 {
			return nil, classify(err)
		}
		// One UPDATE per row, by primary key: an exact match that locks only
		// the row the SELECT above already holds. A single UPDATE ... WHERE
		// id IN (...) is planned as a scan of the primary key once the batch
		// is a large share of a small outbox (MariaDB: 10 ids of 40 rows),
		// and a scan waits on every row another transaction holds, such as
		// the mail of an account being deleted, which SKIP LOCKED had just
		// stepped over (TestAccountDeletionLocksOnlyItsMail).
		for i := range rows {
			rows[i].ClaimedBy, rows[i].ClaimedUntil, rows[i].NextAttemptAt = &owner, &until, until
			err := q.db.WithContext(ctx).Model(&models.OutboxMail{}).Where("id = ?", rows[i].ID).
				Updates(map[string]any{"claimed_by": owner, "claimed_until": until, "next_attempt_at": until}).Error
			if err != nil {
				return nil, classify(err)
			}
		}
		return rows, nil
	})
}

// MarkMailDelivered deletes a delivered mail, whoever holds it now: once
// delivered, nobody is to send it again.
func (q *Queries) MarkMailDelivered(ctx context.Context, id string) error {
	return classify(q.db.WithContext(ctx).Where("id = ?", id).Delete(&models.OutboxMail{}).Error)
}

// MarkMailFailed counts a failed attempt, records its class and makes the
// mail due again at next, releasing the lease. It reports false when owner no
// longer holds the mail (its lease ran out and another sender claimed it, or
// it was delivered): the newer holder's state stands.
func (q *Queries) MarkMailFailed(ctx context.Context, id, owner string, next time.Time, class string) (bool, error) {
	res := q.db.WithContext(ctx).Model(&models.OutboxMail{}).Where("id = ? AND claimed_by = ?", id, owner).
		Updates(map[string]any{
			"attempts": gorm.Expr("attempts + 1"), "next_attempt_at": next, "last_error": class,
			"claimed_by": nil, "claimed_until": nil,
		})
	return res.RowsAffected == 1, classify(res.Error)
}

// DropMail deletes a mail that will not be delivered (its link expired), if
// owner still holds it.
func (q *Queries) DropMail(ctx context.Context, id, owner string) (bool, error) {
	res := q.db.WithContext(ctx).Where("id = ? AND claimed_by = ?", id, owner).Delete(&models.OutboxMail{})
	return res.RowsAffected == 1, classify(res.Error)
}

// MailQueueDepth counts the mails not yet delivered, claimed or not.
func (q *Queries) MailQueueDepth(ctx context.Context) (int64, error) {
	var n int64
	err := q.read.WithContext(ctx).Model(&models.OutboxMail{}).Count(&n).Error
	return n, classify(err)
}
