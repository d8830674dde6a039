//go:build linux

package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildServer builds the real authql binary (without -race, whatever the test
// runs with: the server is what is measured) into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("cannot find the module root (go env GOMOD = %q): %v", gomod, err)
	}
	bin := filepath.Join(t.TempDir(), "authql")
	build := exec.Command("go", "build", "-o", bin, "./cmd/authql")
	build.Dir = filepath.Dir(gomod)
	began := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/authql: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(began).Round(time.Millisecond))
	return bin
}

// freeAddr is a 127.0.0.1 address with a port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// server is an authql process started by a test.
type server struct {
	URL    string
	PID    int
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's answer, once exited is closed
	log    string

	stopOnce sync.Once
	stopErr  error
}

// startServer runs bin on a free loopback port with settings (KEY=VALUE) over
// the test defaults, and waits until /readyz answers. The process is stopped
// (SIGTERM, then SIGKILL if it does not drain in time) when the test ends.
func startServer(t *testing.T, bin string, settings ...string) *server {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHQL_") { // nothing from the caller's shell
			env = append(env, kv)
		}
	}
	env = append(env,
		"AUTHQL_ADDR="+addr,
		"AUTHQL_DATABASE_URL=sqlite://"+filepath.Join(dir, "authql.db"),
		"AUTHQL_KEY_FILE="+filepath.Join(dir, "authql.key"),
		"AUTHQL_JWT_SECRET=loadtest-secret-0123456789abcdef0123456789",
		"AUTHQL_RATE_LIMIT=off",
	)
	env = append(env, settings...)
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the test binary die (a timeout panic), the server dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	s := &server{URL: "http://" + addr, PID: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if err := s.stop(20 * time.Second); err != nil {
			t.Errorf("server did not stop cleanly: %v\n%s", err, s.tail())
		}
	})
	c := NewClient(s.URL, 1)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	readyc := make(chan error, 1)
	go func() { readyc <- c.WaitReady(ctx) }()
	select {
	case err := <-readyc:
		if err != nil {
			t.Fatalf("server: %v\n%s", err, s.tail())
		}
	case <-s.exited:
		cancel()
		<-readyc
		t.Fatalf("server exited before it was ready: %v\n%s", s.err, s.tail())
	}
	return s
}

// stop sends SIGTERM and waits for the drain; past grace it kills. An exit
// other than 0, or one before stop was asked, is an error. Only the first call
// acts; later ones answer the same.
func (s *server) stop(grace time.Duration) error {
	s.stopOnce.Do(func() { s.stopErr = s.doStop(grace) })
	return s.stopErr
}

func (s *server) doStop(grace time.Duration) error {
	select {
	case <-s.exited:
		return fmt.Errorf("exited before it was stopped: %v", s.err)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.exited:
		return s.err
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("no exit within %v of SIGTERM: killed", grace)
	}
}

// tail is the end of the server's log, for failure messages.
func (s *server) tail() string {
	raw, err := os.ReadFile(s.log)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	const keep = 4000
	if len(raw) > keep {
		raw = raw[len(raw)-keep:]
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	return "server log (tail):\n" + string(raw)
}
