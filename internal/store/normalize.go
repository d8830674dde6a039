package store

import (
	"context"
	"errors"
	"log/slog"

	"gorm.io/gorm/clause"

	"github.com/authql/authql/models"
)

// EmailNormalizationV1 names the rewrite of users.email from the first rule
// (trimmed and lower-cased) to NFKC, case folding and IDNA.
const EmailNormalizationV1 = "email-normalization-v1"

// dataMigration records a one-time rewrite of rows that has run, so that later
// starts skip the scan. Its table comes from the schema migrations (00002).
type dataMigration struct {
	Name      string `gorm:"primaryKey;type:varchar(64);not null"`
	AppliedAt int64  `gorm:"not null"`
}

func (dataMigration) TableName() string { return "authql_data_migrations" }

// normalizeBatch is how many users are read at a time.
const normalizeBatch = 500

// NormalizeEmails rewrites every users.email to normalize(email) where that
// differs, once per database (name records it). A row whose normalized form
// is already another account's, or that normalize refuses, is left as it is
// and logged by user id: merging two accounts is a person's decision, not a
// migration's. Instances starting together may both scan; the rewrite is
// idempotent. It takes the rule as a function so the store does not depend
// on the domain.
//
// Instances starting together on different Galera nodes may also collide on
// a write (both record name at once: a certification conflict, 1213); the
// loser runs again, as InTx does, and then finds the rewrite recorded.
func (s *Store) NormalizeEmails(ctx context.Context, name string, normalize func(string) (string, error), log *slog.Logger) (err error) {
	defer wrap(&err, "store.NormalizeEmails")
	return retrying(ctx, func() error { return s.normalizeEmails(ctx, name, normalize, log) })
}

func (s *Store) normalizeEmails(ctx context.Context, name string, normalize func(string) (string, error), log *slog.Logger) (err error) {
	var done int64
	if err := s.db.WithContext(ctx).Model(&dataMigration{}).Where("name = ?", name).Count(&done).Error; err != nil {
		return classify(err)
	}
	if done > 0 {
		return nil
	}
	var rewritten, kept int
	after := ""
	for {
		var users []models.User
		err := s.db.WithContext(ctx).Select("id", "email").Where("id > ?", after).
			Order("id").Limit(normalizeBatch).Find(&users).Error
		if err != nil {
			return classify(err)
		}
		for _, u := range users {
			want, err := normalize(u.Email)
			if err != nil {
				kept++
				log.WarnContext(ctx, "stored email cannot be normalized; left as it is", "user", u.ID)
				continue
			}
			if want == u.Email {
				continue
			}
			res := s.db.WithContext(ctx).Model(&models.User{}).Where("id = ? AND email = ?", u.ID, u.Email).
				Updates(map[string]any{"email": want, "updated_at": s.Now()})
			if err := classify(res.Error); errors.Is(err, ErrDuplicate) {
				kept++
				log.WarnContext(ctx, "stored email normalizes to another account's; left as it is", "user", u.ID)
				continue
			} else if err != nil {
				return err
			}
			rewritten += int(res.RowsAffected)
		}
		if len(users) < normalizeBatch {
			break
		}
		after = users[len(users)-1].ID
	}
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&dataMigration{Name: name, AppliedAt: s.Now().Unix()}).Error
	if err != nil {
		return classify(err)
	}
	if rewritten > 0 || kept > 0 {
		log.InfoContext(ctx, "stored emails normalized", "rewritten", rewritten, "left", kept)
	}
	return nil
}
