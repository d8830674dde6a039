package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Why a request is refused before GraphQL runs it. The presenter's table
// words each for the client.
var (
	errUpgrade        = errors.New("graph: protocol upgrade requested")
	errMethod         = errors.New("graph: method not allowed")
	errMediaType      = errors.New("graph: POST body is not application/json")
	errBodyTooLarge   = errors.New("graph: request body over the limit")
	errBodyUnreadable = errors.New("graph: request body unreadable")
	errBodyNotJSON    = errors.New("graph: request body is not one JSON GraphQL request")
	errQueryString    = errors.New("graph: malformed query string")
	errGetMutation    = errors.New("graph: GET of a mutation")
	errNoQuery        = errors.New("graph: request without a query")
	errNotAcceptable  = errors.New("graph: Accept names no media type served")
)

// paramError is a variables or extensions parameter of a GET that is not a
// JSON object.
type paramError struct{ param string }

func (e *paramError) Error() string {
	return "graph: GET parameter " + e.param + " is not a JSON object"
}

// responseTooLarge withholds a response whose encoding is over max bytes.
type responseTooLarge struct{ max int }

func (e *responseTooLarge) Error() string { return "graph: response over the cap" }

// refusal is a request refused before GraphQL runs it: the status answered
// and why.
type refusal struct {
	status int
	reason error
	allow  string // the Allow header of a 405
}

// httpTransport is GraphQL over HTTP: a JSON body on POST, the query string on
// GET (queries only). It is the one place that refuses a request before
// GraphQL runs it: protocol upgrades, other methods, other media types,
// bodies over the limit, batches, malformed bodies and mutations over GET, each
// answered as a GraphQL response with a code. It stands in for gqlgen's POST
// and GET transports, which answer some refusals with a bare message and quote
// a malformed body, passwords and all, back to the client.
//
// A response is encoded whole before any of it is sent, and one larger than
// maxResponseBytes is withheld: a client asking for tens of megabytes gets a
// RESPONSE_TOO_LARGE error instead.
type httpTransport struct {
	maxBodyBytes     int64
	maxResponseBytes int
	present          graphql.ErrorPresenterFunc
	observe          func(operation string, took time.Duration)
}

var _ graphql.Transport = httpTransport{}

// Supports every request: those this transport does not serve, it refuses.
func (httpTransport) Supports(*http.Request) bool { return true }

func (t httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	if r.Method == http.MethodOptions && r.Header.Get("Upgrade") == "" {
		w.WriteHeader(http.StatusNoContent) // a CORS preflight, whose headers the server set
		return
	}
	label := OperationInvalid
	defer func() { t.observe(label, time.Since(start)) }()
	contentType, protocolStatus, acceptable := negotiate(r.Header.Get("Accept"))
	if !acceptable {
		t.refuse(w, r, &refusal{status: http.StatusNotAcceptable, reason: errNotAcceptable})
		return
	}
	params, ref := t.read(w, r)
	if ref == nil && params.Query == "" && params.Extensions["persistedQuery"] == nil {
		// Not a GraphQL request at all (a misspelt "query"): malformed, as a
		// body that is not JSON is, rather than a document that fails.
		ref = &refusal{status: http.StatusBadRequest, reason: errNoQuery}
	}
	if ref != nil {
		t.refuse(w, r, ref)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	w.Header().Set("Content-Type", contentType)
	ctx := r.Context()
	op, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			w.WriteHeader(protocolStatus)
		}
		// Execution never started: the response has no data entry.
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, op), errs)
		writeResponse(w, &refusedResponse{Errors: resp.Errors, Extensions: resp.Extensions})
		return
	}
	if r.Method == http.MethodGet && op.Operation.Operation != ast.Query {
		t.refuse(w, r, &refusal{status: http.StatusMethodNotAllowed, reason: errGetMutation, allow: "POST"})
		return
	}
	label = operationLabel(op.Operation)
	responses, ctx := exec.DispatchOperation(ctx, op)
	t.write(ctx, w, responses(ctx))
}

// read admits the request and reads its parameters, or says why not.
func (t httpTransport) read(w http.ResponseWriter, r *http.Request) (*graphql.RawParams, *refusal) {
	if r.Header.Get("Upgrade") != "" {
		return nil, &refusal{status: http.StatusBadRequest, reason: errUpgrade}
	}
	switch r.Method {
	case http.MethodGet:
		return readQueryString(r)
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			// JSON is what a cross-site form or a "simple" request cannot send
			// without a CORS preflight: this is the CSRF defence.
			return nil, &refusal{status: http.StatusUnsupportedMediaType, reason: errMediaType}
		}
		if r.ContentLength > t.maxBodyBytes {
			return nil, &refusal{status: http.StatusRequestEntityTooLarge, reason: errBodyTooLarge}
		}
		// A body without a length is cut off at the limit as it is read.
		return readBody(http.MaxBytesReader(w, r.Body, t.maxBodyBytes))
	default:
		return nil, &refusal{status: http.StatusMethodNotAllowed, reason: errMethod, allow: "GET, POST, OPTIONS"}
	}
}

func readQueryString(r *http.Request) (*graphql.RawParams, *refusal) {
	params := &graphql.RawParams{}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &refusal{status: http.StatusBadRequest, reason: errQueryString}
	}
	params.Query, params.OperationName = q.Get("query"), q.Get("operationName")
	for _, p := range []struct {
		name string
		into *map[string]any
	}{{"variables", &params.Variables}, {"extensions", &params.Extensions}} {
		if v := q.Get(p.name); v != "" && decode([]byte(v), p.into) != nil {
			return nil, &refusal{status: http.StatusBadRequest, reason: &paramError{param: p.name}}
		}
	}
	return params, nil
}

func readBody(body io.Reader) (*graphql.RawParams, *refusal) {
	params := &graphql.RawParams{}
	data, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &refusal{status: http.StatusRequestEntityTooLarge, reason: errBodyTooLarge}
	case err != nil:
		return nil, &refusal{status: http.StatusBadRequest, reason: errBodyUnreadable}
	case decode(data, params) != nil:
		return nil, &refusal{status: http.StatusBadRequest, reason: errBodyNotJSON}
	}
	return params, nil
}

// refuse answers a refused request, its reason presented like any error, in
// the media type the client accepts (application/json when it accepts none).
func (t httpTransport) refuse(w http.ResponseWriter, r *http.Request, ref *refusal) {
	if ref.allow != "" {
		w.Header().Set("Allow", ref.allow)
	}
	contentType, _, ok := negotiate(r.Header.Get("Accept"))
	if !ok {
		contentType = "application/json"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(ref.status)
	writeResponse(w, &refusedResponse{Errors: gqlerror.List{t.present(r.Context(), ref.reason)}})
}

// refusedResponse is the answer to a request GraphQL did not execute: no
// data entry at all, which GraphQL over HTTP reserves for executed ones.
type refusedResponse struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// write answers resp, or RESPONSE_TOO_LARGE in its place when its encoding
// is over the cap. gqlgen has already built the data in memory: the cap keeps
// it from the wire, the complexity limit from being built.
func (t httpTransport) write(ctx context.Context, w http.ResponseWriter, resp *graphql.Response) {
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer putResponseBuffer(buf)
	if len(resp.Data) <= t.maxResponseBytes {
		if err := json.NewEncoder(buf).Encode(resp); err != nil {
			writeResponse(w, &graphql.Response{Errors: gqlerror.List{t.present(ctx, err)}})
			return
		}
	}
	if len(resp.Data) > t.maxResponseBytes || buf.Len() > t.maxResponseBytes {
		// The operation ran: data is null, as for an error that reached the
		// root, and the status stays 200.
		writeResponse(w, &graphql.Response{Errors: gqlerror.List{t.present(ctx, &responseTooLarge{max: t.maxResponseBytes})}})
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// decode reads JSON keeping numbers as json.Number, which is what gqlgen's
// scalar unmarshalers expect of variables.
// responseBuffers hold encoded responses between requests: growing a fresh
// buffer to a response's size was a few allocations on every request.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledResponse is the largest buffer kept for the next response: a rare
// page of sessions near the response cap is not held on to.
const maxPooledResponse = 64 << 10

// putResponseBuffer returns buf to the pool once its bytes are written (the
// ResponseWriter copies them).
func putResponseBuffer(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledResponse {
		return
	}
	buf.Reset()
	responseBuffers.Put(buf)
}

func decode(data []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(into)
}

// negotiate picks the response media type from Accept, and the status of a
// request that is not valid GraphQL: 400 for application/graphql-response+json,
// 200 for application/json, as GraphQL over HTTP asks (a legacy client reads
// the errors from a 200 like any other response). ok is false when Accept
// names neither (nor a wildcard covering them): 406.
func negotiate(accept string) (contentType string, protocolStatus int, ok bool) {
	const legacy, modern = "application/json", "application/graphql-response+json"
	if strings.TrimSpace(accept) == "" {
		return legacy, http.StatusOK, true
	}
	for part := range strings.SplitSeq(accept, ",") {
		switch mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mt {
		case "application/json", "application/*", "*/*":
			return legacy, http.StatusOK, true
		case modern:
			return modern, http.StatusBadRequest, true
		}
	}
	return "", 0, false
}

func writeResponse(w http.ResponseWriter, resp any) {
	_ = json.NewEncoder(w).Encode(resp)
}

func writeError(w http.ResponseWriter, status int, err *gqlerror.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeResponse(w, &refusedResponse{Errors: gqlerror.List{err}})
}

// WriteInternalError answers a request that failed outside GraphQL (a panic
// the HTTP server recovered from) with a 500 and INTERNAL_SERVER_ERROR; the
// caller logs what happened.
func WriteInternalError(ctx context.Context, w http.ResponseWriter) {
	writeError(w, http.StatusInternalServerError, internal.gqlError(nil, nil, nil).withRequestID(ctx))
}
