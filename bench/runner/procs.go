package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/store"
)

// binaries are the programs the runner starts, built once.
type binaries struct {
	dir, authql, me string
}

func build(ctx context.Context, logf func(string, ...any)) (*binaries, error) {
	dir, err := os.MkdirTemp("", "authql-bench-")
	if err != nil {
		return nil, err
	}
	b := &binaries{dir: dir, authql: filepath.Join(dir, "authql"), me: filepath.Join(dir, "ceiling-me")}
	for _, p := range [][2]string{{b.authql, "./cmd/authql"}, {b.me, "./bench/ceiling/me"}} {
		began := time.Now()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", p[0], p[1]).CombinedOutput()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("go build %s: %w\n%s", p[1], err, out)
		}
		logf("built %s in %v", p[1], time.Since(began).Round(time.Millisecond))
	}
	return b, nil
}

// process is a server the runner started.
type process struct {
	url string
	cmd *exec.Cmd
	log string
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs bin with env (KEY=VALUE, on top of this process's environment
// without its AUTHQL_ variables) and waits until it is ready.
func start(ctx context.Context, bin, dir string, env ...string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHQL_") {
			base = append(base, kv)
		}
	}
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(append(base, "AUTHQL_ADDR="+addr), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{url: "http://" + addr, cmd: cmd, log: logPath}
	c := loadtest.NewClient(p.url, 1)
	defer c.Close()
	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := c.WaitReady(readyCtx); err != nil {
		p.stop()
		tail, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%s: %w\n%s", filepath.Base(bin), err, tail)
	}
	return p, nil
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func mysqlDSN(rawURL string) (string, error) { return store.MySQLDSN(rawURL) }
