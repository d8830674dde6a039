package cluster_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// oddAnswer is an answer a test refuses, with what it was about.
type oddAnswer struct {
	inst   int
	op     string
	code   string
	token  string // the refresh token presented, "" for a signup
	began  time.Time
	took   time.Duration
	detail string
}

// claimsOf reads a refresh token's claims without verifying it: the test
// only needs to know which session and token it names.
func claimsOf(token string) (sub, sid, jti string, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", "", err
	}
	var c struct{ Sub, Sid, Jti string }
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", "", "", err
	}
	return c.Sub, c.Sid, c.Jti, nil
}

// explainAll explains the first few odd answers: a failure explains itself.
func explainAll(t *testing.T, c *cluster, db string, n [nodes]*node, odd []oddAnswer) {
	const most = 3
	for i, o := range odd {
		if i == most {
			t.Logf("%d more odd answers", len(odd)-most)
			return
		}
		explain(t, c, db, n, o)
	}
}

// explain logs what the cluster holds of the session an odd answer was
// about (node 1's rows, and whether the other nodes hold the same), and
// what the instances logged of it.
func explain(t *testing.T, c *cluster, db string, n [nodes]*node, o oddAnswer) {
	t.Logf("odd answer: instance %d, %s began %s, took %v: %s (%s)", o.inst+1, o.op, o.began.Format("15:04:05.000"), o.took.Round(time.Millisecond), o.code, o.detail)
	// What the instance logged as an error while the request ran (the
	// cause of an INTERNAL_SERVER_ERROR names no session).
	for _, line := range strings.Split(n[o.inst].srv.Log(), "\n") {
		var entry struct {
			Time  time.Time `json:"time"`
			Level string    `json:"level"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Level != "ERROR" {
			continue
		}
		if !entry.Time.Before(o.began.Add(-time.Second)) && !entry.Time.After(o.began.Add(o.took+time.Second)) {
			t.Logf("  instance %d logged: %s", o.inst+1, line)
		}
	}
	if o.token == "" {
		return
	}
	sub, sid, jti, err := claimsOf(o.token)
	if err != nil {
		t.Logf("  the token's claims: %v", err)
		return
	}
	t.Logf("  presented: user %s, session %s, token %s", sub, sid, jti)
	var first []string
	for node := 1; node <= nodes; node++ {
		rows := sessionRows(t, c, node, db, sid)
		switch {
		case node == 1:
			first = rows
			for _, r := range rows {
				t.Logf("  node 1: %s", r)
			}
		case strings.Join(rows, "\n") == strings.Join(first, "\n"):
			t.Logf("  node %d: the same", node)
		default:
			for _, r := range rows {
				t.Logf("  node %d: %s", node, r)
			}
		}
	}
	for i, x := range n {
		for _, line := range strings.Split(x.srv.Log(), "\n") {
			if strings.Contains(line, sid) || strings.Contains(line, sub) {
				t.Logf("  instance %d logged: %s", i+1, line)
			}
		}
	}
}

// sessionRows describes session sid as node holds it: the session, its
// refresh tokens and its audit events, one line each.
func sessionRows(t *testing.T, c *cluster, node int, db, sid string) []string {
	h := c.open(t, node, db)
	var out []string
	add := func(query string, cols int) {
		rows, err := h.Query(query, sid)
		if err != nil {
			out = append(out, err.Error())
			return
		}
		defer rows.Close()
		for rows.Next() {
			v := make([]string, cols)
			dest := make([]any, cols)
			for i := range v {
				dest[i] = &v[i]
			}
			if err := rows.Scan(dest...); err != nil {
				out = append(out, err.Error())
				return
			}
			out = append(out, strings.Join(v, " "))
		}
		if err := rows.Err(); err != nil {
			out = append(out, err.Error())
		}
	}
	add("SELECT 'session', COALESCE(CAST(revoked_at AS CHAR), 'live'), COALESCE(revoked_reason, ''), CONCAT('current ', current_token_id) FROM sessions WHERE id = ?", 4)
	add("SELECT 'token', id, CONCAT('parent ', COALESCE(parent_id, '-')), CONCAT('used ', COALESCE(CAST(used_at AS CHAR), '-')) FROM refresh_tokens WHERE session_id = ? ORDER BY issued_at, used_at IS NULL, used_at", 4)
	add("SELECT 'audit', CAST(created_at AS CHAR), type, COALESCE(detail, '') FROM audit_events WHERE session_id = ? ORDER BY id", 4)
	if len(out) == 0 {
		out = append(out, "no such session")
	}
	return out
}
