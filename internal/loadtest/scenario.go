package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Modes of load, each one operation repeated.
const (
	ModeLogin   = "login"   // login with the right password: one argon2id verification each
	ModeSignup  = "signup"  // signup of a fresh address: one argon2id hash each
	ModeRefresh = "refresh" // refresh-token rotation, each worker rotating its own session's chain
	ModeMe      = "me"      // the authenticated me query with one access token
	ModeMixed   = "mixed"   // 90 % me, 8 % refresh, 2 % login, each worker with its own session
)

// Modes lists the modes, for usage messages.
var Modes = []string{ModeLogin, ModeRefresh, ModeMe, ModeMixed, ModeSignup}

// Account is the one whose credentials the load uses.
type Account struct {
	Email    string
	Password string
}

// EnsureAccount signs the account up, or accepts that it already exists.
func EnsureAccount(ctx context.Context, c *Client, a Account) error {
	_, err := c.Signup(ctx, a.Email, a.Password)
	if Code(err) == "EMAIL_TAKEN" {
		return nil
	}
	return err
}

// Prepare readies mode against c for workers workers and returns its
// operation. Its own requests (the account's signup, the logins that refresh
// and me start from) are not part of the measured load.
func Prepare(ctx context.Context, c *Client, mode string, a Account, workers int) (Op, error) {
	if workers < 1 {
		return nil, errors.New("loadtest: workers must be at least 1")
	}
	switch mode {
	case ModeSignup:
		return SignupOp(c, a.Email, a.Password), nil
	case ModeLogin, ModeMe, ModeRefresh, ModeMixed:
	default:
		return nil, fmt.Errorf("loadtest: unknown mode %q (want %s)", mode, strings.Join(Modes, ", "))
	}
	if err := EnsureAccount(ctx, c, a); err != nil {
		return nil, fmt.Errorf("signup of %s: %w", a.Email, err)
	}
	switch mode {
	case ModeLogin:
		return LoginOp(c, a), nil
	case ModeMe:
		p, err := c.Login(ctx, a.Email, a.Password)
		if err != nil {
			return nil, fmt.Errorf("login of %s: %w", a.Email, err)
		}
		return MeOp(c, p.AccessToken), nil
	case ModeMixed:
		return MixedOp(ctx, c, a, workers)
	default:
		return RefreshOp(ctx, c, a, workers)
	}
}

// LoginOp logs the account in.
func LoginOp(c *Client, a Account) Op {
	return func(ctx context.Context, _ int) error {
		p, err := c.Login(ctx, a.Email, a.Password)
		if err == nil && p.AccessToken == "" {
			err = &Error{Code: CodeDecode, Message: "login answered no access token"}
		}
		return err
	}
}

// MeOp asks me with the access token.
func MeOp(c *Client, accessToken string) Op {
	return func(ctx context.Context, _ int) error {
		_, err := c.Me(ctx, accessToken)
		return err
	}
}

// SignupOp signs up a new address each time: the local part of like (an
// address, "load@example.com" if empty) with a run id and a counter appended.
func SignupOp(c *Client, like, password string) Op {
	local, domain, ok := strings.Cut(like, "@")
	if !ok || local == "" || domain == "" {
		local, domain = "load", "example.com"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := fmt.Sprintf("%s+%s-", local, hex.EncodeToString(b[:]))
	var seq atomic.Int64
	return func(ctx context.Context, _ int) error {
		_, err := c.Signup(ctx, fmt.Sprintf("%s%d@%s", prefix, seq.Add(1), domain), password)
		return err
	}
}

// RefreshOp logs in once per worker (concurrently, before the load) and
// returns an operation that rotates that worker's refresh token, keeping the
// new one for its next turn: each operation presents the token the previous
// one received. A token answered as invalid (its session revoked, say) makes
// the worker log in again on its next turn; a lost answer keeps the old token,
// which the server's grace window accepts again.
func RefreshOp(ctx context.Context, c *Client, a Account, workers int) (Op, error) {
	pairs, err := loginAll(ctx, c, a, workers)
	if err != nil {
		return nil, err
	}
	tokens := make([]string, workers)
	for w, p := range pairs {
		tokens[w] = p.Refresh()
	}
	return func(ctx context.Context, w int) error {
		if tokens[w] == "" {
			p, err := c.Login(ctx, a.Email, a.Password)
			if err != nil {
				return err
			}
			tokens[w] = p.Refresh()
		}
		p, err := c.Refresh(ctx, tokens[w])
		switch {
		case err == nil:
			tokens[w] = p.Refresh()
		case Code(err) == "INVALID_REFRESH_TOKEN":
			tokens[w] = ""
		}
		return err
	}, nil
}

// MixedOp is the traffic of applications behind authql: out of every 100
// operations of a worker, 90 me, 8 refreshes and 2 logins, spread evenly.
// Each worker keeps its own session: me presents the newest access token its
// refreshes earned, as a client does. Like RefreshOp, a refused refresh
// token makes the worker log in again.
func MixedOp(ctx context.Context, c *Client, a Account, workers int) (Op, error) {
	pairs, err := loginAll(ctx, c, a, workers)
	if err != nil {
		return nil, err
	}
	seq := make([]int, workers)
	return func(ctx context.Context, w int) error {
		n := seq[w] % 100
		seq[w]++
		p := pairs[w]
		switch {
		case n%50 == 49: // 2 in 100
			_, err := c.Login(ctx, a.Email, a.Password)
			return err
		case n%12 == 11 && n < 96: // 8 in 100
			if p == nil {
				np, err := c.Login(ctx, a.Email, a.Password)
				if err != nil {
					return err
				}
				pairs[w] = np
				return nil
			}
			np, err := c.Refresh(ctx, p.Refresh())
			switch {
			case err == nil:
				pairs[w] = np
			case Code(err) == "INVALID_REFRESH_TOKEN":
				pairs[w] = nil
			}
			return err
		default:
			if p == nil {
				return &Error{Code: "UNAUTHENTICATED", Message: "the worker's session was refused"}
			}
			_, err := c.Me(ctx, p.AccessToken)
			return err
		}
	}, nil
}

// loginAll logs the account in once per worker, a few at a time.
func loginAll(ctx context.Context, c *Client, a Account, workers int) ([]*Payload, error) {
	pairs := make([]*Payload, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	// A few at a time: each login is one argon2id verification, and a crowd
	// of them would only queue (and time out) behind the server's hashers.
	slots := make(chan struct{}, 4)
	for w := range workers {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			p, err := c.Login(ctx, a.Email, a.Password)
			if err == nil && p.Refresh() == "" {
				err = errors.New("login answered no refresh token (cookie mode is not supported)")
			}
			pairs[w], errs[w] = p, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("login of %s: %w", a.Email, err)
	}
	return pairs, nil
}
