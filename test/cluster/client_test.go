package cluster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/testkit/authqlbin"
)

// node is an authql instance as a client sees it.
type node struct {
	*loadtest.Client
	name string
	srv  *authqlbin.Server
}

func clients(t *testing.T, srv [nodes]*authqlbin.Server) [nodes]*node {
	t.Helper()
	var out [nodes]*node
	for i, s := range srv {
		c := loadtest.NewClient(s.URL, 32)
		c.UserAgent = "authql-cluster-test"
		t.Cleanup(c.Close)
		out[i] = &node{Client: c, name: fmt.Sprintf("node%d", i+1), srv: s}
	}
	return out
}

const password = "cluster-test-password"

var emails atomic.Int64

// email is an address no other call of this run uses.
func email(tag string) string {
	return fmt.Sprintf("%s-%d-%d@example.com", tag, time.Now().UnixNano()%1_000_000_000, emails.Add(1))
}

// reqCtx is a context for one request: generous, the machine is shared.
func reqCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// logout revokes the session of a refresh token.
func (n *node) logout(ctx context.Context, refresh string) error {
	var ok bool
	return n.Do(ctx, `mutation($t: String) { logout(token: $t) }`, map[string]any{"t": refresh}, "", "logout", &ok)
}

// code is the GraphQL error code of err ("" for nil).
func code(err error) string { return loadtest.Code(err) }
