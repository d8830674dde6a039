package e2e

import (
	"crypto/rand"
	"net/http/httptest"
	"os"
)

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
