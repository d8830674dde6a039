package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/mail/mailtest"
	"github.com/authql/authql/internal/store/storetest"
)

// BenchmarkRequestPasswordReset measures what a client measures of
// requestPasswordReset over HTTP, for an address with an account and one
// without, one or the other at random so both meet the same load (the reset
// workers' and the mail sender's work for the known address, which follows
// its answer, included). It reports the
// median and 95th percentile latency of each: the answer must not tell them
// apart.
//
//	go test ./internal/e2e -run '^$' -bench RequestPasswordReset -benchtime 2000x
func BenchmarkRequestPasswordReset(b *testing.B) {
	eachBackend(b, func(b *testing.B, db storetest.Backend) {
		srv := mailtest.Start(b, mailtest.Options{})
		a, err := newApp(b, db, []app.Option{app.WithPasswordParams(cheapHash)}, "AUTHQL_SMTP_URL="+srv.URL())
		if err != nil {
			b.Fatal(err)
		}
		hs := httptest.NewServer(a.Handler)
		b.Cleanup(hs.Close)
		client := hs.Client()
		post := func(body []byte) time.Duration {
			start := time.Now()
			resp, err := client.Post(hs.URL+"/graphql", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(start)
			if !bytes.Contains(raw, []byte(`"requestPasswordReset":true`)) {
				b.Fatalf("answer %s", raw)
			}
			return d
		}
		known := newEmail()
		signup, _ := json.Marshal(map[string]any{"query": signupQ, "variables": map[string]any{"e": known, "p": pw}})
		if resp, err := client.Post(hs.URL+"/graphql", "application/json", bytes.NewReader(signup)); err != nil {
			b.Fatal(err)
		} else {
			resp.Body.Close()
		}
		request := func(email string) []byte {
			body, _ := json.Marshal(map[string]any{"query": requestResetQ, "variables": map[string]any{"e": email}})
			return body
		}
		knownBody := request(known)
		unknownBody := request(newEmail())
		var k, u []time.Duration
		b.ResetTimer()
		for b.Loop() {
			if rand.N(2) == 0 {
				k = append(k, post(knownBody))
			} else {
				u = append(u, post(unknownBody))
			}
		}
		b.StopTimer()
		for name, ds := range map[string][]time.Duration{"known": k, "unknown": u} {
			if len(ds) == 0 {
				continue
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), fmt.Sprintf("p50-%s-µs", name))
			b.ReportMetric(float64(ds[len(ds)*95/100].Microseconds()), fmt.Sprintf("p95-%s-µs", name))
		}
	})
}
