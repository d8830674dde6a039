// Package authqlbin builds the real authql binary and runs it as a process,
// for tests of what only a process shows: start-up without configuration,
// signals, memory.
package authqlbin

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Build builds ./cmd/authql (without -race, whatever the test runs with: the
// server is what is tested) into a temporary directory and returns its path.
func Build(t testing.TB) string {
	t.Helper()
	began := time.Now()
	bin, err := BuildIn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %v", bin, time.Since(began).Round(time.Millisecond))
	return bin
}

// BuildIn builds ./cmd/authql into dir, for a TestMain that shares one binary
// among the tests of its package.
func BuildIn(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "authql")
	build := exec.Command("go", "build", "-o", bin, "./cmd/authql")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/authql: %v\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot is the directory of authql's go.mod, for tests that run the
// repository's scripts or build from it.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot find the module root (go env GOMOD = %q): %v", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// Server is an authql process started by a test.
type Server struct {
	URL string
	PID int
	// Dir is the working directory, where the default database and
	// development key file land.
	Dir string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's answer, once exited is closed
	log    string

	stopOnce sync.Once
	stopErr  error
	// asked: the test sent SIGTERM or SIGINT itself; killed: it sent SIGKILL.
	asked, killed atomic.Bool
}

// Start runs bin in a fresh directory on a free loopback port, with settings
// (KEY=VALUE) and no AUTHQL_ variable of the caller's shell, and waits until
// /readyz answers. A setting AUTHQL_ADDR=127.0.0.1:PORT listens there instead
// of on a free port: a restart behind a load balancer keeps its address. The process is stopped (SIGTERM, then SIGKILL if it does
// not drain in time) when the test ends.
func Start(t testing.TB, bin string, settings ...string) *Server {
	t.Helper()
	s := Launch(t, bin, settings...)
	if err := s.WaitReady(30 * time.Second); err != nil {
		t.Fatalf("server: %v\n%s", err, s.Tail())
	}
	return s
}

// Launch is Start without the wait for /readyz: several processes launched
// one after another start together, as instances of a fleet do (WaitReady
// then waits for each).
func Launch(t testing.TB, bin string, settings ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	addr := ""
	for _, kv := range settings {
		if v, ok := strings.CutPrefix(kv, "AUTHQL_ADDR="); ok {
			addr = v
		}
	}
	if addr == "" {
		addr = FreeAddr(t)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHQL_") {
			env = append(env, kv)
		}
	}
	env = append(append(env, "AUTHQL_ADDR="+addr), settings...)
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	s := &Server{URL: "http://" + addr, PID: cmd.Process.Pid, Dir: dir, cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if err := s.Stop(20 * time.Second); err != nil {
			t.Errorf("server did not stop cleanly: %v\n%s", err, s.Tail())
		}
	})
	return s
}

// FreeAddr is a 127.0.0.1 address with a port nobody listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitReady waits until /readyz answers 200, the process exits, or within
// passes.
func (s *Server) WaitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited before it was ready: %v", s.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %v", within, err)
		}
	}
}

// Stop sends SIGTERM and waits for the drain; past grace it kills. An exit
// other than 0, or one before Stop was asked, is an error. Only the first call
// acts; later ones answer the same.
func (s *Server) Stop(grace time.Duration) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(grace) })
	return s.stopErr
}

func (s *Server) stop(grace time.Duration) error {
	if s.killed.Load() {
		<-s.exited
		return nil
	}
	if s.asked.Load() {
		return s.Wait(grace)
	}
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

// Signal sends sig to the process. After SIGTERM or SIGINT the process is
// expected to exit: Stop (and the test's cleanup) then only waits for it.
func (s *Server) Signal(sig os.Signal) error {
	if sig == syscall.SIGTERM || sig == os.Interrupt {
		s.asked.Store(true)
	}
	return s.cmd.Process.Signal(sig)
}

// Wait waits up to within for the process to exit and returns how it
// exited (nil for status 0); past within it kills the process.
func (s *Server) Wait(within time.Duration) error {
	select {
	case <-s.exited:
		return s.err
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("no exit within %v: killed", within)
	}
}

// Exited is closed once the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Kill ends the process with SIGKILL, as a crash or the OOM killer would, and
// waits until it is gone.
func (s *Server) Kill() {
	s.killed.Store(true)
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Log is everything the server wrote so far.
func (s *Server) Log() string {
	raw, err := os.ReadFile(s.log)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	return string(raw)
}

// Tail is the end of the server's log, for failure messages.
func (s *Server) Tail() string {
	raw := []byte(s.Log())
	const keep = 4000
	if len(raw) > keep {
		raw = raw[len(raw)-keep:]
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	return "server log (tail):\n" + string(raw)
}
