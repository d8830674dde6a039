package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/migrationlock"
	"github.com/authql/authql/internal/store/storetest"
)

// TestMigrationsMatchModels: a database built by the SQL migrations and one
// built by GORM AutoMigrate from the models have the same tables, columns
// (type, nullability, default) and indexes. A model field added without a
// migration, or a migration the models do not reflect, fails here.
func TestMigrationsMatchModels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, err := store.Open(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		ref := fresh(t, db)
		if err := store.AutoMigrateModels(ref.URL); err != nil {
			t.Fatal(err)
		}
		diff(t, "built by the migrations", catalog(t, db), "built by AutoMigrate from the models", catalog(t, ref),
			"add a migration in internal/store/migrations/{mysql,sqlite} for the model change (or the model change for the migration)")
	})
}

// fresh returns another empty database of the same kind as db.
func fresh(t *testing.T, db storetest.Backend) storetest.Backend {
	if db.Name == "mysql" {
		return storetest.MySQL(t)
	}
	return storetest.SQLite(t)
}

// diff fails the test with the lines only one catalog has.
func diff(t *testing.T, aName string, a []string, bName string, b []string, hint string) {
	t.Helper()
	var onlyA, onlyB []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			onlyA = append(onlyA, l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			onlyB = append(onlyB, l)
		}
	}
	if len(onlyA)+len(onlyB) > 0 {
		t.Fatalf("schemas differ (%s):\nonly in the database %s:\n  %s\nonly in the database %s:\n  %s",
			hint, aName, strings.Join(onlyA, "\n  "), bName, strings.Join(onlyB, "\n  "))
	}
}

// catalog describes a database's tables, columns and indexes as sorted
// lines, from the catalog (information_schema on MySQL, PRAGMAs on SQLite),
// leaving out the migration machinery's own tables.
func catalog(t *testing.T, db storetest.Backend) []string {
	t.Helper()
	raw := storetest.SQL(t, db)
	skip := []string{store.VersionTable, migrationlock.Table}
	var out []string
	if db.Name == "mysql" {
		queries := []string{
			`SELECT CONCAT_WS(' ', 'table', table_name, engine, table_collation) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name NOT IN (?, ?)`,
			`SELECT CONCAT_WS(' ', 'column', table_name, column_name, column_type, is_nullable, COALESCE(column_default, '-'), extra, COALESCE(collation_name, '-'))
			   FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name NOT IN (?, ?)`,
			`SELECT CONCAT_WS(' ', 'index', table_name, index_name, non_unique, seq_in_index, column_name, COALESCE(sub_part, '-'))
			   FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name NOT IN (?, ?)`,
		}
		for _, q := range queries {
			out = append(out, strs(t, raw, q, skip[0], skip[1])...)
		}
		slices.Sort(out)
		return out
	}
	tables := strs(t, raw, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN (?, ?)`, skip[0], skip[1])
	for _, tb := range tables {
		ddl := strs(t, raw, `SELECT sql FROM sqlite_master WHERE name = ?`, tb)[0]
		out = append(out, fmt.Sprintf("table %s autoincrement=%v", tb, strings.Contains(strings.ToUpper(ddl), "AUTOINCREMENT")))
		// A string default is the same literal in either quotes: the baseline
		// was written by a dialector that double-quoted it ("pwd"), and
		// today's single-quotes it ('pwd').
		out = append(out, strs(t, raw, `SELECT 'column `+tb+` ' || name || ' ' || upper(type) || ' notnull=' || "notnull" || ' default=' || replace(COALESCE(dflt_value, '-'), '"', '''') || ' pk=' || pk FROM pragma_table_xinfo(?)`, tb)...)
		for _, idx := range strs(t, raw, `SELECT name || ' unique=' || "unique" || ' origin=' || origin || ' partial=' || partial FROM pragma_index_list(?)`, tb) {
			name := strings.Fields(idx)[0]
			cols := strs(t, raw, `SELECT COALESCE(name, '-') FROM pragma_index_info(?) ORDER BY seqno`, name)
			out = append(out, fmt.Sprintf("index %s %s (%s)", tb, idx, strings.Join(cols, ",")))
		}
	}
	slices.Sort(out)
	return out
}

func strs(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
