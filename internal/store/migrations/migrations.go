// Package migrations holds authql's schema as versioned SQL, one directory
// per dialect, in goose's format (NNNNN_name.sql with -- +goose Up and
// -- +goose Down). Every schema change is one new file in each directory,
// made with the matching change to the models; the store's agreement test
// fails when the two drift apart.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed mysql/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migrations of a dialect ("mysql" or "sqlite").
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case "mysql", "sqlite":
		return fs.Sub(files, dialect)
	}
	return nil, fmt.Errorf("migrations: no migrations for dialect %q", dialect)
}
