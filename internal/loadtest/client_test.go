package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAuthQL answers the four operations the way authql does, enough to test
// the client: one account, refresh tokens "r<session>.<n>" that rotate to n+1
// and refuse any but the newest.
type fakeAuthQL struct {
	mu       sync.Mutex
	accounts map[string]string // email -> password
	sessions map[string]int    // session -> current n
	nextSess int
	requests int
}

func newFake(t *testing.T) (*fakeAuthQL, *Client) {
	f := &fakeAuthQL{accounts: map[string]string{}, sessions: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL+"/", 4)
	t.Cleanup(c.Close)
	return f, c
}

func gqlErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"message":"no","extensions":{"code":%q}}],"data":null}`, code)
}

func (f *fakeAuthQL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/readyz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.URL.Path != "/graphql" || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request shape", http.StatusBadRequest)
		return
	}
	var body struct {
		Query     string            `json:"query"`
		Variables map[string]string `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "not json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	v := body.Variables
	pair := func(field, sess string) {
		w.Header().Set("Content-Type", "application/json")
		n := f.sessions[sess]
		fmt.Fprintf(w, `{"data":{%q:{"accessToken":"a%s","refreshToken":"r%s.%d","expiresIn":900,"user":{"id":"u1","email":"x@example.com"}}}}`,
			field, sess, sess, n)
	}
	switch {
	case strings.Contains(body.Query, "signup("):
		if _, ok := f.accounts[v["e"]]; ok {
			gqlErr(w, http.StatusOK, "EMAIL_TAKEN")
			return
		}
		f.accounts[v["e"]] = v["p"]
		fallthrough
	case strings.Contains(body.Query, "login("):
		if pw, ok := f.accounts[v["e"]]; !ok || pw != v["p"] {
			gqlErr(w, http.StatusOK, "INVALID_CREDENTIALS")
			return
		}
		f.nextSess++
		sess := strconv.Itoa(f.nextSess)
		f.sessions[sess] = 0
		field := "login"
		if strings.Contains(body.Query, "signup(") {
			field = "signup"
		}
		pair(field, sess)
	case strings.Contains(body.Query, "refreshToken("):
		sess, nstr, _ := strings.Cut(strings.TrimPrefix(v["t"], "r"), ".")
		n, err := strconv.Atoi(nstr)
		cur, ok := f.sessions[sess]
		if err != nil || !ok || n != cur {
			delete(f.sessions, sess) // reuse revokes the session
			gqlErr(w, http.StatusOK, "INVALID_REFRESH_TOKEN")
			return
		}
		f.sessions[sess] = cur + 1
		pair("refreshToken", sess)
	case strings.Contains(body.Query, "me {"):
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer a") {
			gqlErr(w, http.StatusOK, "UNAUTHENTICATED")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":{"me":{"id":"u1","email":"x@example.com"}}}`)
	case strings.Contains(body.Query, "huge"):
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	case strings.Contains(body.Query, "garbage"):
		fmt.Fprint(w, `<html>`)
	default:
		gqlErr(w, http.StatusUnprocessableEntity, "GRAPHQL_VALIDATION_FAILED")
	}
}

func TestClientOperations(t *testing.T) {
	_, c := newFake(t)
	ctx := context.Background()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := c.Signup(ctx, "x@example.com", "password1")
	if err != nil || p.AccessToken == "" || p.Refresh() == "" || p.User.Email != "x@example.com" {
		t.Fatalf("signup: %+v, %v", p, err)
	}
	if _, err := c.Signup(ctx, "x@example.com", "password1"); Code(err) != "EMAIL_TAKEN" {
		t.Fatalf("second signup: %v", err)
	}
	if err := EnsureAccount(ctx, c, Account{"x@example.com", "password1"}); err != nil {
		t.Fatalf("EnsureAccount of an existing account: %v", err)
	}
	if _, err := c.Login(ctx, "x@example.com", "wrong-password"); Code(err) != "INVALID_CREDENTIALS" {
		t.Fatalf("wrong password: %v", err)
	}
	l, err := c.Login(ctx, "x@example.com", "password1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Refresh(ctx, l.Refresh())
	if err != nil || r.Refresh() == l.Refresh() {
		t.Fatalf("refresh: %+v, %v", r, err)
	}
	if _, err := c.Refresh(ctx, l.Refresh()); Code(err) != "INVALID_REFRESH_TOKEN" {
		t.Fatalf("reuse: %v", err)
	}
	if u, err := c.Me(ctx, l.AccessToken); err != nil || u.ID != "u1" {
		t.Fatalf("me: %+v, %v", u, err)
	}
	if _, err := c.Me(ctx, ""); Code(err) != "UNAUTHENTICATED" {
		t.Fatalf("me without token: %v", err)
	}
	var e *Error
	for query, code := range map[string]string{"{ huge }": "HTTP_413", "{ garbage }": CodeDecode, "{ other }": "GRAPHQL_VALIDATION_FAILED"} {
		err := c.Do(ctx, query, nil, "", "x", nil)
		if Code(err) != code {
			t.Errorf("%s: %v, want %s", query, err, code)
		}
		if code == "HTTP_413" && (!errors.As(err, &e) || e.Status != 413) {
			t.Errorf("%s: status not kept: %v", query, err)
		}
	}
}

func TestClientTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := NewClient(url, 1)
	if _, err := c.Login(context.Background(), "x@example.com", "password1"); Code(err) != CodeTransport {
		t.Fatalf("closed server: %v (%s)", err, Code(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitReady(ctx); err == nil {
		t.Fatal("WaitReady on a closed server answered ready")
	}
}

// Each refresh worker rotates its own chain: every operation presents the
// token the previous one received, so none is ever refused as reuse.
func TestPrepareRefreshChains(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	op, err := Prepare(ctx, c, ModeRefresh, Account{"x@example.com", "password1"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, Config{Requests: 200, Concurrency: 5}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 200 {
		t.Fatalf("%s", report(res))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	total, rotated := 0, 0
	for _, n := range f.sessions {
		total += n
		if n > 0 {
			rotated++
		}
	}
	// The signup's own session is never rotated.
	if rotated != 5 || total != 200 {
		t.Fatalf("%d sessions rotated %d times; want 5 and 200", rotated, total)
	}
}

// A refused refresh token makes the worker log in again rather than fail forever.
func TestRefreshRecoversFromRevokedSession(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	op, err := Prepare(ctx, c, ModeRefresh, Account{"x@example.com", "password1"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	clear(f.sessions) // every session revoked behind the load's back
	f.mu.Unlock()
	if err := op(ctx, 0); Code(err) != "INVALID_REFRESH_TOKEN" {
		t.Fatalf("revoked session: %v", err)
	}
	for i := range 3 {
		if err := op(ctx, 0); err != nil {
			t.Fatalf("after a new login, refresh %d: %v", i, err)
		}
	}
}

func TestPrepareModes(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	a := Account{"x@example.com", "password1"}
	for _, mode := range Modes {
		op, err := Prepare(ctx, c, mode, a, 2)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		res, err := Run(ctx, Config{Requests: 10, Concurrency: 2}, op)
		if err != nil || res.OK != 10 {
			t.Fatalf("%s: %s, %v", mode, report(res), err)
		}
	}
	f.mu.Lock()
	if len(f.accounts) != 11 { // the account and ten signups
		t.Errorf("%d accounts, want 11", len(f.accounts))
	}
	f.mu.Unlock()
	if _, err := Prepare(ctx, c, "logout", a, 1); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := Prepare(ctx, c, ModeLogin, a, 0); err == nil {
		t.Error("zero workers accepted")
	}
	if _, err := Prepare(ctx, c, ModeMe, Account{"x@example.com", "wrong-password"}, 1); err == nil {
		t.Error("me with a wrong password prepared")
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://127.8.9.10/", "http://[::1]:80", "https://localhost:8443", "http://LOCALHOST"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "http://192.168.1.2", "http://example.com", "ftp://127.0.0.1", "127.0.0.1:8080", "http://0.0.0.0:8080", "http://localhost.example.com"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tauthql\nVmPeak:\t 1000 kB\nVmHWM:\t  143360 kB\nVmRSS:\t  102400 kB\nThreads:\t7\n"
	m, err := parseStatus([]byte(status))
	if err != nil || m.Peak != 140<<20 || m.Current != 100<<20 {
		t.Fatalf("%+v, %v", m, err)
	}
	if !strings.Contains(m.String(), "peak RSS 140.0 MiB") {
		t.Errorf("%s", m)
	}
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t12 MB\nVmRSS:\t1 kB\n", "VmHWM:\tx kB\nVmRSS:\t1 kB\n"} {
		if _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if runtime.GOOS == "linux" {
		m, err := ReadMemory(os.Getpid())
		if err != nil || m.Peak == 0 || m.Current == 0 || m.Current > m.Peak {
			t.Fatalf("own memory: %+v, %v", m, err)
		}
	}
}

// The mixed scenario sends, per worker and per 100 operations, 90 me, 8
// refreshes (each presenting the token the last one earned) and 2 logins.
func TestMixedProportions(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	a := Account{"x@example.com", "password1"}
	op, err := Prepare(ctx, c, ModeMixed, a, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	before := f.requests
	sessionsBefore := f.nextSess
	f.mu.Unlock()
	// One worker: Run hands operations to whichever worker is free, and the
	// proportions hold per worker.
	res, err := Run(ctx, Config{Requests: 300, Concurrency: 1}, op)
	if err != nil || res.OK != 300 {
		t.Fatalf("%s, %v", report(res), err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := f.requests - before; got != 300 {
		t.Fatalf("%d requests, want 300", got)
	}
	rotations := 0
	for _, n := range f.sessions {
		rotations += n
	}
	if rotations != 3*8 {
		t.Errorf("%d refreshes, want 24", rotations)
	}
	if logins := f.nextSess - sessionsBefore; logins != 3*2 {
		t.Errorf("%d logins, want 6", logins)
	}
}

func TestRunReportsProgress(t *testing.T) {
	var mu sync.Mutex
	var seen []Progress
	res, err := Run(context.Background(), Config{
		Requests: 1 << 20, Concurrency: 2, Duration: 120 * time.Millisecond, ProgressEvery: 20 * time.Millisecond,
		Progress: func(p Progress) { mu.Lock(); seen = append(seen, p); mu.Unlock() },
	}, func(ctx context.Context, _ int) error { time.Sleep(time.Millisecond); return nil })
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 {
		t.Fatalf("%d progress reports, want several", len(seen))
	}
	last := seen[len(seen)-1]
	if last.Done == 0 || last.Done > res.Requests || last.OK != last.Done || last.Elapsed <= 0 {
		t.Errorf("last progress %+v for %d requests", last, res.Requests)
	}
	if s := res.Summary(); s.Requests != res.Requests || s.OK != res.OK || s.P99ms <= 0 {
		t.Errorf("summary %+v", s)
	}
}

// TestRunCountsTheWindow: operations still in flight when Duration closes
// finish and count as done, but not within the window, whose rate neither
// counts them nor their drain: here each operation takes 300 ms, one batch
// of four completes inside a 400 ms window and the second, in flight at its
// close, outside it (over the whole run, 8 in 600 ms, the rate would be a
// third higher, and lower with slower operations: it depends on where the
// window cuts them).
func TestRunCountsTheWindow(t *testing.T) {
	res, err := Run(context.Background(), Config{Requests: 100, Concurrency: 4, Duration: 400 * time.Millisecond},
		func(ctx context.Context, _ int) error { time.Sleep(300 * time.Millisecond); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 8 || res.WindowOK != 4 || res.Window != 400*time.Millisecond {
		t.Fatalf("ok %d, within the window %d of %v; want 8, 4 of 400ms", res.OK, res.WindowOK, res.Window)
	}
	if got := res.WindowOKPerSecond(); got != 10 {
		t.Errorf("window rate %.2f/s, want 10 (4 in 400 ms)", got)
	}
}
