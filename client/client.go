// Package client is the Go SDK for Probity's HTTP API: a Client speaks to one
// server with one API key, and its methods map one to one onto the API's
// routes, taking and returning the domain types of package probity, which are
// the wire format.
//
// Every failed call returns a *Error carrying the server's status, code,
// message and offending field. errors.Is matches it against probity's
// sentinels by status:
//
//	_, err := c.GetAgent(ctx, "support-bot")
//	if errors.Is(err, probity.ErrNotFound) { … }
//
// Lists come a page at a time (ListAgents, Inventory, ListKeys, Audit,
// ListViolations); All and AllAgents follow the cursors to the end.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/probity-dev/probity"
)

// MaxResponse is the most bytes of a response body the client reads.
const MaxResponse = 32 << 20

// Client calls one Probity server with one API key. It is safe for
// concurrent use.
type Client struct {
	base string // without a trailing slash
	key  string
	hc   *http.Client
	ua   string
	log  *slog.Logger // nil for slog.Default()
	keys trustKeys    // the attestation keys GetTrustAttestation verifies with (scores.go)
}

// Option changes how a Client is built.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests through hc, for timeouts,
// proxies or custom TLS. The default is http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a Client for the server at baseURL (such as
// "http://127.0.0.1:7411") that authenticates with key.
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{
		base: strings.TrimRight(baseURL, "/"),
		key:  key,
		hc:   http.DefaultClient,
		ua:   "probity-go/" + moduleVersion(),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// moduleVersion is the version of this module as built into the program,
// or "dev" for a development build.
func moduleVersion() string {
	const path = "github.com/probity-dev/probity"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := ""
	if bi.Main.Path == path {
		v = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			v = d.Version
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}

// ListOptions select a page of a list. A zero Limit lets the server choose
// (100); Cursor is the NextCursor of the previous page, empty for the first.
type ListOptions struct {
	Limit  int
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// AuditOptions select audit entries, oldest first: an exact Action (such as
// "agent.update") and Target (such as "agent:support-bot"), either empty for
// all, and a page.
type AuditOptions struct {
	Action string
	Target string
	Limit  int
	Cursor string
}

// Page is one page of a list. NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// All yields every item of a paged list, fetching pages with list and
// following NextCursor until it is empty. It stops at the first error,
// yielding it with a zero item.
//
//	for item, err := range client.All(ctx, c.Inventory) { … }
func All[T any](ctx context.Context, list func(context.Context, ListOptions) (Page[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var opts ListOptions
		for {
			p, err := list(ctx, opts)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.Items {
				if !yield(it, nil) {
					return
				}
			}
			if p.NextCursor == "" || p.NextCursor == opts.Cursor {
				return
			}
			opts.Cursor = p.NextCursor
		}
	}
}

// agentInput is what a client may set on an agent; status and timestamps
// belong to the server, which rejects them.
type agentInput struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Description string            `json:"description,omitempty"`
	Model       probity.Model     `json:"model"`
	Endpoint    *probity.Endpoint `json:"endpoint,omitempty"`
	Access      probity.Access    `json:"access"`
	RiskTier    string            `json:"riskTier,omitempty"`
}

// CreateAgent registers a, sending only the fields a client may set (its
// Status, StatusReason and timestamps are ignored), and returns the agent as
// stored.
func (c *Client) CreateAgent(ctx context.Context, a probity.Agent) (probity.Agent, error) {
	in := agentInput{ID: a.ID, Name: a.Name, Owner: a.Owner, Description: a.Description,
		Model: a.Model, Endpoint: a.Endpoint, Access: a.Access, RiskTier: a.RiskTier}
	var out probity.Agent
	err := c.do(ctx, http.MethodPost, "/v1/agents", nil, in, &out)
	return out, err
}

// ListAgents returns a page of agents, by id.
func (c *Client) ListAgents(ctx context.Context, opts ListOptions) (Page[probity.Agent], error) {
	var out Page[probity.Agent]
	err := c.do(ctx, http.MethodGet, "/v1/agents", opts.query(), nil, &out)
	return out, err
}

// AllAgents yields every agent, following the pages.
func (c *Client) AllAgents(ctx context.Context) iter.Seq2[probity.Agent, error] {
	return All(ctx, c.ListAgents)
}

// GetAgent returns the agent id.
func (c *Client) GetAgent(ctx context.Context, id string) (probity.Agent, error) {
	var out probity.Agent
	err := c.do(ctx, http.MethodGet, agentPath(id), nil, nil, &out)
	return out, err
}

// UpdateAgent applies a JSON merge patch (RFC 7396) to the agent id: the
// fields named in patch change, a nil value removes one, nested objects
// merge. For example
//
//	c.UpdateAgent(ctx, "support-bot", map[string]any{"model": map[string]any{"version": "2025-06"}})
//
// changes only the model version, which enters the model history.
func (c *Client) UpdateAgent(ctx context.Context, id string, patch map[string]any) (probity.Agent, error) {
	var out probity.Agent
	err := c.do(ctx, http.MethodPatch, agentPath(id), nil, patch, &out)
	return out, err
}

// SuspendAgent suspends the agent id, recording why.
func (c *Client) SuspendAgent(ctx context.Context, id, reason string) (probity.Agent, error) {
	var out probity.Agent
	err := c.do(ctx, http.MethodPost, agentPath(id)+"/suspend", nil,
		map[string]string{"reason": reason}, &out)
	return out, err
}

// ReactivateAgent reactivates the suspended agent id, recording the root
// cause of the suspension and why it is safe again.
func (c *Client) ReactivateAgent(ctx context.Context, id, rootCause string) (probity.Agent, error) {
	var out probity.Agent
	err := c.do(ctx, http.MethodPost, agentPath(id)+"/reactivate", nil,
		map[string]string{"rootCause": rootCause}, &out)
	return out, err
}

// ModelHistory returns the models the agent id has run on, oldest first.
func (c *Client) ModelHistory(ctx context.Context, id string) ([]probity.ModelChange, error) {
	var out Page[probity.ModelChange]
	err := c.do(ctx, http.MethodGet, agentPath(id)+"/models", nil, nil, &out)
	return out.Items, err
}

// Inventory returns a page of the inventory: every agent with its risk,
// verification and gap, widest gap first.
func (c *Client) Inventory(ctx context.Context, opts ListOptions) (Page[probity.InventoryItem], error) {
	var out Page[probity.InventoryItem]
	err := c.do(ctx, http.MethodGet, "/v1/inventory", opts.query(), nil, &out)
	return out, err
}

// CreateKey makes an API key in the caller's org. It returns the secret,
// which the server shows this once, and the key's stored form.
func (c *Client) CreateKey(ctx context.Context, name string, scopes []probity.Scope) (string, probity.APIKey, error) {
	var out struct {
		probity.APIKey
		Key string `json:"key"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/api-keys", nil, map[string]any{"name": name, "scopes": scopes}, &out)
	return out.Key, out.APIKey, err
}

// ListKeys returns a page of the org's API keys, revoked ones included.
func (c *Client) ListKeys(ctx context.Context, opts ListOptions) (Page[probity.APIKey], error) {
	var out Page[probity.APIKey]
	err := c.do(ctx, http.MethodGet, "/v1/api-keys", opts.query(), nil, &out)
	return out, err
}

// RevokeKey revokes the key id and returns it as revoked.
func (c *Client) RevokeKey(ctx context.Context, id string) (probity.APIKey, error) {
	var out probity.APIKey
	err := c.do(ctx, http.MethodPost, "/v1/api-keys/"+segment(id)+"/revoke", nil, struct{}{}, &out)
	return out, err
}

// Audit returns a page of the org's audit log, oldest first.
func (c *Client) Audit(ctx context.Context, opts AuditOptions) (Page[probity.AuditEntry], error) {
	q := ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}.query()
	if opts.Action != "" {
		q.Set("action", opts.Action)
	}
	if opts.Target != "" {
		q.Set("target", opts.Target)
	}
	var out Page[probity.AuditEntry]
	err := c.do(ctx, http.MethodGet, "/v1/audit", q, nil, &out)
	return out, err
}

func agentPath(id string) string { return "/v1/agents/" + segment(id) }

// segment escapes id as one path segment. Dots are escaped too, so that an
// id such as ".." (which the server rejects) can never walk the URL path.
func segment(id string) string {
	return strings.ReplaceAll(url.PathEscape(id), ".", "%2E")
}

// do sends one request with body (if not nil) as JSON and decodes a 2xx
// answer into out; any other answer becomes an *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	contentType := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
		contentType = "application/json"
		if method == http.MethodPatch {
			contentType = "application/merge-patch+json"
		}
	}
	_, err := c.send(ctx, method, u, path, contentType, rd, out)
	return err
}

// send sends one request to u (path is for messages) with body of type
// contentType (none when empty) and decodes a 2xx answer into out, returning
// its status; any other answer becomes an *Error.
func (c *Client) send(ctx context.Context, method, u, path, contentType string, body io.Reader, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return 0, fmt.Errorf("%s %s: reading response: %w", method, path, err)
	}
	if len(b) > MaxResponse {
		return 0, fmt.Errorf("%s %s: response is larger than %d bytes", method, path, MaxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errorOf(resp, b)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decoding response: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// Error is a failed call as the server explained it.
type Error struct {
	Status  int    // HTTP status code
	Code    string // such as "not_found" or "invalid_argument"
	Message string
	Field   string // JSON path of the offending field, if any, such as "model.version"
	// RetryAfter is how long to wait before trying again, from the
	// Retry-After header of a 429 (or 503) answer; zero if none.
	RetryAfter time.Duration
	// Details lists every problem when the server found several: each
	// invalid event of a batch (400), each compile error of a pact (422).
	Details []Detail
}

// Detail is one problem of a rejected request. Index is the event's place in
// a batch (events only); Line and Column are 1-based positions in a pact
// source (pacts only, 0 when unknown); Field is the offending field's path.
type Detail struct {
	Index   int    `json:"index,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Error reads "code: field: message", such as
// "invalid_argument: riskTier: must be one of low, medium, high, critical".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is matches probity's sentinels by status: 404 is ErrNotFound, 400, 413 and
// 422 are ErrInvalid, 409 is ErrConflict and 403 is ErrForbidden.
func (e *Error) Is(target error) bool {
	switch target {
	case probity.ErrNotFound:
		return e.Status == http.StatusNotFound
	case probity.ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge ||
			e.Status == http.StatusUnprocessableEntity
	case probity.ErrConflict:
		return e.Status == http.StatusConflict
	case probity.ErrForbidden:
		return e.Status == http.StatusForbidden
	}
	return false
}

// errorOf builds an *Error from a non-2xx answer. A body that is not the
// API's error JSON (say, from a proxy) gives a short excerpt as the message.
func errorOf(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var wire struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Field   string          `json:"field"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &wire); err == nil && wire.Error.Code != "" {
		e.Code, e.Message, e.Field = wire.Error.Code, wire.Error.Message, wire.Error.Field
		// Details of an unknown shape are left out rather than losing the rest.
		if json.Unmarshal(wire.Error.Details, &e.Details) != nil {
			e.Details = nil
		}
	} else {
		e.Message = excerpt(body)
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(0, time.Until(t))
		}
	}
	return e
}

// excerpt is the first line of a foreign error body, at most 200 bytes,
// with control characters removed.
func excerpt(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
