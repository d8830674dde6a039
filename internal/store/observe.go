package store

import (
	"database/sql"

	"gorm.io/gorm"
)

// Pools are the store's connection pools by name, for their stats: "write",
// and "read" when reads have a pool of their own (SQLite).
func (s *Store) Pools() map[string]*sql.DB {
	out := map[string]*sql.DB{}
	if db, err := s.db.DB(); err == nil {
		out["write"] = db
	}
	if s.read != s.db {
		if db, err := s.read.DB(); err == nil {
			out["read"] = db
		}
	}
	return out
}

// Use installs a GORM plugin (tracing) on every pool, and, when it is a
// StatementTracer, for the statements run outside GORM.
func (s *Store) Use(p gorm.Plugin) error {
	if t, ok := p.(StatementTracer); ok && s.hot != nil {
		s.hot.tracer = t
	}
	if err := s.db.Use(p); err != nil {
		return err
	}
	if s.read != s.db {
		return s.read.Use(p)
	}
	return nil
}
