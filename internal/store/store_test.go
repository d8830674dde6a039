package store

import (
	"strings"
	"testing"
)

func TestMySQLDSN(t *testing.T) {
	cases := []struct {
		url     string
		want    []string // substrings of the DSN
		wantErr bool
	}{
		{url: "mysql://root@127.0.0.1:3306/test", want: []string{"root@tcp(127.0.0.1:3306)/test?", "parseTime=true", "interpolateParams=true", "charset=utf8mb4", "loc=UTC"}},
		{url: "mysql://u:p%40ss@db:3306/authql?tls=true", want: []string{"u:p@ss@tcp(db:3306)/authql", "tls=true"}},
		{url: "mysql://u@db/authql", want: []string{"tcp(db:3306)"}},
		{url: "mysql://u@db:3306/authql?parseTime=false", want: []string{"parseTime=true"}}, // forced
		{url: "mysql://u@db:3306/", wantErr: true},
		{url: "mysql:///authql", wantErr: true},
		{url: "postgres://u@db/x", wantErr: true},
		{url: "mysql://u:secret@db:3306/a?bogus=%zz", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			dsn, err := MySQLDSN(c.url)
			if c.wantErr {
				if err == nil {
					t.Fatalf("accepted: %s", dsn)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatal("error quotes the password")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(dsn, w) {
					t.Errorf("DSN %q lacks %q", dsn, w)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("mysql://u:hunter2@db:3306/a"); strings.Contains(got, "hunter2") {
		t.Fatalf("password in %q", got)
	}
	if got := Redact("sqlite://authql.db"); got != "sqlite://authql.db" {
		t.Fatalf("%q", got)
	}
}

func TestOpenRefusesInMemorySQLite(t *testing.T) {
	for _, u := range []string{"sqlite://", "sqlite://:memory:", "sqlite://a.db?mode=memory", "redis://x"} {
		if s, err := Open(t.Context(), u); err == nil {
			s.Close()
			t.Errorf("%s: opened", u)
		}
	}
}
