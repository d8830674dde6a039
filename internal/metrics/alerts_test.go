package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// ruleFile is the shape of a Prometheus rule file (promtool's rulefmt), in
// strict decoding: an unknown or misspelt key fails the test.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestExampleAlertRules: deploy/prometheus/alerts.yml is a well-formed rule
// file whose expressions name only metrics authql exports.
func TestExampleAlertRules(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.UnmarshalWithOptions(raw, &f, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	families, err := New([]string{"login-ip"}, []string{"login"}).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		exported[mf.GetName()] = true
	}
	alerts := map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Fatalf("group %+v", g)
		}
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("incomplete rule %+v", r)
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses", r.Alert)
			}
			for _, name := range regexp.MustCompile(`authql_[a-z_]+`).FindAllString(r.Expr, -1) {
				if !exported[name] {
					t.Errorf("%s uses %s, which authql does not export", r.Alert, name)
				}
			}
			alerts[r.Alert] = true
		}
	}
	for _, want := range []string{"AuthqlRefreshTokenReuseSpike", "AuthqlLoginFailureSpike"} {
		if !alerts[want] {
			t.Errorf("no %s", want)
		}
	}
}
