package store

import (
	"slices"

	"gorm.io/gorm"
)

// RecordSQL calls fn with the SQL and arguments of every statement s runs
// from now on, in or out of transactions: how tests see the statements the
// store's methods send.
func RecordSQL(s *Store, fn func(sql string, vars []any)) error {
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
