// Package seed fills an authql database with many sessions, for measuring
// how the hot operations grow with the tables: users, their sessions and a
// refresh token per session, written in multi-row batches.
package seed

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/authql/authql/internal/token"
)

// SessionsPerUser is how many sessions each seeded user holds: below the
// default session cap, so that none of them would be evicted.
const SessionsPerUser = 10

// batch rows go in one INSERT; a transaction holds batchesPerTx of them.
const (
	batch        = 500
	batchesPerTx = 10
)

// Sessions inserts n live sessions (n/SessionsPerUser users, rounded up),
// each with its current refresh token, into the tables authql created on db.
// progress, if set, is told how many sessions are in after each transaction.
func Sessions(ctx context.Context, db *sql.DB, n int, progress func(done int)) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	exp := now.Add(30 * 24 * time.Hour)
	var salt [8]byte
	binary.BigEndian.PutUint64(salt[:], uint64(now.UnixNano()))
	hash := func(i int) string {
		var b [16]byte
		copy(b[:8], salt[:])
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		sum := sha256.Sum256(b[:])
		return hex.EncodeToString(sum[:])
	}
	users := make([]string, 0, batch)
	for done := 0; done < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for b := 0; b < batchesPerTx && done < n; b++ {
			k := min(batch, n-done)
			users = users[:0]
			var sess, toks, us insert
			for i := done; i < done+k; i++ {
				if i%SessionsPerUser == 0 || len(users) == 0 {
					id := token.NewID()
					users = append(users, id)
					us.row(id, fmt.Sprintf("seed-%s@example.com", id), "$argon2id$seeded-not-a-password", now, now)
				}
				sid, tid := token.NewID(), token.NewID()
				sess.row(sid, users[len(users)-1], tid, now, now, exp, "pwd")
				toks.row(tid, sid, hash(i), now, exp)
			}
			for _, ins := range []struct {
				head string
				rows *insert
			}{
				{"INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ", &us},
				{"INSERT INTO sessions (id, user_id, current_token_id, created_at, last_used_at, expires_at, amr) VALUES ", &sess},
				{"INSERT INTO refresh_tokens (id, session_id, hash, issued_at, expires_at) VALUES ", &toks},
			} {
				if ins.rows.n == 0 {
					continue
				}
				if _, err := tx.ExecContext(ctx, ins.head+ins.rows.sql.String(), ins.rows.args...); err != nil {
					tx.Rollback() //nolint:errcheck // the insert's error is the one to report
					return err
				}
			}
			done += k
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if progress != nil && (done%(batch*batchesPerTx*20) == 0 || done == n) {
			progress(done)
		}
	}
	return nil
}

// insert accumulates the VALUES of a multi-row INSERT.
type insert struct {
	sql  strings.Builder
	args []any
	n    int
}

func (b *insert) row(vals ...any) {
	if b.n > 0 {
		b.sql.WriteString(", ")
	}
	b.sql.WriteString("(" + strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ") + ")")
	b.args = append(b.args, vals...)
	b.n++
}
