package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/probity-dev/probity"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/probity-dev/probity/ledger"
)

// The ledger methods return what the server says, unverified. A caller
// verifies with package ledger and a verifier key it got from somewhere it
// trusts, never from the same answer (see docs/ledger.md):
//
//	signed, _ := c.Checkpoint(ctx)
//	cp, err := ledger.OpenCheckpoint(signed, pinnedKey)
//	p, _ := c.RecordProof(ctx, "evt-1", cp.Size)
//	entry, _ := c.Entry(ctx, p.Index)
//	err = ledger.VerifyInclusion(p, entry, cp)

// Keys is GET /v1/keys: the public keys a verifier needs.
type Keys struct {
	Ledger      LedgerKey        `json:"ledger"`
	Attestation []AttestationKey `json:"attestation"`
}

// LedgerKey names the org's ledger and the note verifier key that signs its
// checkpoints.
type LedgerKey struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifierKey"`
}

// AttestationKey is one key that signs (or signed) the org's attestations.
type AttestationKey struct {
	KeyID     string `json:"keyid"`
	Algorithm string `json:"algorithm"` // "ed25519"
	PublicKey []byte `json:"publicKey"` // the 32 raw bytes of an Ed25519 key
	Status    string `json:"status"`    // "active" or "retired"
}

// Keys returns the org's public keys.
func (c *Client) Keys(ctx context.Context) (Keys, error) {
	var out Keys
	err := c.do(ctx, http.MethodGet, "/v1/keys", nil, nil, &out)
	return out, err
}

// Checkpoint returns the latest signed checkpoint of the org's ledger,
// exactly the signed note the server sent; ledger.OpenCheckpoint opens it.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.raw(ctx, "/v1/ledger/checkpoint", "text/plain")
}

// Entry returns the exact bytes of ledger entry index, as they were hashed.
func (c *Client) Entry(ctx context.Context, index int64) ([]byte, error) {
	return c.raw(ctx, "/v1/ledger/entries/"+strconv.FormatInt(index, 10), "application/json")
}

// EntryRange returns up to limit entries from index from, each its exact
// bytes (GET /v1/ledger/entries, at most 1,000 a request).
func (c *Client) EntryRange(ctx context.Context, from int64, limit int) ([][]byte, error) {
	b, err := c.raw(ctx, fmt.Sprintf("/v1/ledger/entries?from=%d&limit=%d", from, limit), "application/json")
	if err != nil {
		return nil, err
	}
	var out struct {
		From    int64             `json:"from"`
		Entries []json.RawMessage `json:"entries"` // RawMessage keeps each entry's bytes as sent
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("GET /v1/ledger/entries: %w", err)
	}
	if out.From != from {
		return nil, fmt.Errorf("GET /v1/ledger/entries: asked from %d, got from %d", from, out.From)
	}
	entries := make([][]byte, len(out.Entries))
	for i, e := range out.Entries {
		entries[i] = e
	}
	return entries, nil
}

// Entries yields the ledger's entries from index from up to, not including,
// index to, in order, fetched 1,000 at a time. When the server rate-limits
// the key (429 with Retry-After), it waits as told and asks again, up to
// maxRateLimited times in a row. It stops at the first other error,
// yielding it with nil bytes.
func (c *Client) Entries(ctx context.Context, from, to int64) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		limited := 0
		for i := from; i < to; {
			batch, err := c.EntryRange(ctx, i, int(min(to-i, 1000)))
			var e *Error
			if errors.As(err, &e) && e.Status == http.StatusTooManyRequests && e.RetryAfter > 0 && limited < maxRateLimited {
				limited++
				t := time.NewTimer(e.RetryAfter)
				select {
				case <-t.C:
					continue
				case <-ctx.Done():
					t.Stop()
					yield(nil, fmt.Errorf("GET /v1/ledger/entries?from=%d: %w", i, ctx.Err()))
					return
				}
			}
			limited = 0
			if err == nil && len(batch) == 0 {
				err = fmt.Errorf("GET /v1/ledger/entries?from=%d: the ledger ends before %d: %w", i, to, probity.ErrNotFound)
			}
			if err != nil {
				yield(nil, err)
				return
			}
			for _, b := range batch {
				if !yield(b, nil) {
					return
				}
				i++
				if i == to {
					return
				}
			}
		}
	}
}

// maxRateLimited is how many 429 answers in a row Entries waits out.
const maxRateLimited = 10

// InclusionProof returns the proof that entry index is in the tree of size
// entries; size 0 asks for the latest checkpoint's size.
func (c *Client) InclusionProof(ctx context.Context, index, size int64) (ledger.InclusionProof, error) {
	q := url.Values{"index": {strconv.FormatInt(index, 10)}}
	return c.proof(ctx, q, size)
}

// RecordProof returns the inclusion proof of the record recordID (its
// ledger entry) in the tree of size entries; size 0 asks for the latest
// checkpoint's size. The proof's Index is the record's ledger index.
func (c *Client) RecordProof(ctx context.Context, recordID string, size int64) (ledger.InclusionProof, error) {
	return c.proof(ctx, url.Values{"recordId": {recordID}}, size)
}

func (c *Client) proof(ctx context.Context, q url.Values, size int64) (ledger.InclusionProof, error) {
	if size > 0 {
		q.Set("size", strconv.FormatInt(size, 10))
	}
	var out ledger.InclusionProof
	err := c.do(ctx, http.MethodGet, "/v1/ledger/proof", q, nil, &out)
	return out, err
}

// ConsistencyProof returns the proof that the tree of to entries extends
// the tree of from entries.
func (c *Client) ConsistencyProof(ctx context.Context, from, to int64) (ledger.ConsistencyProof, error) {
	q := url.Values{"from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)}}
	var out ledger.ConsistencyProof
	err := c.do(ctx, http.MethodGet, "/v1/ledger/consistency", q, nil, &out)
	return out, err
}

// raw GETs path and returns the 2xx body exactly as sent; any other answer
// becomes an *Error.
func (c *Client) raw(ctx context.Context, path, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading response: %w", path, err)
	}
	if len(b) > MaxResponse {
		return nil, fmt.Errorf("GET %s: response is larger than %d bytes", path, MaxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, errorOf(resp, b)
	}
	return b, nil
}
