package deploy

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authql/authql/internal/testkit/authqlbin"
)

// EnvHAProxyRequired makes a missing haproxy binary a failure instead of a
// skip (CI installs it).
const EnvHAProxyRequired = "AUTHQL_TEST_HAPROXY_REQUIRED"

// exampleConfig is the configuration the README points operators to.
const exampleConfig = "../../deploy/haproxy/haproxy.cfg"

// haproxyBinary finds haproxy on PATH, or skips (fails when required).
func haproxyBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		msg := "rolling-deploy test needs haproxy on PATH (apt-get install haproxy)"
		if os.Getenv(EnvHAProxyRequired) == "1" {
			t.Fatalf("%s, and %s=1 requires it: %v", msg, EnvHAProxyRequired, err)
		}
		t.Skipf("%s; set %s=1 to make its absence a failure", msg, EnvHAProxyRequired)
	}
	return bin
}

// haproxy is a running HAProxy with the example configuration.
type haproxy struct {
	URL    string
	socket string
	log    string
	cmd    *exec.Cmd
}

// startHAProxy runs the example configuration with only what a test must
// change replaced: the frontend's address, the stats socket's path and the
// servers. Every other line (checks, retries, timeouts) is the example's.
func startHAProxy(t *testing.T, bin string, servers []string) *haproxy {
	t.Helper()
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	front := authqlbin.FreeAddr(t)
	h := &haproxy{URL: "http://" + front, socket: filepath.Join(dir, "admin.sock"), log: filepath.Join(dir, "haproxy.log")}
	cfg := string(raw)
	replace := func(pattern, with string) {
		t.Helper()
		re := regexp.MustCompile(pattern)
		if !re.MatchString(cfg) {
			t.Fatalf("%s no longer matches %q: update the test with the example", exampleConfig, pattern)
		}
		cfg = re.ReplaceAllLiteralString(cfg, with)
	}
	replace(`(?m)^    bind :8080$`, "    bind "+front)
	replace(`/run/haproxy/admin\.sock`, h.socket)
	var lines []string
	for i, s := range servers {
		lines = append(lines, fmt.Sprintf("    server authql%d %s", i+1, s))
	}
	replace(`(?m)(^    server authql\d .*\n)+`, strings.Join(lines, "\n")+"\n")
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logFile, err := os.Create(h.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	h.cmd = exec.Command(bin, "-db", "-f", path)
	h.cmd.Stdout, h.cmd.Stderr = logFile, logFile
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGUSR1) // soft stop
		done := make(chan struct{})
		go func() { _ = h.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = h.cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", h.socket); err == nil {
			c.Close()
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy's stats socket did not open within 10s\n%s", h.tail())
		}
	}
}

// serverStat is one backend server's line of "show stat".
type serverStat struct {
	Status   string // UP, DOWN, "UP 1/2" while rising...
	Answered int    // hrsp_2xx: requests it answered 200
	Other    int    // hrsp_1xx, 3xx, 4xx, 5xx and "other"
	// Retried and Redispatched count requests HAProxy had to send again
	// (wretr, wredis); ConnErrors and RespErrors count connections to the
	// server that failed and answers that broke off (econ, eresp). A drain
	// that took the server out of rotation before its listener closed
	// leaves all four at zero.
	Retried, Redispatched, ConnErrors, RespErrors int
}

// stats reads "show stat" from the stats socket: the servers of backend
// authql by name.
func (h *haproxy) stats(t *testing.T) map[string]serverStat {
	t.Helper()
	c, err := net.DialTimeout("unix", h.socket, 2*time.Second)
	if err != nil {
		t.Fatalf("stats socket: %v\n%s", err, h.tail())
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(strings.TrimSpace(string(raw)), "# "))).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("show stat: %v\n%s", err, raw)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	num := func(row []string, name string) int {
		n, _ := strconv.Atoi(row[col[name]])
		return n
	}
	out := map[string]serverStat{}
	for _, row := range rows[1:] {
		if len(row) < len(rows[0])-1 || row[col["pxname"]] != "authql" || row[col["svname"]] == "BACKEND" {
			continue
		}
		out[row[col["svname"]]] = serverStat{
			Status:   row[col["status"]],
			Answered: num(row, "hrsp_2xx"),
			Other:    num(row, "hrsp_1xx") + num(row, "hrsp_3xx") + num(row, "hrsp_4xx") + num(row, "hrsp_5xx") + num(row, "hrsp_other"),
			Retried:  num(row, "wretr"), Redispatched: num(row, "wredis"),
			ConnErrors: num(row, "econ"), RespErrors: num(row, "eresp"),
		}
	}
	return out
}

// waitStatus waits until server's status is want ("UP" or "DOWN").
func (h *haproxy) waitStatus(t *testing.T, server, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := h.stats(t)[server].Status
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy: %s is %q after %v, want %s\n%s", server, got, within, want, h.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *haproxy) tail() string {
	raw, _ := os.ReadFile(h.log)
	if len(raw) > 3000 {
		raw = raw[len(raw)-3000:]
	}
	return "haproxy log (tail):\n" + string(raw)
}
