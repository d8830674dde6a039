package cluster_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/store"
)

// TestRotationAcrossNodes: rotation, the grace window and reuse detection
// hold when the requests of one session land on different nodes.
func TestRotationAcrossNodes(t *testing.T) {
	c := need(t)
	const grace = 2 * time.Second
	n := clients(t, c.instances(t, c.database(t), "AUTHQL_REFRESH_REUSE_GRACE="+grace.String()))
	a, b, cc := n[0], n[1], n[2]
	ctx := reqCtx(t)

	first, err := a.Signup(ctx, email("rotate"), password)
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	second, err := a.Refresh(ctx, first.Refresh())
	if err != nil {
		t.Fatalf("refresh at A: %v", err)
	}
	// Within grace, B answers the session's current token for its predecessor.
	again, err := b.Refresh(ctx, first.Refresh())
	if err != nil {
		t.Fatalf("the rotated token within grace at B: %v", err)
	}
	if time.Since(rotated) >= grace {
		t.Skipf("the machine is too slow to stay within the %v grace window", grace)
	}
	if again.Refresh() != second.Refresh() {
		t.Fatal("within grace, B answered another refresh token than A's rotation")
	}
	for _, x := range n {
		if _, err := x.Me(ctx, again.AccessToken); err != nil {
			t.Fatalf("me at %s with the access token B answered: %v", x.name, err)
		}
	}

	// After grace, the rotated token at B is reuse: the session is revoked.
	time.Sleep(time.Until(rotated.Add(grace + 200*time.Millisecond)))
	if _, err := b.Refresh(ctx, first.Refresh()); code(err) != "INVALID_REFRESH_TOKEN" {
		t.Fatalf("the rotated token after grace at B: want INVALID_REFRESH_TOKEN, got %v", err)
	}
	for _, x := range n {
		if _, err := x.Me(ctx, second.AccessToken); code(err) != "UNAUTHENTICATED" {
			t.Errorf("me at %s after reuse was detected at B: want UNAUTHENTICATED, got %v", x.name, err)
		}
	}
	if _, err := cc.Refresh(ctx, second.Refresh()); code(err) != "INVALID_REFRESH_TOKEN" {
		t.Errorf("the session's current token at C after reuse: want INVALID_REFRESH_TOKEN, got %v", err)
	}
	if _, err := a.Refresh(ctx, first.Refresh()); code(err) != "INVALID_REFRESH_TOKEN" {
		t.Errorf("the reused token at A: want INVALID_REFRESH_TOKEN, got %v", err)
	}
}

// TestReadsSeeTheLatestWrite: what one node acknowledged, every other node
// answers at once: a session just created works everywhere, and one just
// logged out works nowhere (reads without wsrep_sync_wait answered from
// what a node had applied so far).
func TestReadsSeeTheLatestWrite(t *testing.T) {
	c := need(t)
	n := clients(t, c.instances(t, c.database(t)))
	ctx := reqCtx(t)
	const rounds = 60
	var staleLive, staleRevoked, ok int
	for i := range rounds {
		// Each round moves the roles along the nodes.
		a, b, cc := n[i%nodes], n[(i+1)%nodes], n[(i+2)%nodes]
		p, err := a.Signup(ctx, email("stale"), password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cc.Me(ctx, p.AccessToken); err != nil {
			staleLive++
			t.Logf("round %d: a session just created at %s, me at %s: %v", i, a.name, cc.name, err)
		}
		if err := b.logout(ctx, p.Refresh()); err != nil {
			t.Fatalf("logout at %s: %v", b.name, err)
		}
		for _, x := range []*node{a, cc} {
			if _, err := x.Me(ctx, p.AccessToken); code(err) != "UNAUTHENTICATED" {
				staleRevoked++
				t.Logf("round %d: logged out at %s, me at %s: want UNAUTHENTICATED, got %v", i, b.name, x.name, err)
			} else {
				ok++
			}
		}
	}
	t.Logf("%d rounds: %d stale answers for new sessions, %d for revoked ones, %d revocations seen at once", rounds, staleLive, staleRevoked, ok)
	if staleLive+staleRevoked > 0 {
		t.Fatalf("%d stale answers", staleLive+staleRevoked)
	}
}

// TestRacingSignups: one email signed up on two nodes at once makes one
// account; the other answer is EMAIL_TAKEN.
func TestRacingSignups(t *testing.T) {
	c := need(t)
	db := c.database(t)
	n := clients(t, c.instances(t, db))
	ctx := reqCtx(t)
	const rounds = 40
	codes := map[string]int{}
	for i := range rounds {
		addr := email("race")
		a, b := n[i%nodes], n[(i+1)%nodes]
		errs := make([]error, 2)
		race(a, b, func(j int, x *node) { _, errs[j] = x.Signup(ctx, addr, password) })
		won := 0
		for _, err := range errs {
			codes[code(err)]++
			switch code(err) {
			case "":
				won++
			case "EMAIL_TAKEN":
			default:
				t.Errorf("round %d: a racing signup answered %v", i, err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d signups of one email succeeded", i, won)
		}
	}
	var users int
	if err := c.open(t, 3, db).QueryRow("SELECT COUNT(*) FROM users").Scan(&users); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rounds of two racing signups: answers %v; %d accounts", rounds, codes, users)
	if users != rounds {
		t.Fatalf("%d accounts for %d emails", users, rounds)
	}
}

// TestRacingRefreshes: one refresh token presented on two nodes at once:
// both answers carry the same new token, which works; the conflict the
// cluster detects at commit is retried, never an error.
func TestRacingRefreshes(t *testing.T) {
	c := need(t)
	n := clients(t, c.instances(t, c.database(t)))
	ctx := reqCtx(t)
	const rounds = 40
	// Conflicts the cluster found: at COMMIT (certification) or by aborting a
	// local transaction for a replicated one; the client sees 1213 either way.
	certBefore, bfBefore := c.status(t, "wsrep_local_cert_failures"), c.status(t, "wsrep_local_bf_aborts")
	codes := map[string]int{}
	for i := range rounds {
		a, b, cc := n[i%nodes], n[(i+1)%nodes], n[(i+2)%nodes]
		p, err := a.Signup(ctx, email("refresh"), password)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]*loadtest.Payload, 2)
		errs := make([]error, 2)
		race(a, b, func(j int, x *node) { got[j], errs[j] = x.Refresh(ctx, p.Refresh()) })
		for j, err := range errs {
			codes[code(err)]++
			if err != nil {
				t.Errorf("round %d: racing refresh %d answered %v", i, j, err)
			}
		}
		if t.Failed() {
			continue
		}
		if got[0].Refresh() != got[1].Refresh() {
			t.Errorf("round %d: the racing refreshes answered different tokens", i)
			continue
		}
		for _, x := range n {
			if _, err := x.Me(ctx, got[0].AccessToken); err != nil {
				t.Errorf("round %d: me at %s with an answered access token: %v", i, x.name, err)
			}
		}
		if _, err := cc.Refresh(ctx, got[0].Refresh()); err != nil {
			t.Errorf("round %d: the answered refresh token at %s: %v", i, cc.name, err)
		}
	}
	cert, bf := c.status(t, "wsrep_local_cert_failures")-certBefore, c.status(t, "wsrep_local_bf_aborts")-bfBefore
	t.Logf("%d rounds of two racing refreshes: answers %v; the cluster saw %d certification failures at COMMIT and %d brute-force aborts, all retried by InTx", rounds, codes, cert, bf)
}

// TestCausalReadsOnGalera: the store finds Galera by itself and its reads
// wait for the cluster (the node counts them in wsrep_causal_reads); a
// wsrep_sync_wait the URL sets is kept.
func TestCausalReadsOnGalera(t *testing.T) {
	c := need(t)
	db := c.database(t)
	c.instances(t, db) // the tables
	causal := func() int64 {
		var k string
		var v int64
		if err := c.open(t, 2, "").QueryRow("SHOW GLOBAL STATUS LIKE 'wsrep_causal_reads'").Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		query string
		want  bool
	}{{"", true}, {"?wsrep_sync_wait=0", false}} {
		s, err := store.Open(t.Context(), c.url(2, db)+tc.query)
		if err != nil {
			t.Fatal(err)
		}
		before := causal()
		const reads = 20
		for range reads {
			if _, err := s.UserByEmail(t.Context(), "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		}
		got := causal() - before
		s.Close()
		t.Logf("URL %q: %d causal reads for %d reads", c.url(2, db)+tc.query, got, reads)
		if tc.want && got < reads || !tc.want && got != 0 {
			t.Errorf("URL %q: %d causal reads for %d reads", c.url(2, db)+tc.query, got, reads)
		}
	}
}

// race runs do for a (j = 0) and b (j = 1) at once: both goroutines are
// released together, so that their requests meet on the cluster.
func race(a, b *node, do func(j int, x *node)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for j, x := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			do(j, x)
		}()
	}
	close(start)
	wg.Wait()
}

// TestInstancesStartTogether starts `authql migrate up` twice on every node
// at once against a fresh database, several times: every process succeeds
// and each version is recorded exactly once. MySQL's GET_LOCK, which locks
// on one node only, let two nodes create the same table (1050) or record a
// version twice; the lock row is certified across the cluster.
func TestInstancesStartTogether(t *testing.T) {
	c := need(t)
	const rounds, perNode = 4, 2
	for round := range rounds {
		db := c.database(t)
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for n := 1; n <= nodes; n++ {
			for range perNode {
				cmd := exec.Command(c.bin, "migrate", "up")
				cmd.Env = append(os.Environ(), "AUTHQL_DATABASE_URL="+c.url(n, db), "AUTHQL_JWT_SECRET="+secret, "AUTHQL_LOG_LEVEL=warn")
				cmd.Dir = t.TempDir()
				out := new(bytes.Buffer)
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds, outs = append(cmds, cmd), append(outs, out)
			}
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("round %d: migrate on node %d: %v\n%s", round, i/perNode+1, err, outs[i])
			}
		}
		rows, err := c.open(t, 1+round%nodes, db).Query("SELECT version_id, COUNT(*) FROM authql_schema_migrations GROUP BY version_id")
		if err != nil {
			t.Fatal(err)
		}
		versions := 0
		for rows.Next() {
			var v, k int64
			if err := rows.Scan(&v, &k); err != nil {
				t.Fatal(err)
			}
			if k != 1 {
				t.Errorf("round %d: version %d recorded %d times", round, v, k)
			}
			versions++
		}
		rows.Close()
		if versions < 2 { // goose's version 0 and the baseline at least
			t.Errorf("round %d: %d versions recorded, want every migration", round, versions)
		}
	}
}

// TestLoginRacingPasswordChangeAcrossNodes: logins with the old password on
// nodes B and C while the password is changed on node A. A login whose
// session escaped the change's revocation would keep working tokens; on one
// server the login's locking read of the user row orders them, but Galera
// certifies only written rows, so the login writes the row too
// (users.last_login_at) and the two conflict at commit.
func TestLoginRacingPasswordChangeAcrossNodes(t *testing.T) {
	c := need(t)
	n := clients(t, c.instances(t, c.database(t)))
	ctx := reqCtx(t)
	const rounds, logins = 6, 16
	kept, answered := 0, 0
	for round := range rounds {
		addr := email("pwrace")
		owner, err := n[0].Signup(ctx, addr, password)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]*loadtest.Payload, logins)
		var wg sync.WaitGroup
		for i := range logins {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 25 * time.Millisecond)
				got[i], _ = n[1+i%2].Login(ctx, addr, password) // refused ones are nil
			})
		}
		time.Sleep(40 * time.Millisecond)
		var changed loadtest.Payload
		err = n[0].Do(ctx, `mutation($i: ChangePasswordInput!) { changePassword(input: $i) { accessToken } }`,
			map[string]any{"i": map[string]any{"currentPassword": password, "newPassword": "changed " + password}}, owner.AccessToken, "changePassword", &changed)
		if err != nil {
			t.Fatalf("round %d: changePassword: %v", round, err)
		}
		wg.Wait()
		for i, p := range got {
			if p == nil {
				continue
			}
			answered++
			for _, x := range n {
				if _, err := x.Me(ctx, p.AccessToken); code(err) != "UNAUTHENTICATED" {
					kept++
					t.Errorf("round %d: login %d (at %s) still works at %s after the password change: %v", round, i, n[1+i%2].name, x.name, err)
					break
				}
			}
		}
	}
	t.Logf("%d rounds: %d logins with the old password answered; %d of them escaped the change made on another node", rounds, answered, kept)
}

// TestRefreshUnderConflictingWrites: refreshes on node 1 while node 2
// writes the same session rows, so that Galera aborts refresh transactions
// from outside (a brute-force abort, as a logout or rotation of the same
// session on another node would cause; TestNodeKilledUnderLoad counts 0-2
// around a node's failure and rejoin, and one of them once cost a client
// its session there). An abort may only cost a
// retry: a chain of refreshes never hears INVALID_REFRESH_TOKEN or
// INTERNAL_SERVER_ERROR, a client that retries a SERVICE_UNAVAILABLE with the
// same token goes on, and no session is left pointing at a token that was
// never stored.
//
// It failed while a rotation was one multi-statement batch (statements after
// the abort committed on their own) and while the locking read of the
// session was taken from its row without reading on to the statement's
// outcome (its user came back NULL, then 1213).
func TestRefreshUnderConflictingWrites(t *testing.T) {
	c := need(t)
	db := c.database(t)
	n := clients(t, c.instances(t, db))
	ctx := reqCtx(t)
	other := c.open(t, 2, db)
	const chains, duration = 6, 8 * time.Second

	var (
		live     sync.Map // chain → its session's id
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered = map[string]int{}
		odd      []oddAnswer
		sessions []string
	)
	aborts := c.status(t, "wsrep_local_bf_aborts") + c.status(t, "wsrep_local_cert_failures")
	for chain := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := n[0]
			for !stop.Load() {
				got, err := x.Signup(ctx, email("conflict"), password)
				if err != nil {
					mu.Lock()
					answered["signup "+code(err)]++
					mu.Unlock()
					continue
				}
				cur := got.Refresh()
				_, sid, _, _ := claimsOf(cur)
				live.Store(chain, sid)
				mu.Lock()
				sessions = append(sessions, sid)
				mu.Unlock()
				for range 25 {
					began := time.Now()
					next, err := x.Refresh(ctx, cur)
					// SERVICE_UNAVAILABLE is contention that outlasted the
					// server's retries: the client retries the same token.
					for retry := 0; code(err) == "SERVICE_UNAVAILABLE" && retry < 5; retry++ {
						time.Sleep(20 * time.Millisecond)
						next, err = x.Refresh(ctx, cur)
					}
					mu.Lock()
					answered[code(err)]++
					if err != nil {
						odd = append(odd, oddAnswer{op: "refresh", code: code(err), token: cur, began: began, took: time.Since(began), detail: err.Error()})
					}
					mu.Unlock()
					if err != nil {
						break
					}
					cur = next.Refresh()
				}
			}
		}()
	}
	// The conflicting writer: node 2 touches every live session's row, and
	// its current token's, over and over (values unchanged but for
	// last_used_at, so the refreshes' answers are what they would be).
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				live.Range(func(_, sid any) bool {
					_, _ = other.Exec("UPDATE sessions SET last_used_at = NOW(6) WHERE id = ?", sid)
					_, _ = other.Exec("UPDATE refresh_tokens SET issued_at = issued_at WHERE session_id = ? AND used_at IS NULL", sid)
					return true
				})
			}
		}()
	}
	time.Sleep(duration)
	stop.Store(true)
	wg.Wait()
	aborts = c.status(t, "wsrep_local_bf_aborts") + c.status(t, "wsrep_local_cert_failures") - aborts
	t.Logf("refreshes answered: %v; transactions aborted by conflicts: %d", answered, aborts)

	explainAll(t, c, db, n, odd)
	if len(odd) > 0 {
		t.Errorf("%d refresh chains broke under conflicting writes", len(odd))
	}
	if answered[""] == 0 {
		t.Fatal("no refresh succeeded")
	}
	if aborts == 0 {
		t.Error("no transaction was aborted by a conflict: the test did not test what it is for")
	}
	// Every session points at a stored token, on every node.
	for node := 1; node <= nodes; node++ {
		var dangling int
		if err := c.open(t, node, db).QueryRow(
			"SELECT COUNT(*) FROM sessions s LEFT JOIN refresh_tokens r ON r.id = s.current_token_id WHERE r.id IS NULL").Scan(&dangling); err != nil {
			t.Fatal(err)
		}
		if dangling > 0 {
			t.Errorf("node %d: %d of %d sessions point at a refresh token that was never stored", node, dangling, len(sessions))
		}
	}
}
