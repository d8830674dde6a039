package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

// TestHotQueriesUseIndexes runs the statements of me, refresh and login as
// the store sends them, then EXPLAINs each one: none may scan a table. The
// tables hold a few hundred rows, enough for MySQL's planner to prefer an
// index it has over a scan of a small table.
func TestHotQueriesUseIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		s, err := store.Open(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		now := s.Now()
		var sess []*models.Session
		for i := range 300 {
			u := &models.User{ID: fmt.Sprintf("u-%03d", i), Email: fmt.Sprintf("u%03d@example.com", i), PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			for j := range 2 {
				id := fmt.Sprintf("s-%03d-%d", i, j)
				se := &models.Session{ID: id, UserID: u.ID, CurrentTokenID: "t-" + id, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), AMR: "pwd"}
				tok := &models.RefreshToken{ID: "t-" + id, SessionID: id, Hash: fmt.Sprintf("%064d", i*2+j), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
				if err := s.CreateSession(ctx, se, tok); err != nil {
					t.Fatal(err)
				}
				sess = append(sess, se)
			}
		}
		var (
			mu   sync.Mutex
			hot  []string
			args [][]any
		)
		if err := store.RecordSQL(s, func(q string, v []any) {
			mu.Lock()
			defer mu.Unlock()
			// A batch (RotateToken on MySQL) is EXPLAINed statement by
			// statement, each with its own arguments.
			for part := range strings.SplitSeq(q, ";\n") {
				n := strings.Count(part, "?")
				if !strings.HasPrefix(part, "INSERT") {
					hot, args = append(hot, part), append(args, v[:n])
				}
				v = v[n:]
			}
		}); err != nil {
			t.Fatal(err)
		}
		se := sess[len(sess)/2]
		// me
		if _, err := s.LiveSessionUser(ctx, se.ID, se.UserID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByID(ctx, se.UserID); err != nil {
			t.Fatal(err)
		}
		// login, with the session cap's reads
		if _, err := s.UserByEmail(ctx, "u150@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CountLiveSessions(ctx, se.UserID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LeastRecentlyUsedSessions(ctx, se.UserID, now, 1); err != nil {
			t.Fatal(err)
		}
		// refresh
		err = s.InTx(ctx, func(q *store.Queries) error {
			if _, _, _, err := q.SessionWithToken(ctx, se.ID, se.CurrentTokenID); err != nil {
				return err
			}
			if _, err := q.RefreshTokenByID(ctx, se.CurrentTokenID); err != nil {
				return err
			}
			next := &models.RefreshToken{ID: "t-next", SessionID: se.ID, Hash: strings.Repeat("f", 64), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			ok, err := q.RotateToken(ctx, se.CurrentTokenID, next, now, &models.AuditEvent{CreatedAt: now, Type: "refresh", Count: 1})
			if err == nil && !ok {
				err = fmt.Errorf("rotation refused")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		raw := storetest.SQL(t, db)
		mysql := storetest.IsMySQL(db.URL)
		if len(hot) < 8 {
			t.Fatalf("recorded %d statements: %q", len(hot), hot)
		}
		for i, q := range hot {
			plan, scans := explain(t, raw, mysql, q, args[i])
			if scans {
				t.Errorf("%s\nscans a table:\n%s", q, plan)
			} else {
				t.Logf("%s\n%s", q, plan)
			}
		}
	})
}

// explain returns the plan of q and whether it scans a table: SQLite's
// "SCAN table" (not a covering index), MySQL's access type ALL.
func explain(t *testing.T, db *sql.DB, mysql bool, q string, args []any) (string, bool) {
	t.Helper()
	prefix := "EXPLAIN QUERY PLAN "
	if mysql {
		prefix = "EXPLAIN "
	}
	rows, err := db.Query(prefix+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan strings.Builder
	scans := false
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		line := make([]string, len(cols))
		for i, c := range cols {
			line[i] = c + "=" + vals[i].String
			switch {
			case mysql && strings.EqualFold(c, "type") && vals[i].String == "ALL":
				scans = true
			case !mysql && c == "detail" && strings.HasPrefix(vals[i].String, "SCAN ") && !strings.Contains(vals[i].String, "COVERING INDEX"):
				scans = true
			}
		}
		plan.WriteString("  " + strings.Join(line, " ") + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String(), scans
}
