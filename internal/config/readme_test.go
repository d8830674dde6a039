package config

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting checks the README's Configuration table
// against the settings table in both directions, so that neither documents
// a setting the other lacks.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(AUTHQL_[A-Z0-9_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	var code []string
	for _, s := range new(Config).settings() {
		code = append(code, s.env)
	}
	for _, name := range code {
		if !slices.Contains(documented, name) {
			t.Errorf("%s is a setting the README's Configuration table does not document", name)
		}
	}
	for _, name := range documented {
		if !slices.Contains(code, name) {
			t.Errorf("the README documents %s, which is no setting", name)
		}
	}
}

// TestSettingsBindDistinctFields checks that every setting has a field of its
// own, so that Name finds the one setting an error is about.
func TestSettingsBindDistinctFields(t *testing.T) {
	c := new(Config)
	seen := map[any]string{}
	for _, s := range c.settings() {
		if other, dup := seen[s.field]; dup {
			t.Errorf("%s and %s bind the same field", other, s.env)
		}
		seen[s.field] = s.env
		if got := c.Name(s.field); got != s.env {
			t.Errorf("Name of %s's field = %s", s.env, got)
		}
		if !strings.HasPrefix(s.env, "AUTHQL_") {
			t.Errorf("%s lacks the AUTHQL_ prefix", s.env)
		}
	}
}

// TestAPIReferenceDocumentsEverySetting: docs/api.md, the API reference,
// lists every setting the config parses, and no other.
func TestAPIReferenceDocumentsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Settings\n")
	if !ok {
		t.Fatal("docs/api.md has no Settings section")
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(AUTHQL_[A-Z0-9_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	var code []string
	for _, s := range new(Config).settings() {
		code = append(code, s.env)
		if !slices.Contains(documented, s.env) {
			t.Errorf("%s is a setting docs/api.md does not document", s.env)
		}
	}
	for _, name := range documented {
		if !slices.Contains(code, name) {
			t.Errorf("docs/api.md documents %s, which is no setting", name)
		}
	}
}
