package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PactVersion is one immutable version of a pact as the server stores it.
// Source (the document as posted) and Canonical (the canonical JSON its
// Digest covers) are filled only by GetPact and GetPactVersion.
type PactVersion struct {
	ID          string          `json:"id"`
	Version     int             `json:"version"`
	Digest      string          `json:"digest"` // "sha256:<hex>" over Canonical
	Agents      []string        `json:"agents"`
	CreatedAt   time.Time       `json:"createdAt"`
	CreatedBy   string          `json:"createdBy,omitempty"`
	LedgerIndex int64           `json:"ledgerIndex"`
	Source      string          `json:"source,omitempty"`
	Canonical   json.RawMessage `json:"canonical,omitempty"`
}

// PactDiff compares two versions of a pact: Diff holds the changed lines of
// their indented canonical JSON, marked "- " and "+ ", with a little context
// marked "  " and "@@ ... @@" where unchanged lines are left out. Equal
// versions give an empty Diff.
type PactDiff struct {
	ID         string `json:"id"`
	From       int    `json:"from"`
	To         int    `json:"to"`
	FromDigest string `json:"fromDigest"`
	ToDigest   string `json:"toDigest"`
	Diff       string `json:"diff"`
}

// Media types for ApplyPact.
const (
	PactYAML = "application/yaml"
	PactJSON = "application/json"
)

// ApplyPact posts a pact source (YAML or JSON, as contentType says: PactYAML
// or PactJSON) and returns the version it is stored as. created is true when
// the content was new (a first version or version n+1), false when the
// latest version already had the same digest.
//
// A pact that does not compile is an *Error with status 422 whose Details
// list every problem with its line and column; a pact naming an agent bound
// to another pact is a 409 (probity.ErrConflict).
func (c *Client) ApplyPact(ctx context.Context, src []byte, contentType string) (v PactVersion, created bool, err error) {
	const path = "/v1/pacts"
	status, err := c.send(ctx, http.MethodPost, c.base+path, path, contentType, bytes.NewReader(src), &v)
	return v, status == http.StatusCreated, err
}

// ListPacts returns a page of the org's pacts, by id, each at its latest
// version.
func (c *Client) ListPacts(ctx context.Context, opts ListOptions) (Page[PactVersion], error) {
	var out Page[PactVersion]
	err := c.do(ctx, http.MethodGet, "/v1/pacts", opts.query(), nil, &out)
	return out, err
}

// GetPact returns the latest version of the pact id, with its source.
func (c *Client) GetPact(ctx context.Context, id string) (PactVersion, error) {
	var out PactVersion
	err := c.do(ctx, http.MethodGet, pactPath(id), nil, nil, &out)
	return out, err
}

// GetPactVersion returns version n of the pact id, with its source.
func (c *Client) GetPactVersion(ctx context.Context, id string, n int) (PactVersion, error) {
	var out PactVersion
	err := c.do(ctx, http.MethodGet, pactPath(id)+"/versions/"+strconv.Itoa(n), nil, nil, &out)
	return out, err
}

// PactDiff compares versions from and to of the pact id. A zero to is the
// latest version and a zero from the version before to.
func (c *Client) PactDiff(ctx context.Context, id string, from, to int) (PactDiff, error) {
	q := url.Values{}
	if from != 0 {
		q.Set("from", strconv.Itoa(from))
	}
	if to != 0 {
		q.Set("to", strconv.Itoa(to))
	}
	var out PactDiff
	err := c.do(ctx, http.MethodGet, pactPath(id)+"/diff", q, nil, &out)
	return out, err
}

func pactPath(id string) string { return "/v1/pacts/" + segment(id) }
