package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/store"
)

// Phases of TestNodeKilledUnderLoad.
const (
	steady = iota
	outage
	rejoin
	after
	phases
)

var phaseNames = [phases]string{"steady", "outage", "rejoin", "after"}

// tally counts answers by error code ("" is success) per instance and phase,
// and the slowest answer of each.
type tally struct {
	mu      sync.Mutex
	codes   [nodes][phases]map[string]int
	slowest [nodes][phases]time.Duration
}

// add counts an answer under the phase its request began in; a failure that
// began or ended while the node was down or rejoining counts there.
func (t *tally) add(inst, began, ended int, err error, took time.Duration) {
	phase := began
	if err != nil && (ended == outage || ended == rejoin) {
		phase = ended
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.codes[inst][phase] == nil {
		t.codes[inst][phase] = map[string]int{}
	}
	t.codes[inst][phase][code(err)]++
	t.slowest[inst][phase] = max(t.slowest[inst][phase], took)
}

// ledger is every write the cluster acknowledged, to check afterwards.
type ledger struct {
	mu       sync.Mutex
	signups  []string  // emails whose signup was answered: the account exists
	current  []session // parked sessions: their last answered refresh token must work
	revoked  []session // sessions whose logout was answered
	rotation int       // refreshes answered
	// odd are the refusals no instance should give at all (not counting
	// SERVICE_UNAVAILABLE, which the tally judges by instance and phase),
	// each with the session it was about, to explain afterwards.
	odd []oddAnswer
}

type session struct{ access, refresh string }

func (l *ledger) record(f func(l *ledger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// TestNodeKilledUnderLoad: signups, refreshes and logouts run on all three
// instances while node 3 is SIGKILLed and restarted. The instances on the
// surviving nodes keep serving; the one on the dead node answers
// SERVICE_UNAVAILABLE quickly and /readyz 503, then recovers once its node
// has rejoined. No instance ever answers INTERNAL_SERVER_ERROR, and every
// write that was acknowledged is there afterwards.
func TestNodeKilledUnderLoad(t *testing.T) {
	c := need(t)
	db := c.database(t)
	n := clients(t, c.instances(t, db))
	const victim = 3 // node, and instance victim-1
	var phase atomic.Int32
	var tl tally
	var led ledger

	ctx := t.Context()
	began := time.Now()
	defer func() {
		if t.Failed() {
			c.logEvents(t, began)
		}
	}()
	var stop atomic.Bool
	var wg sync.WaitGroup
	const perInstance = 3
	for i := range nodes {
		for w := range perInstance {
			wg.Add(1)
			go func() {
				defer wg.Done()
				load(ctx, &stop, n[i], i, fmt.Sprintf("kill%d%d", i, w), &phase, &tl, &led)
			}()
		}
	}
	// Stopped between requests: every request sent gets its answer.
	stopLoad := sync.OnceFunc(func() { stop.Store(true); wg.Wait() })
	defer stopLoad()

	// Transactions aborted by conflicts, per phase, on the nodes that stay
	// up (a restarted node counts from 0 again): for the record.
	var aborts [phases + 1]int64
	conflicts := func(p int) {
		aborts[p] = c.statusOf(t, "wsrep_local_bf_aborts", 1, 2) + c.statusOf(t, "wsrep_local_cert_failures", 1, 2)
	}
	conflicts(steady)
	time.Sleep(2 * time.Second)
	conflicts(outage)
	phase.Store(outage)
	c.kill(t, victim)
	killed := time.Now()
	// The instance on the dead node says it is not ready, at once.
	readyz := func() int {
		resp, err := http.Get(n[victim-1].srv.URL + "/readyz")
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	time.Sleep(time.Second)
	if got := readyz(); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz of the instance on the killed node: %d, want 503", got)
	}
	time.Sleep(time.Until(killed.Add(5 * time.Second)))

	conflicts(rejoin)
	phase.Store(rejoin)
	took := c.restart(t, victim)
	rejoined := time.Now()
	for readyz() != http.StatusOK {
		if time.Since(rejoined) > 30*time.Second {
			t.Fatal("the instance on the restarted node not ready within 30s of its node rejoining")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ready := time.Since(rejoined)
	conflicts(after)
	phase.Store(after)
	time.Sleep(2 * time.Second)
	stopLoad()
	conflicts(phases)

	for i := range nodes {
		for p := range phases {
			t.Logf("instance %d (node %d), %-6s: answers %v, slowest %v", i+1, i+1, phaseNames[p], tl.codes[i][p], tl.slowest[i][p].Round(time.Millisecond))
		}
	}
	t.Logf("node %d rejoined %v after its restart began; its instance was ready %v later", victim, took.Round(time.Millisecond), ready.Round(time.Millisecond))
	var perPhase []string
	for p := range phases {
		perPhase = append(perPhase, fmt.Sprintf("%s %d", phaseNames[p], aborts[p+1]-aborts[p]))
	}
	t.Logf("transactions aborted by conflicts on nodes 1 and 2: %s", strings.Join(perPhase, ", "))

	for i := range nodes {
		for p := range phases {
			for k, v := range tl.codes[i][p] {
				switch {
				case k == "":
				case k == "SERVICE_UNAVAILABLE" && i == victim-1 && (p == outage || p == rejoin):
				default:
					t.Errorf("instance %d, %s: %d answers %s", i+1, phaseNames[p], v, k)
				}
			}
		}
	}
	for i := range nodes {
		if i != victim-1 && tl.codes[i][outage][""] == 0 {
			t.Errorf("instance %d served nothing while node %d was down", i+1, victim)
		}
	}
	if tl.codes[victim-1][outage]["SERVICE_UNAVAILABLE"] == 0 {
		t.Errorf("the instance on the dead node answered no SERVICE_UNAVAILABLE: %v", tl.codes[victim-1][outage])
	}
	// Fast: the node is gone, nothing is worth waiting for (the stall of
	// the survivors, until the dead node is evicted, is theirs).
	if s := tl.slowest[victim-1][outage]; s > 5*time.Second {
		t.Errorf("the instance on the dead node took %v to answer", s)
	}
	if tl.codes[victim-1][after][""] == 0 {
		t.Errorf("the instance on the restarted node served nothing after it rejoined: %v", tl.codes[victim-1][after])
	}

	// Which server errors the instances met, for the record (their logs
	// name them; clients only ever saw the codes above).
	seen := map[string]int{}
	for _, x := range n {
		for _, m := range serverError.FindAllString(x.srv.Log(), -1) {
			seen[m]++
		}
	}
	t.Logf("database errors in the instances' logs: %v", seen)
	explainAll(t, c, db, n, led.odd)

	checkLedger(t, n, &led)
}

// serverError finds a driver's error in a log: a MySQL error number, or the
// connection failures go-sql-driver and the network report.
var serverError = regexp.MustCompile(`Error \d{4}|invalid connection|connection refused|broken pipe|connection reset|bad connection`)

// load runs chains of operations against one instance until stop: a signup,
// one to three refreshes, then a logout or the chain left as it is (parked,
// its last refresh token checked afterwards). Every answer is tallied and
// every acknowledged write recorded. An error leaves the chain: whether the
// write happened is unknown.
func load(ctx context.Context, stop *atomic.Bool, x *node, inst int, tag string, phase *atomic.Int32, tl *tally, led *ledger) {
	var cur *session
	rotations, want := 0, 0
	for !stop.Load() {
		began, p := time.Now(), int(phase.Load())
		var err error
		op, presented := "signup", ""
		switch {
		case cur == nil:
			addr := email(tag)
			got, e := x.Signup(ctx, addr, password)
			if err = e; err == nil {
				cur = &session{access: got.AccessToken, refresh: got.Refresh()}
				rotations, want = 0, 1+rand.N(3)
				led.record(func(l *ledger) { l.signups = append(l.signups, addr) })
			}
		case rotations < want:
			op, presented = "refresh", cur.refresh
			got, e := x.Refresh(ctx, cur.refresh)
			if err = e; err == nil {
				cur = &session{access: got.AccessToken, refresh: got.Refresh()}
				rotations++
				led.record(func(l *ledger) { l.rotation++ })
			} else {
				cur = nil
			}
		case rand.N(2) == 0:
			op, presented = "logout", cur.refresh
			if err = x.logout(ctx, cur.refresh); err == nil {
				s := *cur
				led.record(func(l *ledger) { l.revoked = append(l.revoked, s) })
			}
			cur = nil
		default:
			s := *cur
			led.record(func(l *ledger) { l.current = append(l.current, s) })
			cur = nil
			continue
		}
		took := time.Since(began)
		tl.add(inst, p, int(phase.Load()), err, took)
		if c := code(err); err != nil && c != "SERVICE_UNAVAILABLE" {
			o := oddAnswer{inst: inst, op: op, code: c, token: presented, began: began, took: took, detail: err.Error()}
			led.record(func(l *ledger) { l.odd = append(l.odd, o) })
		}
		if err != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// checkLedger checks every acknowledged write against the cluster, spreading
// the checks over the instances.
func checkLedger(t *testing.T, n [nodes]*node, led *ledger) {
	ctx := reqCtx(t)
	type check struct {
		kind string
		run  func(x *node) error
	}
	var checks []check
	for _, e := range led.signups {
		checks = append(checks, check{"signup", func(x *node) error {
			_, err := x.Login(ctx, e, password)
			return err
		}})
	}
	for _, s := range led.current {
		checks = append(checks, check{"rotation", func(x *node) error {
			_, err := x.Refresh(ctx, s.refresh)
			return err
		}})
	}
	for _, s := range led.revoked {
		checks = append(checks, check{"revocation", func(x *node) error {
			if _, err := x.Me(ctx, s.access); code(err) != "UNAUTHENTICATED" {
				return fmt.Errorf("me with a logged-out session's access token: %v", err)
			}
			if _, err := x.Refresh(ctx, s.refresh); code(err) != "INVALID_REFRESH_TOKEN" {
				return fmt.Errorf("refresh of a logged-out session: %v", err)
			}
			return nil
		}})
	}
	var mu sync.Mutex
	lost := map[string]int{}
	checked := map[string]int{}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := checks[i].run(n[(i+w)%nodes])
				mu.Lock()
				checked[checks[i].kind]++
				if err != nil {
					lost[checks[i].kind]++
					if lost[checks[i].kind] <= 3 {
						t.Errorf("an acknowledged %s is lost: %v", checks[i].kind, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := range checks {
		next <- i
	}
	close(next)
	wg.Wait()
	kinds := slices.Sorted(maps.Keys(checked))
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d (lost %d)", k, checked[k], lost[k]))
	}
	t.Logf("acknowledged writes checked: %s; %d rotations answered in all", strings.Join(parts, ", "), led.rotation)
}

// TestNodeNotReady: a node outside the primary component (isolated from its
// peers here; a node still joining is the same to a client) refuses
// application statements with 1047. authql maps that, and the failed causal
// read, to SERVICE_UNAVAILABLE and /readyz 503, never INTERNAL_SERVER_ERROR;
// once the node is back, it serves again.
func TestNodeNotReady(t *testing.T) {
	c := need(t)
	db := c.database(t)
	srv := c.instances(t, db)
	n := clients(t, srv)
	ctx := reqCtx(t)
	p, err := n[0].Signup(ctx, email("notready"), password)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, c.url(3, db))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	node3 := c.open(t, 3, "")
	node3.SetMaxOpenConns(1)
	state := func() string {
		var k, v string
		if err := node3.QueryRow("SHOW GLOBAL STATUS LIKE 'wsrep_ready'").Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := node3.Exec("SET GLOBAL wsrep_provider_options='gmcast.isolate=1'"); err != nil {
		t.Fatal(err)
	}
	healed := false
	heal := func() {
		if healed {
			return
		}
		healed = true
		if _, err := node3.Exec("SET GLOBAL wsrep_provider_options='gmcast.isolate=0'"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for state() != "ON" || c.status(t, "wsrep_cluster_size") != nodes*nodes {
			if time.Now().After(deadline) {
				t.Fatal("node 3 did not rejoin within 60s of its isolation ending")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Cleanup(heal)
	deadline := time.Now().Add(30 * time.Second)
	for state() != "OFF" {
		if time.Now().After(deadline) {
			t.Fatal("node 3 still ready 30s after its isolation")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The store: a read and a transaction.
	_, err = s.UserByEmail(ctx, "nobody@example.com")
	var me *mysql.MySQLError
	if !errors.Is(err, store.ErrUnavailable) || !errors.As(err, &me) {
		t.Errorf("a read on a node not ready: want ErrUnavailable from the server, got %v", err)
	} else {
		t.Logf("a read on a node not ready: MySQL error %d, ErrUnavailable", me.Number)
	}
	err = s.InTx(ctx, func(q *store.Queries) error {
		_, err := q.SessionByID(ctx, "no-such-session")
		return err
	})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a transaction on a node not ready: want ErrUnavailable, got %v", err)
	}

	// The instance on it.
	x := n[2]
	if _, err := x.Me(ctx, p.AccessToken); code(err) != "SERVICE_UNAVAILABLE" {
		t.Errorf("me on a node not ready: want SERVICE_UNAVAILABLE, got %v", err)
	}
	if _, err := x.Signup(ctx, email("notready"), password); code(err) != "SERVICE_UNAVAILABLE" {
		t.Errorf("signup on a node not ready: want SERVICE_UNAVAILABLE, got %v", err)
	}
	if _, err := x.Refresh(ctx, p.Refresh()); code(err) != "SERVICE_UNAVAILABLE" {
		t.Errorf("refresh on a node not ready: want SERVICE_UNAVAILABLE, got %v", err)
	}
	resp, err := http.Get(srv[2].URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz on a node not ready: %d, want 503", resp.StatusCode)
	}

	heal()
	if _, err := x.Me(ctx, p.AccessToken); err != nil {
		t.Errorf("me once the node is back: %v", err)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a read once the node is back: %v", err)
	}
}

// TestRefreshRetriedAcrossStall: while a dead node is being evicted, Galera
// holds every commit (evs.suspect_timeout, 5 s by default, 2 s in the test
// cluster). A client whose refresh is held gives up, waits, and sends the
// same token to another instance, while the first transaction commits late,
// when the stall ends. The retry must still get the session's current token
// back: it is the predecessor's replay within the reuse grace window, which
// therefore must outlast the client's timeout plus its backoff (the time
// from the first attempt to the retry). The default (10 s) does; with a
// grace window of 500 ms (and a 4 s backoff) this test fails with
// INVALID_REFRESH_TOKEN for every session, each revoked as reuse.
func TestRefreshRetriedAcrossStall(t *testing.T) {
	c := need(t)
	n := clients(t, c.instances(t, c.database(t))) // the default grace window
	ctx := reqCtx(t)
	const sessions, patience, backoff = 8, 300 * time.Millisecond, 2 * time.Second
	tokens := make([]string, sessions)
	for i := range tokens {
		p, err := n[0].Signup(ctx, email("stall"), password)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = p.Refresh()
	}

	const victim = 3
	c.kill(t, victim)
	killed := time.Now()
	defer c.restart(t, victim)

	type outcome struct {
		gaveUp  bool // the first attempt was not answered within patience
		token   string
		err     error
		latency time.Duration // from the kill to the answer the client kept
		late    string        // the first attempt's answer, when it came after all
	}
	out := make([]outcome, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			// The first attempt runs on: behind a load balancer (HAProxy
			// without abortonclose) a client that gives up does not cancel
			// the request the instance is serving.
			first := make(chan *loadtest.Payload, 1)
			go func() {
				p, err := n[0].Refresh(ctx, tokens[i])
				if err != nil {
					p = nil
				}
				first <- p
			}()
			select {
			case p := <-first:
				if p != nil {
					out[i] = outcome{token: p.Refresh(), latency: time.Since(killed)}
					return
				}
			case <-time.After(patience):
			}
			// Gave up: after a pause, the same token at another instance.
			time.Sleep(backoff)
			p, err := n[1].Refresh(ctx, tokens[i])
			out[i] = outcome{gaveUp: true, err: err, latency: time.Since(killed)}
			if err == nil {
				out[i].token = p.Refresh()
			}
			if p := <-first; p != nil {
				out[i].late = p.Refresh()
			}
		})
	}
	wg.Wait()

	gaveUp, slowest := 0, time.Duration(0)
	for i, o := range out {
		if o.gaveUp {
			gaveUp++
		}
		slowest = max(slowest, o.latency)
		if o.err != nil {
			t.Errorf("session %d: the retried refresh: %v (code %q)", i, o.err, code(o.err))
			continue
		}
		if o.late != "" && o.late != o.token {
			t.Errorf("session %d: the late first attempt and the retry answered different tokens: the family forked", i)
		}
		// The answer the client kept is the session's current token.
		if _, err := n[1].Refresh(ctx, o.token); err != nil {
			t.Errorf("session %d: the token the retry answered does not rotate: %v", i, err)
		}
	}
	t.Logf("%d of %d clients gave up after %v and retried on node 2 %v later; the last answer came %v after the kill", gaveUp, sessions, patience, backoff, slowest.Round(time.Millisecond))
	if gaveUp == 0 {
		t.Error("no refresh was held by the stall: the test did not test the retry")
	}
}
