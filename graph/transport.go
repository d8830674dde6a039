package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Codes of requests refused before GraphQL sees them.
const (
	CodeBadRequest      = "BAD_REQUEST"
	CodeRequestTooLarge = "REQUEST_TOO_LARGE"
)

// httpTransport is GraphQL over HTTP: a JSON body on POST, the query string on GET
// (queries only). It stands in for gqlgen's POST and GET transports so that a
// request is read and decoded once and every refusal is a GraphQL response
// with a code: theirs answer some refusals with a bare message, and quote a
// malformed body, passwords and all, back to the client.
//
// A response is encoded whole before any of it is sent, and one larger than
// maxResponseBytes is withheld: a client asking for tens of megabytes gets a
// RESPONSE_TOO_LARGE error instead.
type httpTransport struct {
	maxResponseBytes int
}

var _ graphql.Transport = httpTransport{}

func (httpTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodPost || r.Method == http.MethodGet
}

func (t httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	params, status, msg := readParams(r)
	if msg != "" {
		code := CodeBadRequest
		if status == http.StatusRequestEntityTooLarge {
			code = CodeRequestTooLarge
		}
		WriteError(w, status, code, msg)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	contentType, protocolStatus := negotiate(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", contentType)
	ctx := r.Context()
	op, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			w.WriteHeader(protocolStatus)
		}
		t.write(w, exec.DispatchError(graphql.WithOperationContext(ctx, op), errs))
		return
	}
	if r.Method == http.MethodGet && op.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		WriteError(w, http.StatusMethodNotAllowed, CodeBadRequest, "GET runs queries only: send mutations with POST")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, op)
	t.write(w, responses(ctx))
}

// write answers resp, or RESPONSE_TOO_LARGE in its place when its encoding
// is over the cap. gqlgen has already built the data in memory: the cap keeps
// it from the wire, the complexity limit from being built.
func (t httpTransport) write(w http.ResponseWriter, resp *graphql.Response) {
	var buf bytes.Buffer
	if len(resp.Data) <= t.maxResponseBytes {
		if err := json.NewEncoder(&buf).Encode(resp); err != nil {
			writeResponse(w, &graphql.Response{Errors: gqlerror.List{{Message: "internal server error", Extensions: map[string]any{"code": CodeInternal}}}})
			return
		}
	}
	if len(resp.Data) > t.maxResponseBytes || buf.Len() > t.maxResponseBytes {
		// The operation ran: data is null, as for an error that reached the
		// root, and the status stays 200.
		msg := fmt.Sprintf("the response is larger than %d bytes: ask for fewer fields or smaller pages", t.maxResponseBytes)
		writeResponse(w, &graphql.Response{Data: json.RawMessage("null"), Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": CodeResponseTooLarge}}}})
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// readParams reads the request: on failure, the status and message to answer.
func readParams(r *http.Request) (*graphql.RawParams, int, string) {
	params := &graphql.RawParams{}
	if r.Method == http.MethodGet {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, http.StatusBadRequest, "the query string is malformed"
		}
		params.Query, params.OperationName = q.Get("query"), q.Get("operationName")
		for name, into := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
			if v := q.Get(name); v != "" && decode([]byte(v), into) != nil {
				return nil, http.StatusBadRequest, name + " must be a JSON object"
			}
		}
		return params, 0, ""
	}
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge, "the request body is too large"
	case err != nil:
		return nil, http.StatusBadRequest, "could not read the request body"
	case decode(body, params) != nil:
		return nil, http.StatusBadRequest, `the request body is not a JSON GraphQL request ({"query": ..., "variables": {...}}); batches are not supported`
	}
	return params, 0, ""
}

// decode reads JSON keeping numbers as json.Number, which is what gqlgen's
// scalar unmarshalers expect of variables.
func decode(data []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(into)
}

// negotiate picks the response media type from Accept, and the status of a
// request that is not valid GraphQL: 400 for application/graphql-response+json
// (GraphQL over HTTP), 422 for application/json (gqlgen's convention).
func negotiate(accept string) (contentType string, protocolStatus int) {
	const legacy, modern = "application/json", "application/graphql-response+json"
	if accept == "" {
		return legacy, http.StatusUnprocessableEntity
	}
	for part := range strings.SplitSeq(accept, ",") {
		switch mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mt {
		case "application/json", "application/*", "*/*":
			return legacy, http.StatusUnprocessableEntity
		case modern:
			return modern, http.StatusBadRequest
		}
	}
	return modern, http.StatusBadRequest
}

func writeResponse(w http.ResponseWriter, resp *graphql.Response) {
	_ = json.NewEncoder(w).Encode(resp)
}

// WriteError answers a request refused before execution, in the shape of a
// GraphQL response.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeResponse(w, &graphql.Response{Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": code}}}})
}
