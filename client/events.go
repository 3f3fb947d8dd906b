package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Limits of one SendEvents batch, as the server enforces them.
const (
	MaxBatchEvents = 10000
	MaxBatchBytes  = 10 << 20 // of the whole request body
)

// IngestResult is what the server did with a batch of events.
type IngestResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"` // ids already stored with the same content
	// Conflicts counts events whose id was already taken by a record with
	// other content: they were not stored, the first record stands.
	Conflicts   int      `json:"conflicts"`
	ConflictIDs []string `json:"conflictIds,omitempty"` // the first few
	// Violations are those the accepted records committed, already stored.
	Violations []Violation `json:"violations"`
}

// SendEvents stores a batch of records (each one JSON object as package
// record describes it), all or nothing. Retrying a batch is safe: records
// already stored count as Duplicates. The body is the events joined with
// commas and 13 bytes around them, so a batch whose events add up to less
// than MaxBatchBytes-13 bytes, a comma each, fits.
//
// A batch with invalid events is an *Error with status 400 whose Details
// list each problem with the event's Index in events; nothing was stored.
func (c *Client) SendEvents(ctx context.Context, events []json.RawMessage) (IngestResult, error) {
	const path = "/v1/events"
	// Compacted, not marshalled: json.Marshal would escape <, > and & in
	// content, and a batch sized to fit MaxBatchBytes could outgrow it.
	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	for i, ev := range events {
		if i > 0 {
			body.WriteByte(',')
		}
		if err := json.Compact(&body, ev); err != nil {
			return IngestResult{}, fmt.Errorf("POST %s: event %d: %w", path, i, err)
		}
	}
	body.WriteString("]}")
	var out IngestResult
	_, err := c.send(ctx, http.MethodPost, c.base+path, path, "application/json", &body, &out)
	return out, err
}
