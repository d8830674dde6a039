package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/authql/authql/models"
)

// The MFA queries. Every check that a code or a token may still be used is the
// WHERE clause of the UPDATE that spends it, and every spend reports whether
// its row changed: of two requests racing with the same code, on one instance
// or two, exactly one wins, on both engines.

// LockMFAState reads a user's credentials version and whether MFA is on.
// Inside a MySQL transaction it locks the user row (see LockCredentials): the
// flows that turn MFA on or off and the session starts that depend on it take
// this lock first, so each sees the other whole.
func (q *Queries) LockMFAState(ctx context.Context, userID string) (version uint64, enabled bool, err error) {
	defer wrap(&err, "store.LockMFAState")
	var row struct {
		CredentialsVersion uint64
		MFAEnabled         bool
	}
	err = q.forUpdate(ctx).Model(&models.User{}).Select("credentials_version", "mfa_enabled").
		Where("id = ?", userID).Take(&row).Error
	return row.CredentialsVersion, row.MFAEnabled, classify(err)
}

// SetMFAEnabled writes users.mfa_enabled, in the transaction that confirms or
// removes the factor it mirrors (after LockMFAState found the user).
func (q *Queries) SetMFAEnabled(ctx context.Context, userID string, on bool, now time.Time) (err error) {
	defer wrap(&err, "store.SetMFAEnabled")
	return classify(q.db.WithContext(ctx).Model(&models.User{}).Where("id = ?", userID).
		Updates(map[string]any{"mfa_enabled": on, "updated_at": now}).Error)
}

// StartTOTPEnrollment stores f as the user's pending factor, replacing a
// pending one. It fails with ErrDuplicate when the user has a confirmed
// factor, which enrolment never replaces. Two statements: run it in the
// caller's transaction.
func (q *Queries) StartTOTPEnrollment(ctx context.Context, f *models.TOTPFactor) error {
	if err := q.db.WithContext(ctx).Where("user_id = ? AND confirmed_at IS NULL", f.UserID).
		Delete(&models.TOTPFactor{}).Error; err != nil {
		return classify(err)
	}
	return classify(q.db.WithContext(ctx).Create(f).Error)
}

// TOTPFactorByUser reads a user's factor, confirmed or pending; ErrNotFound
// when there is none. Its Secret is sealed.
func (q *Queries) TOTPFactorByUser(ctx context.Context, userID string) (*models.TOTPFactor, error) {
	var f models.TOTPFactor
	err := q.read.WithContext(ctx).Where("user_id = ?", userID).Take(&f).Error
	return &f, classify(err)
}

// ConfirmTOTPFactor activates the user's pending factor with the step of the
// code that proved it, which that spends: the code that enrolled cannot then
// sign in. It reports false when there is no pending factor or the step is not
// after the last one used.
func (q *Queries) ConfirmTOTPFactor(ctx context.Context, userID string, step int64, at time.Time) (bool, error) {
	res := q.db.WithContext(ctx).Model(&models.TOTPFactor{}).
		Where("user_id = ? AND confirmed_at IS NULL AND last_used_step < ?", userID, step).
		Updates(map[string]any{"confirmed_at": at, "last_used_step": step})
	return res.RowsAffected == 1, classify(res.Error)
}

// UseTOTPStep spends a time step of the user's confirmed factor. It reports
// false when the step is not after the last one used (a replayed code, or one
// older than a code already accepted) or there is no confirmed factor.
func (q *Queries) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res := q.db.WithContext(ctx).Model(&models.TOTPFactor{}).
		Where("user_id = ? AND confirmed_at IS NOT NULL AND last_used_step < ?", userID, step).
		Update("last_used_step", step)
	return res.RowsAffected == 1, classify(res.Error)
}

// ReplaceRecoveryCodes makes hashes the user's only recovery codes, all
// unused. Two statements: run it in the caller's transaction, the one that
// confirms the factor.
func (q *Queries) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error {
	if err := q.db.WithContext(ctx).Where("user_id = ?", userID).Delete(&models.RecoveryCode{}).Error; err != nil {
		return classify(err)
	}
	if len(hashes) == 0 {
		return nil
	}
	rows := make([]models.RecoveryCode, len(hashes))
	for i, h := range hashes {
		rows[i] = models.RecoveryCode{UserID: userID, Hash: h, CreatedAt: now}
	}
	return classify(q.db.WithContext(ctx).Create(&rows).Error)
}

// UseRecoveryCode spends the user's code with this hash. It reports false
// when the user has no such code or it was spent already, which callers need
// not tell apart.
func (q *Queries) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) (bool, error) {
	res := q.db.WithContext(ctx).Model(&models.RecoveryCode{}).
		Where("hash = ? AND user_id = ? AND used_at IS NULL", hash, userID).Update("used_at", at)
	return res.RowsAffected == 1, classify(res.Error)
}

// CreateMFAChallenge stores a login's pending second step.
func (q *Queries) CreateMFAChallenge(ctx context.Context, c *models.MFAChallenge) error {
	return classify(q.db.WithContext(ctx).Create(c).Error)
}

// MFAChallengeByHash finds a challenge by the keyed hash of its token, used,
// expired or not: the caller decides, and spends it with ConsumeMFAChallenge.
func (q *Queries) MFAChallengeByHash(ctx context.Context, hash string) (*models.MFAChallenge, error) {
	var c models.MFAChallenge
	err := q.read.WithContext(ctx).Where("hash = ?", hash).Take(&c).Error
	return &c, classify(err)
}

// RecordMFAFailure counts a wrong code against an unused challenge and
// returns its failures so far; ErrNotFound when the challenge is unknown or
// already used. Run it in a transaction: the update then holds the row until
// commit, so the count returned is exactly this failure's, however many
// requests fail at once.
func (q *Queries) RecordMFAFailure(ctx context.Context, id string) (int, error) {
	res := q.db.WithContext(ctx).Model(&models.MFAChallenge{}).Where("id = ? AND used_at IS NULL", id).
		Update("failed_attempts", gorm.Expr("failed_attempts + 1"))
	if res.Error != nil {
		return 0, classify(res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, ErrNotFound
	}
	var row struct{ FailedAttempts int }
	err := q.db.WithContext(ctx).Model(&models.MFAChallenge{}).Select("failed_attempts").Where("id = ?", id).Take(&row).Error
	return row.FailedAttempts, classify(err)
}

// ConsumeMFAChallenge spends a challenge. It reports false, and spends
// nothing, unless the challenge is unused, unexpired at now, and has fewer
// than maxFailures wrong codes against it: a challenge dead for its failures
// stays dead even for the right code.
func (q *Queries) ConsumeMFAChallenge(ctx context.Context, id string, maxFailures int, now time.Time) (bool, error) {
	res := q.db.WithContext(ctx).Model(&models.MFAChallenge{}).
		Where("id = ? AND used_at IS NULL AND expires_at > ? AND failed_attempts < ?", id, now, maxFailures).
		Update("used_at", now)
	return res.RowsAffected == 1, classify(res.Error)
}

// DeleteMFAChallenges deletes a user's challenges, pending or not, and
// reports how many: a login's second step must not outlive a password change
// or reset that came after it.
func (q *Queries) DeleteMFAChallenges(ctx context.Context, userID string) (int64, error) {
	res := q.db.WithContext(ctx).Where("user_id = ?", userID).Delete(&models.MFAChallenge{})
	return res.RowsAffected, classify(res.Error)
}

// DeleteUserMFA deletes a user's factor, recovery codes and challenges: MFA
// turned off, or the account deleted. Three statements: run it in the
// caller's transaction.
func (q *Queries) DeleteUserMFA(ctx context.Context, userID string) error {
	for _, m := range []any{&models.TOTPFactor{}, &models.RecoveryCode{}, &models.MFAChallenge{}} {
		if err := q.db.WithContext(ctx).Where("user_id = ?", userID).Delete(m).Error; err != nil {
			return classify(err)
		}
	}
	return nil
}

// PruneMFAChallenges deletes up to batch challenges that expired before
// cutoff; a used one is worth nothing once expired either.
func (q *Queries) PruneMFAChallenges(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	return q.pruneExpiredRows(ctx, &models.MFAChallenge{}, cutoff, batch)
}
