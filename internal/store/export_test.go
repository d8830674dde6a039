package store

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/authql/authql/models"
)

// RecordSQL calls fn with the SQL and arguments of every statement s runs
// from now on, in or out of transactions: how tests see the statements the
// store's methods send.
func RecordSQL(s *Store, fn func(sql string, vars []any)) error {
	s.hot.record = fn
	for _, db := range []*gorm.DB{s.db, s.read} {
		rec := func(g *gorm.DB) { fn(g.Statement.SQL.String(), slices.Clone(g.Statement.Vars)) }
		cb := db.Callback()
		if err := cb.Query().After("gorm:query").Register("test:record", rec); err != nil {
			return err
		}
		for _, err := range []error{
			cb.Row().After("gorm:row").Register("test:record", rec),
			cb.Raw().After("gorm:raw").Register("test:record", rec),
			cb.Update().After("gorm:update").Register("test:record", rec),
			cb.Delete().After("gorm:delete").Register("test:record", rec),
		} {
			if err != nil {
				return err
			}
		}
		if s.read == s.db {
			break
		}
	}
	return nil
}

// Models are the GORM models the migrations create the tables of: the
// agreement test builds a database from them with AutoMigrate, as authql's
// first release did at every start.
var Models = []any{
	&models.User{}, &models.Session{}, &models.RefreshToken{}, &models.AuditEvent{},
	&models.TOTPFactor{}, &models.RecoveryCode{}, &models.MFAChallenge{}, &models.OutboxMail{},
	&models.EmailToken{}, &dataMigration{},
}

// AutoMigrateModels creates the tables of Models in an empty database with
// GORM AutoMigrate, with the table options the first release used.
func AutoMigrateModels(rawURL string) error {
	var s *Store
	var err error
	if strings.HasPrefix(rawURL, "sqlite://") {
		s, err = openSQLite(strings.TrimPrefix(rawURL, "sqlite://"), time.Now)
	} else {
		s, err = openMySQL(context.Background(), rawURL, time.Now, 0)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	db := s.db
	if s.dialect == "mysql" {
		db = db.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	}
	return db.AutoMigrate(Models...)
}

// WithMigrations makes Open and OpenMigrator use fsys instead of the
// embedded migrations: an older or newer release's set.
func WithMigrations(fsys fs.FS) Option { return func(o *options) { o.migrations = fsys } }

// WithLockTiming shortens the migration lock's lease, heartbeat and wait.
func WithLockTiming(lease, heartbeat, wait time.Duration) Option {
	return func(o *options) {
		o.lock.Lease, o.lock.Heartbeat, o.lock.Wait = lease, heartbeat, wait
	}
}

// PreparedStatements is how many statements the store's write pool keeps
// prepared.
func PreparedStatements(s *Store) int { return int(s.db.ConnPool.(*stmtPool).n.Load()) }

// ServerPrepares is MySQL's count of statements prepared on the connection
// of q's transaction, read without preparing a statement.
func ServerPrepares(ctx context.Context, q *Queries) (int, error) {
	var name string
	var n int
	err := q.unprepared(ctx).Raw("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'").Row().Scan(&name, &n)
	return n, err
}
