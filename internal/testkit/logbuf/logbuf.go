// Package logbuf captures a logger's output for tests that check what was
// logged, safe for the concurrent writes of background work.
package logbuf

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer for concurrent writers and readers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// New is a text logger (level info) writing into a new Buffer.
func New() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count is how often substr occurs in what was written.
func (b *Buffer) Count(substr string) int { return strings.Count(b.String(), substr) }

// Lines are the lines written that contain substr.
func (b *Buffer) Lines(substr string) []string {
	var out []string
	for line := range strings.Lines(b.String()) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
