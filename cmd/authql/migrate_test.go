package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/authqlbin"
)

// TestMigrateProcessesStartTogether: several `authql migrate up` processes
// started at once against one fresh database all succeed, and each migration
// is recorded once (on SQLite, several processes on one file).
func TestMigrateProcessesStartTogether(t *testing.T) {
	bin := authqlbin.Build(t)
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		const n = 5
		outs := make([]bytes.Buffer, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			cmd := exec.Command(bin, "migrate", "up")
			// Outside development's key file in the working directory.
			cmd.Env = append(os.Environ(), "AUTHQL_DATABASE_URL="+db.URL, "AUTHQL_KEY_FILE="+t.TempDir()+"/authql.key")
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { errs[i] = cmd.Wait() })
		}
		wg.Wait()
		applied := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
			}
			if strings.Contains(outs[i].String(), `"applied":[1,2,3]`) {
				applied++
			}
		}
		if applied != 1 {
			t.Errorf("%d processes applied the migrations, want exactly 1", applied)
		}
		rows, err := storetest.SQL(t, db).Query("SELECT version_id, COUNT(*) FROM " + store.VersionTable + " GROUP BY version_id ORDER BY version_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var v, c int
			if err := rows.Scan(&v, &c); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d:%d", v, c))
		}
		if strings.Join(got, " ") != "0:1 1:1 2:1 3:1" {
			t.Fatalf("version table (version:times) %v, want each once", got)
		}
	})
}

// TestMigrateCommands: status lists every version with its state, down-to
// rolls back to the version given and refuses a missing or negative one, up
// applies what is pending; bare `migrate` is up.
func TestMigrateCommands(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		t.Setenv("AUTHQL_DATABASE_URL", db.URL)
		t.Setenv("AUTHQL_KEY_FILE", t.TempDir()+"/authql.key")
		cli := func(args ...string) (string, error) {
			var out bytes.Buffer
			err := run(append([]string{"migrate"}, args...), &out, &bytes.Buffer{})
			return out.String(), err
		}
		status := func() string {
			out, err := cli("status")
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		row := func(v int, state string) *regexp.Regexp {
			at := `-`
			if state == "applied" {
				at = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
			}
			return regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+%s\s+%s\s+0000%d_\w+\.sql$`, v, state, at, v))
		}
		want := func(out string, rows ...*regexp.Regexp) {
			t.Helper()
			for _, r := range rows {
				if !r.MatchString(out) {
					t.Fatalf("status lacks %s:\n%s", r, out)
				}
			}
		}
		want(status(), row(1, "pending"), row(2, "pending"))
		if _, err := cli(); err != nil {
			t.Fatal(err)
		}
		want(status(), row(1, "applied"), row(2, "applied"))
		if _, err := cli("down-to", "1"); err != nil {
			t.Fatal(err)
		}
		want(status(), row(1, "applied"), row(2, "pending"))
		for _, bad := range [][]string{{"down-to"}, {"down-to", "-1"}, {"down-to", "two"}, {"sideways"}} {
			if _, err := cli(bad...); err == nil {
				t.Fatalf("migrate %v accepted", bad)
			}
		}
		want(status(), row(1, "applied"), row(2, "pending"))
		if _, err := cli("down-to", "0"); err != nil {
			t.Fatal(err)
		}
		want(status(), row(1, "pending"), row(2, "pending"))
		if _, err := cli("up"); err != nil {
			t.Fatal(err)
		}
		want(status(), row(1, "applied"), row(2, "applied"))
	})
}
