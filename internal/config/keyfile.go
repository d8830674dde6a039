package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// loadOrCreateKeyFile reads development's secret from path, or makes one there
// on first start, so that restarts keep sessions alive without configuration.
func loadOrCreateKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) < MinSecretLen {
			return nil, fmt.Errorf("%s does not hold a base64 key of at least %d bytes (delete it to make a new one)", path, MinSecretLen)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 48)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Written whole to a temporary file, then linked into place: the key file
	// appears complete or not at all, and when two processes start at once the
	// link fails for the second, which then reads the first one's key.
	tmp, err := os.CreateTemp(dir, ".authql-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return loadOrCreateKeyFile(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}
