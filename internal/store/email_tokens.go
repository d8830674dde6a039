package store

import (
	"context"
	"time"

	"github.com/authql/authql/models"
)

// The email token queries. As for MFA codes, the check that a token still
// works is the WHERE clause of the UPDATE that spends it: of two requests
// racing with one token, on one instance or two, exactly one wins.

// CreateEmailToken stores a token (its hash). Run it on the transaction that
// queues the mail carrying the token.
func (q *Queries) CreateEmailToken(ctx context.Context, t *models.EmailToken) (err error) {
	defer wrap(&err, "store.CreateEmailToken")
	return classify(q.db.WithContext(ctx).Create(t).Error)
}

// EmailTokenByHash finds a token by its hash, whatever its state; ErrNotFound
// when there is none. Callers spend it with ConsumeEmailToken, which decides.
func (q *Queries) EmailTokenByHash(ctx context.Context, hash string) (_ *models.EmailToken, err error) {
	defer wrap(&err, "store.EmailTokenByHash")
	var t models.EmailToken
	err = q.read.WithContext(ctx).Where("hash = ?", hash).Take(&t).Error
	return &t, classify(err)
}

// ConsumeEmailToken spends the token of kind with this hash, for userID, if it
// is unused, not voided and unexpired at now. It reports whether it did.
func (q *Queries) ConsumeEmailToken(ctx context.Context, hash, kind, userID string, now time.Time) (_ bool, err error) {
	defer wrap(&err, "store.ConsumeEmailToken")
	res := q.db.WithContext(ctx).Model(&models.EmailToken{}).
		Where("hash = ? AND kind = ? AND user_id = ? AND used_at IS NULL AND voided_at IS NULL AND expires_at > ?", hash, kind, userID, now).
		Update("used_at", now)
	return res.RowsAffected == 1, classify(res.Error)
}

// VoidEmailTokens voids every outstanding token of kind of a user and reports
// how many.
func (q *Queries) VoidEmailTokens(ctx context.Context, userID, kind string, now time.Time) (_ int64, err error) {
	defer wrap(&err, "store.VoidEmailTokens")
	res := q.db.WithContext(ctx).Model(&models.EmailToken{}).
		Where("user_id = ? AND kind = ? AND used_at IS NULL AND voided_at IS NULL", userID, kind).
		Update("voided_at", now)
	return res.RowsAffected, classify(res.Error)
}

// PruneEmailTokens deletes up to batch tokens that expired before cutoff: a
// used or voided token is worth nothing once expired either.
func (q *Queries) PruneEmailTokens(ctx context.Context, cutoff time.Time, batch int) (_ int64, err error) {
	defer wrap(&err, "store.PruneEmailTokens")
	return q.pruneExpiredRows(ctx, &models.EmailToken{}, cutoff, batch)
}

// pruneExpiredRows deletes up to batch rows of model (a table keyed by a
// string id with an expires_at) that expired before cutoff: found on the read
// pool, deleted by primary key.
func (q *Queries) pruneExpiredRows(ctx context.Context, model any, cutoff time.Time, batch int) (int64, error) {
	var ids []string
	if err := q.read.WithContext(ctx).Model(model).Where("expires_at < ?", cutoff).
		Limit(batch).Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
		return 0, classify(err)
	}
	res := q.db.WithContext(ctx).Where("id IN ?", ids).Delete(model)
	return res.RowsAffected, classify(res.Error)
}
