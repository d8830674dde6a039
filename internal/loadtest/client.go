// Package loadtest generates load against a running authql: a small GraphQL
// client for the operations that cost something (signup, login, refresh, me),
// a runner that fires a bounded number of them from a fixed number of workers
// released all at once, and a result with error codes, latency percentiles and
// throughput. It is for servers you run yourself: point it at loopback.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Error is a failed operation: a GraphQL error (Code is its extensions.code),
// or an HTTP answer without one (Code is "HTTP_<status>").
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Codes that are not the server's own, for failures before an answer.
const (
	CodeTimeout   = "TIMEOUT"   // the request's deadline passed
	CodeCanceled  = "CANCELED"  // the run was stopped while the request was in flight
	CodeTransport = "TRANSPORT" // connection refused, reset, closed early...
	CodeDecode    = "DECODE"    // the answer was not the GraphQL JSON expected
)

// Code names err for a tally: the GraphQL code, HTTP_<status>, TIMEOUT,
// CANCELED, TRANSPORT or DECODE; "" for nil.
func Code(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return CodeTimeout
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	}
	return CodeTransport
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Client speaks authql's GraphQL over HTTP.
type Client struct {
	// BaseURL is the server's root, e.g. http://127.0.0.1:8080.
	BaseURL   string
	HTTP      *http.Client
	UserAgent string
}

// NewClient returns a client for baseURL keeping up to conns connections open,
// so that conns workers each reuse one instead of opening a new one per request.
func NewClient(baseURL string, conns int) *Client {
	if conns < 1 {
		conns = 1
	}
	tr := &http.Transport{
		Proxy:                 nil, // never through a proxy: the target is the URL given
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // a request's context bounds it
		DisableCompression:    true,
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: tr}, UserAgent: "authql-load"}
}

// Close drops the idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// User is the part of a user the load needs.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// Payload is an AuthPayload.
type Payload struct {
	AccessToken  string  `json:"accessToken"`
	RefreshToken *string `json:"refreshToken"`
	ExpiresIn    int     `json:"expiresIn"`
	User         User    `json:"user"`
}

// Refresh is the refresh token, "" when it travels as a cookie.
func (p *Payload) Refresh() string {
	if p == nil || p.RefreshToken == nil {
		return ""
	}
	return *p.RefreshToken
}

const payloadFields = `accessToken refreshToken expiresIn user { id email }`

const (
	signupQuery  = `mutation($e: String!, $p: String!) { signup(input: {email: $e, password: $p}) { ` + payloadFields + ` } }`
	loginQuery   = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { ` + payloadFields + ` } }`
	refreshQuery = `mutation($t: String) { refreshToken(token: $t) { ` + payloadFields + ` } }`
	meQuery      = `{ me { id email } }`
)

// Signup creates an account and answers its first token pair.
func (c *Client) Signup(ctx context.Context, email, password string) (*Payload, error) {
	var p Payload
	err := c.Do(ctx, signupQuery, map[string]any{"e": email, "p": password}, "", "signup", &p)
	return &p, err
}

// Login answers a new token pair for the account.
func (c *Client) Login(ctx context.Context, email, password string) (*Payload, error) {
	var p Payload
	err := c.Do(ctx, loginQuery, map[string]any{"e": email, "p": password}, "", "login", &p)
	return &p, err
}

// Refresh rotates a refresh token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Payload, error) {
	var p Payload
	err := c.Do(ctx, refreshQuery, map[string]any{"t": refreshToken}, "", "refreshToken", &p)
	return &p, err
}

// Me asks whom an access token belongs to.
func (c *Client) Me(ctx context.Context, accessToken string) (*User, error) {
	var u User
	err := c.Do(ctx, meQuery, nil, accessToken, "me", &u)
	return &u, err
}

// gqlResponse is a GraphQL answer.
type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// Do posts one GraphQL operation (with a bearer token unless "") and decodes
// data.field into out. A GraphQL error comes back as *Error.
func (c *Client) Do(ctx context.Context, query string, vars map[string]any, bearer, field string, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	var gr gqlResponse
	if err := json.Unmarshal(raw, &gr); err != nil {
		if resp.StatusCode != http.StatusOK {
			return &Error{Code: fmt.Sprintf("HTTP_%d", resp.StatusCode), Message: snippet(raw), Status: resp.StatusCode}
		}
		return &Error{Code: CodeDecode, Message: "answer is not JSON: " + snippet(raw), Status: resp.StatusCode}
	}
	if len(gr.Errors) > 0 {
		code, _ := gr.Errors[0].Extensions["code"].(string)
		if code == "" {
			code = fmt.Sprintf("HTTP_%d", resp.StatusCode)
		}
		return &Error{Code: code, Message: gr.Errors[0].Message, Status: resp.StatusCode}
	}
	if resp.StatusCode != http.StatusOK {
		return &Error{Code: fmt.Sprintf("HTTP_%d", resp.StatusCode), Message: snippet(raw), Status: resp.StatusCode}
	}
	data, ok := gr.Data[field]
	if !ok || string(data) == "null" {
		return &Error{Code: CodeDecode, Message: "no data." + field + " in the answer", Status: resp.StatusCode}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &Error{Code: CodeDecode, Message: "data." + field + ": " + err.Error(), Status: resp.StatusCode}
		}
	}
	return nil
}

func snippet(b []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(b))
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}

// WaitReady polls GET /readyz until it answers 200 or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := c.HTTP.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz answered %d", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", c.BaseURL, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// CheckLoopback refuses a base URL whose host is not a loopback address
// (127.0.0.0/8, ::1) or "localhost": load is for servers on this machine.
func CheckLoopback(baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", baseURL)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address (127.0.0.1, ::1, localhost)", host)
}
