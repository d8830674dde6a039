package graph

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/authql/authql/graph/graphtest"
)

// BenchmarkPathological posts each pathological shape through the server's
// HTTP handler (JSON decoding, document limits, parsing, validation,
// complexity), at the largest size within the document limits, where
// validation runs in full, and at the 1 MiB body limit. Each iteration
// prefixes its own comment so that the query cache never answers.
func BenchmarkPathological(b *testing.B) {
	srv, _ := testServer(b, Options{}, true)
	const bodyLimit = 1<<20 - len(`{"query":""}`)
	for _, s := range graphtest.Shapes() {
		sizes := map[string]string{"1MiB": s.Build(bodyLimit)}
		if s.Build(64) != s.Build(bodyLimit) { // grows with size
			if n := largestWithin(s.Build); n > 0 {
				sizes["within"] = s.Build(n)
			}
		}
		for _, size := range []string{"within", "1MiB"} {
			query, ok := sizes[size]
			if !ok {
				continue
			}
			b.Run(s.Name+"/"+size, func(b *testing.B) {
				body, _ := json.Marshal(map[string]string{"query": query})
				head, tail := body[:len(`{"query":"`)], body[len(`{"query":"`):]
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				var buf bytes.Buffer
				for i := 0; b.Loop(); i++ {
					buf.Reset()
					buf.Write(head)
					buf.WriteString("#" + strconv.Itoa(i) + `\n`)
					buf.Write(tail)
					r := httptest.NewRequest(http.MethodPost, "/graphql", &buf)
					r.Header.Set("Content-Type", "application/json")
					srv.ServeHTTP(httptest.NewRecorder(), r)
				}
			})
		}
	}
}

// largestWithin is the largest size up to 64 KiB at which build writes a
// document within DefaultLimits, 0 if none.
func largestWithin(build func(int) string) int {
	lo, hi := 0, 64<<10
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if DefaultLimits.check(build(mid)) == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
