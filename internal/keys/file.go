package keys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// fileMu serialises read-modify-write cycles within one process. It does not
// protect against two processes rotating the same file at once; run
// rotations from one place (an admin command or a single cron job).
var fileMu sync.Mutex

// Create writes a new key set holding a single freshly generated signing key
// of alg and returns its kid. It refuses to overwrite an existing file,
// because replacing a live set would invalidate every outstanding token.
func Create(path, alg string) (string, error) {
	fileMu.Lock()
	defer fileMu.Unlock()
	priv, err := Generate(alg)
	if err != nil {
		return "", err
	}
	data, err := formatSet(map[string]json.RawMessage{}, []json.RawMessage{priv})
	if err != nil {
		return "", err
	}
	s, err := Parse(data)
	if err != nil {
		return "", fmt.Errorf("keys: generated set is invalid (bug): %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("keys: create: %w", err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("keys: create %s: %w", path, err)
	}
	return s.Signer().ID, nil
}

// Rotate adds a newly generated key of alg to the set stored at path, makes it
// the signer, and demotes the previous signer to ["verify"] so that tokens it
// already issued keep verifying until they expire. Every other key and every
// member the package does not understand is kept as written; only the old
// signer's object is re-encoded (its members end up sorted). The new key is
// appended last.
//
// The file is replaced atomically (temp file in the same directory, fsync,
// rename) with mode 0600, so a server that reloads concurrently sees either
// the old or the new set, never a torn one. A symlinked path is resolved and
// the link target is replaced, leaving the link in place. An invalid set is
// refused rather than "repaired": rotation must not hide a broken file.
//
// Servers that have already loaded the set do not see the new key until they
// reload it, so relying parties may briefly see tokens with an unknown kid.
func Rotate(path, alg string) (string, error) {
	fileMu.Lock()
	defer fileMu.Unlock()
	target, old, top, raws, err := readSet(path)
	if err != nil {
		return "", fmt.Errorf("keys: rotate: %w", err)
	}
	priv, err := Generate(alg)
	if err != nil {
		return "", err
	}
	var id struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(priv, &id); err != nil {
		return "", fmt.Errorf("keys: rotate: %w", err)
	}
	if _, dup := old.Lookup(id.Kid); dup {
		return "", fmt.Errorf("keys: rotate: generated kid %q already exists in %s", id.Kid, target)
	}
	// Parse succeeded, so old.keys is raws in the same order.
	for i, k := range old.keys {
		if !k.CanSign {
			continue
		}
		if raws[i], err = setMember(raws[i], "key_ops", json.RawMessage(`["verify"]`)); err != nil {
			return "", fmt.Errorf("keys: rotate: %w", err)
		}
	}
	raws = append(raws, priv)
	s, err := writeSet(target, top, raws)
	if err != nil {
		return "", fmt.Errorf("keys: rotate: %w", err)
	}
	if s.Signer().ID != id.Kid {
		return "", fmt.Errorf("keys: rotate: signer after rotation is %q, want %q (bug)", s.Signer().ID, id.Kid)
	}
	return id.Kid, nil
}

// Retire removes a verify-only key from the set at path. Rotate never drops
// keys, because only the operator knows when the last token a key signed has
// expired (at the earliest, the access-token lifetime after the rotation);
// call Retire after that. The signing key cannot be retired.
func Retire(path, kid string) error {
	fileMu.Lock()
	defer fileMu.Unlock()
	target, old, top, raws, err := readSet(path)
	if err != nil {
		return fmt.Errorf("keys: retire: %w", err)
	}
	idx := -1
	for i, k := range old.keys {
		if k.ID == kid {
			idx = i
		}
	}
	switch {
	case idx < 0:
		return fmt.Errorf("keys: retire: no key with kid %q in %s", kid, target)
	case old.keys[idx].CanSign:
		return fmt.Errorf("keys: retire: kid %q is the signing key; rotate first", kid)
	}
	raws = append(raws[:idx], raws[idx+1:]...)
	if _, err := writeSet(target, top, raws); err != nil {
		return fmt.Errorf("keys: retire: %w", err)
	}
	return nil
}

// readSet loads the file for a read-modify-write cycle and also returns it
// split into the top-level object and the raw key objects, so that edits can
// preserve what the package does not model.
func readSet(path string) (target string, s *Set, top map[string]json.RawMessage, raws []json.RawMessage, err error) {
	target, err = filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, nil, nil, err
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return "", nil, nil, nil, err
	}
	if s, err = Parse(data); err != nil {
		return "", nil, nil, nil, fmt.Errorf("%s: refusing to modify an invalid set: %w", target, err)
	}
	if err = json.Unmarshal(data, &top); err != nil {
		return "", nil, nil, nil, err
	}
	// encoding/json matched "keys" case-insensitively in Parse; do the same.
	for name, v := range top {
		if strings.EqualFold(name, "keys") {
			if err = json.Unmarshal(v, &raws); err != nil {
				return "", nil, nil, nil, err
			}
			delete(top, name)
		}
	}
	if len(raws) != len(s.keys) {
		return "", nil, nil, nil, fmt.Errorf("%s: ambiguous \"keys\" member", target)
	}
	return target, s, top, raws, nil
}

// setMember replaces a member of a JSON object, also dropping spellings that
// differ only in case, since encoding/json would otherwise let a stale
// "Key_Ops" win over the new "key_ops" on the next load.
func setMember(obj json.RawMessage, name string, v json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			delete(m, k)
		}
	}
	m[name] = v
	return json.Marshal(m)
}

func formatSet(top map[string]json.RawMessage, raws []json.RawMessage) ([]byte, error) {
	keys, err := json.Marshal(raws)
	if err != nil {
		return nil, err
	}
	top["keys"] = keys
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(top); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeSet re-validates before writing so that a bug here can never leave a
// set on disk that the server would refuse to start with.
func writeSet(path string, top map[string]json.RawMessage, raws []json.RawMessage) (*Set, error) {
	data, err := formatSet(top, raws)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("resulting set is invalid, %s left unchanged: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return nil, err
	}
	return s, nil
}

// writeFileAtomic replaces path with data so that readers see either the old
// or the new content. The temp file lives in the same directory because
// rename is only atomic within one filesystem; it is 0600 from creation so
// the private keys are never readable by others, even briefly.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Persist the rename itself; without this a crash can bring back the
	// old file after we reported success. Not all platforms can sync a
	// directory, and the data is already safe, so failure is not fatal.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
