// Package cluster tests authql on a three-node MariaDB Galera cluster
// (synchronous multi-primary): real authql processes, each on its own node,
// real GraphQL over HTTP, and nodes killed and restarted for real.
//
// It needs root, mariadb-server, galera-4 and rsync, and runs only with
// AUTHQL_TEST_GALERA=1. TestMain starts one cluster for every test of the
// package with scripts/galera-cluster.sh, in a temporary directory on free
// ports, and stops it at the end.
package cluster_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/authql/authql/internal/testkit/authqlbin"
)

const enableVar = "AUTHQL_TEST_GALERA"

// nodes is the cluster's size (the script's).
const nodes = 3

// cl is the package's cluster; nil when the tests are not enabled.
var cl *cluster

func TestMain(m *testing.M) {
	if os.Getenv(enableVar) != "1" {
		os.Exit(m.Run()) // every test skips, saying why
	}
	c, err := startCluster()
	if err != nil {
		// Once more, in a new directory on other ports: a joiner failed to
		// join once in about a dozen starts on the development machine,
		// which says nothing of authql (the output has every node's log).
		fmt.Fprintf(os.Stderr, "galera cluster: %v\nstarting it again\n", err)
		if c != nil {
			c.stop()
		}
		c, err = startCluster()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "galera cluster:", err)
		if c != nil {
			c.stop()
		}
		os.Exit(1)
	}
	cl = c
	code := m.Run()
	c.stop()
	os.Exit(code)
}

// need skips t unless the cluster runs.
func need(t *testing.T) *cluster {
	t.Helper()
	if cl == nil {
		t.Skipf("set %s=1 to run the Galera cluster tests (needs root, mariadb-server, galera-4 and rsync; the test starts its own three nodes on free ports)", enableVar)
	}
	return cl
}

// cluster is the running cluster and the authql binary built for it.
type cluster struct {
	dir, script string
	base        int
	bin         string
	root        *sql.DB // node 1, for setting up databases
}

func startCluster() (*cluster, error) {
	root, err := authqlbin.ModuleRoot()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: the nodes run as the mysql user, who must reach the
	// directory (os.MkdirTemp's is 0700 under a world-searchable /tmp; the
	// script opens it up).
	dir, err := os.MkdirTemp("", "authql-galera-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, script: filepath.Join(root, "scripts", "galera-cluster.sh")}
	c.base, err = freeBase()
	if err != nil {
		return c, err
	}
	began := time.Now()
	if out, err := c.run("start", dir, strconv.Itoa(c.base)); err != nil {
		return c, fmt.Errorf("start: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "galera cluster: three nodes Synced on ports %d-%d in %v\n", c.base, c.base+2, time.Since(began).Round(time.Millisecond))
	if c.bin, err = authqlbin.BuildIn(dir); err != nil {
		return c, err
	}
	c.root, err = sql.Open("mysql", c.dsn(1, ""))
	return c, err
}

func (c *cluster) stop() {
	if c.root != nil {
		c.root.Close()
	}
	if out, err := c.run("stop", c.dir); err != nil {
		fmt.Fprintf(os.Stderr, "galera cluster: stop: %v\n%s", err, out)
	}
	os.RemoveAll(c.dir)
}

func (c *cluster) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", append([]string{c.script}, args...)...).CombinedOutput()
	return string(out), err
}

// kill SIGKILLs node n.
func (c *cluster) kill(t *testing.T, n int) {
	t.Helper()
	if out, err := c.run("kill", c.dir, strconv.Itoa(n)); err != nil {
		t.Fatalf("kill node %d: %v\n%s", n, err, out)
	}
}

// restart starts node n again and waits until it is Synced in a cluster of
// three; it answers how long that took, and logs how it rejoined.
func (c *cluster) restart(t *testing.T, n int) time.Duration {
	t.Helper()
	began := time.Now()
	out, err := c.run("restart", c.dir, strconv.Itoa(n))
	if err != nil {
		t.Fatalf("restart node %d: %v\n%s", n, err, out)
	}
	t.Log(strings.TrimSpace(out))
	return time.Since(began)
}

// port is node n's SQL port (the script's layout).
func (c *cluster) port(n int) int { return c.base + n - 1 }

// url is the database URL of db on node n, for authql.
func (c *cluster) url(n int, db string) string {
	return fmt.Sprintf("mysql://authql:authql@127.0.0.1:%d/%s", c.port(n), db)
}

// dsn is the go-sql-driver DSN of db on node n, for the test's own queries.
func (c *cluster) dsn(n int, db string) string {
	return fmt.Sprintf("authql:authql@tcp(127.0.0.1:%d)/%s?parseTime=true", c.port(n), db)
}

// database creates a database of t's own (replicated to every node) and drops
// it when t ends.
func (c *cluster) database(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("authql_%s_%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")), rand.N(1_000_000))
	if len(name) > 64 {
		name = name[:64]
	}
	if _, err := c.root.Exec("CREATE DATABASE `" + name + "`"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.root.Exec("DROP DATABASE IF EXISTS `" + name + "`") })
	// A node applies the CREATE after node 1 answered it: instances started
	// on the other nodes at once could find no database. A causal read on
	// each node waits until it has applied everything committed before.
	for n := 2; n <= nodes; n++ {
		h, err := sql.Open("mysql", c.dsn(n, "")+"&wsrep_sync_wait=1")
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		var k int
		if err := h.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&k); err != nil || k != 1 {
			t.Fatalf("database %s on node %d: found %d, %v", name, n, k, err)
		}
	}
	return name
}

// open is a connection pool to db on node n, closed when t ends.
func (c *cluster) open(t *testing.T, n int, db string) *sql.DB {
	t.Helper()
	h, err := sql.Open("mysql", c.dsn(n, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// status sums a numeric wsrep status variable over the nodes that answer.
func (c *cluster) status(t *testing.T, name string) int64 {
	t.Helper()
	return c.statusOf(t, name, 1, 2, 3)
}

// statusOf sums a numeric wsrep status variable over the nodes given that
// answer.
func (c *cluster) statusOf(t *testing.T, name string, of ...int) int64 {
	t.Helper()
	var sum int64
	for _, n := range of {
		h, err := sql.Open("mysql", c.dsn(n, ""))
		if err != nil {
			t.Fatal(err)
		}
		var k string
		var v int64
		if err := h.QueryRow("SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &v); err == nil {
			sum += v
		}
		h.Close()
	}
	return sum
}

// secret is every instance's AUTHQL_JWT_SECRET: tokens one signs, all verify.
const secret = "galera-cluster-test-secret-0123456789abcdef"

// instances starts one authql per node on db, all at once, as a fleet
// deployed together does: their migrations race, and the cluster-wide lock
// row must serialize them (TestInstancesStartTogether counts on every test
// starting instances this way).
func (c *cluster) instances(t *testing.T, db string, settings ...string) [nodes]*authqlbin.Server {
	t.Helper()
	var srv [nodes]*authqlbin.Server
	for n := 1; n <= nodes; n++ {
		env := append([]string{
			"AUTHQL_DATABASE_URL=" + c.url(n, db),
			"AUTHQL_JWT_SECRET=" + secret,
			"AUTHQL_RATE_LIMIT=off",
			"AUTHQL_MAIL=off",
			"AUTHQL_LOG_LEVEL=warn",
		}, settings...)
		srv[n-1] = authqlbin.Launch(t, c.bin, env...)
	}
	for n, s := range srv {
		if err := s.WaitReady(60 * time.Second); err != nil {
			t.Fatalf("instance on node %d: %v\n%s", n+1, err, s.Tail())
		}
	}
	return srv
}

// freeBase picks a base port whose 40 ports (the script's layout: SQL,
// group communication, IST and SST of three nodes) nobody listens on now.
func freeBase() (int, error) {
	for range 50 {
		// Below the ephemeral range (32768 up), where outgoing connections
		// could take a port between this check and a node binding it.
		base := 20000 + rand.N(120)*100
		free := true
		for off := range 40 {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free range of 40 ports found")
}

// membershipEvent finds the lines of a node's error log that say how the
// cluster's membership or a node's state changed.
var membershipEvent = regexp.MustCompile(`Shifting|NON-PRIMARY|non-primary|suspect|evict|partition|Prepared IST|IST received|State transfer required|SST request|Flow-control|Member .* (requested|synced)`)

// logEvents logs, for each node, what its error log says changed in the
// cluster since since (at most 30 lines a node): for a failure to say
// whether the cluster held together.
func (c *cluster) logEvents(t *testing.T, since time.Time) {
	t.Helper()
	for n := 1; n <= nodes; n++ {
		raw, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node%d", n), "error.log"))
		if err != nil {
			t.Logf("node %d: %v", n, err)
			continue
		}
		var lines []string
		for _, line := range strings.Split(string(raw), "\n") {
			// "2026-12-07 14:08:26 6 [Note] WSREP: ...", in local time.
			if len(line) < 19 || !membershipEvent.MatchString(line) {
				continue
			}
			at, err := time.ParseInLocation(time.DateTime, line[:19], time.Local)
			if err != nil || at.Before(since.Truncate(time.Second)) {
				continue
			}
			lines = append(lines, line)
		}
		if len(lines) > 30 {
			lines = append(lines[:15], append([]string{"..."}, lines[len(lines)-15:]...)...)
		}
		t.Logf("node %d, membership since %s:\n%s", n, since.Format("15:04:05"), strings.Join(lines, "\n"))
	}
}
