package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/ledger"
)

func TestLedgerSQLite(t *testing.T) {
	ledgerMethods(t, apptest.Start(t))
}

func TestLedgerPostgres(t *testing.T) {
	ledgerMethods(t, apptest.Start(t, apptest.WithPostgres(pgtest.TempDSN(t))))
}

// postEvents ingests n model_output records named prefix-0 … prefix-(n-1)
// for agent; the SDK has no ingest method yet.
func postEvents(t *testing.T, env *apptest.Env, agent, prefix string, n int) {
	t.Helper()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var events []map[string]any
	for i := range n {
		events = append(events, map[string]any{"id": fmt.Sprintf("%s-%d", prefix, i), "agentId": agent, "sessionId": "s1",
			"time": at.Add(time.Duration(i) * time.Second), "type": "model_output", "content": fmt.Sprintf("answer %d", i)})
	}
	body, _ := json.Marshal(map[string]any{"events": events})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", env.URL+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+env.AdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/events: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/events: got status %d, want 200", resp.StatusCode)
	}
}

// ledgerMethods calls every ledger method and verifies each answer with
// package ledger alone, as an outside verifier would.
func ledgerMethods(t *testing.T, env *apptest.Env) {
	ctx := t.Context()
	c := client.New(env.URL, env.AdminKey)
	if _, err := c.CreateAgent(ctx, probity.Agent{ID: "bot"}); err != nil {
		t.Fatal(err)
	}

	keys, err := c.Keys(ctx)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if !strings.HasPrefix(keys.Ledger.Origin, "probity/default/") || !strings.HasPrefix(keys.Ledger.VerifierKey, keys.Ledger.Origin+"+") {
		t.Fatalf("Keys: got %+v, want the ledger of org default and its key", keys.Ledger)
	}
	if keys.Attestation == nil {
		t.Errorf("Keys: attestation is nil, want a list")
	}
	vkey := keys.Ledger.VerifierKey

	open := func() ([]byte, ledger.Checkpoint) {
		t.Helper()
		signed, err := c.Checkpoint(ctx)
		if err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		cp, err := ledger.OpenCheckpoint(signed, vkey)
		if err != nil {
			t.Fatalf("Checkpoint does not verify: %v\n%s", err, signed)
		}
		return signed, cp
	}
	_, before := open()
	if before.Size == 0 {
		t.Fatalf("first checkpoint: got size 0, want the audit entries")
	}
	postEvents(t, env, "bot", "r", 10)
	_, after := open()
	if after.Size != before.Size+10 {
		t.Fatalf("checkpoint after 10 records: got size %d, want %d", after.Size, before.Size+10)
	}

	cons, err := c.ConsistencyProof(ctx, before.Size, after.Size)
	if err != nil {
		t.Fatalf("ConsistencyProof: %v", err)
	}
	if err := ledger.VerifyConsistency(cons, before, after); err != nil {
		t.Errorf("ConsistencyProof %d→%d: %v", before.Size, after.Size, err)
	}

	for _, size := range []int64{0, after.Size} {
		p, err := c.RecordProof(ctx, "r-3", size)
		if err != nil {
			t.Fatalf("RecordProof size %d: %v", size, err)
		}
		entry, err := c.Entry(ctx, p.Index)
		if err != nil {
			t.Fatalf("Entry %d: %v", p.Index, err)
		}
		if err := ledger.VerifyInclusion(p, entry, after); err != nil {
			t.Errorf("RecordProof size %d: %v", size, err)
		}
		if !bytes.Contains(entry, []byte(`"id":"r-3"`)) {
			t.Errorf("Entry %d: got %s, want record r-3", p.Index, entry)
		}
	}
	p, err := c.InclusionProof(ctx, 0, before.Size)
	if err != nil {
		t.Fatalf("InclusionProof: %v", err)
	}
	first, err := c.Entry(ctx, 0)
	if err != nil {
		t.Fatalf("Entry 0: %v", err)
	}
	if err := ledger.VerifyInclusion(p, first, before); err != nil {
		t.Errorf("InclusionProof of entry 0 at size %d: %v", before.Size, err)
	}
	if p, err := c.InclusionProof(ctx, 0, 0); err != nil || p.Size != after.Size {
		t.Errorf("InclusionProof with size 0: got size %d, %v; want the latest, %d", p.Size, err, after.Size)
	}

	// Entries yields exactly the entries the checkpoint signs.
	signed, cp := open()
	dir := t.TempDir() + "/export"
	if err := ledger.WriteExport(dir, signed, vkey, c.Entries(ctx, 0, cp.Size)); err != nil {
		t.Fatalf("WriteExport from Entries: %v", err)
	}
	if r, err := ledger.VerifyExport(dir, vkey); err != nil || r.Entries != cp.Size {
		t.Errorf("VerifyExport: got %+v, %v; want %d entries", r, err, cp.Size)
	}
	n := 0
	for b, err := range c.Entries(ctx, 2, 5) {
		if err != nil || len(b) == 0 {
			t.Fatalf("Entries 2-5: got %q, %v", b, err)
		}
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("Entries with break: got %d entries, want 2", n)
	}
	var errs []error
	for b, err := range c.Entries(ctx, cp.Size-1, cp.Size+3) {
		if err != nil {
			errs = append(errs, err)
		} else if b == nil {
			t.Errorf("Entries: nil entry with no error")
		}
	}
	if len(errs) != 1 || !errors.Is(errs[0], probity.ErrNotFound) {
		t.Errorf("Entries past the end: got errors %v, want one not found, then the end", errs)
	}

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"Entry past the end", second(c.Entry(ctx, cp.Size)), probity.ErrNotFound},
		{"RecordProof of no record", second(c.RecordProof(ctx, "nope", 0)), probity.ErrNotFound},
		{"InclusionProof of index = size", second(c.InclusionProof(ctx, cp.Size, cp.Size)), probity.ErrInvalid},
		{"InclusionProof past the log", second(c.InclusionProof(ctx, 0, cp.Size+1)), probity.ErrInvalid},
		{"ConsistencyProof backwards", second(c.ConsistencyProof(ctx, 3, 2)), probity.ErrInvalid},
		{"Checkpoint with a bad key", second(client.New(env.URL, "pb_nope").Checkpoint(ctx)), nil},
	} {
		var ce *client.Error
		switch {
		case !errors.As(tc.err, &ce):
			t.Errorf("%s: got %v, want a *client.Error", tc.name, tc.err)
		case tc.want != nil && !errors.Is(tc.err, tc.want):
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		case tc.want == nil && ce.Status != http.StatusUnauthorized:
			t.Errorf("%s: got %v, want 401", tc.name, tc.err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// cancelOn429 cancels a context when the server answers 429.
type cancelOn429 struct {
	cancel func()
	n      int
}

func (c *cancelOn429) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.n++
		c.cancel()
	}
	return resp, err
}

// Entries waits out rate limiting as the server says (Retry-After), and
// stops waiting when the context ends.
func TestEntriesRateLimited(t *testing.T) {
	// Two requests a second, no burst: a request right after another is
	// told to come back in a second. (A new ledger has one entry.)
	env := apptest.Start(t, func(c *app.Config) { c.API.RateLimit, c.API.RateBurst = 2, 1 })
	c := client.New(env.URL, env.AdminKey)
	first, err := c.Entry(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for b, err := range c.Entries(t.Context(), 0, 1) {
		if err != nil {
			t.Fatalf("Entries: %v", err)
		}
		got = append(got, b)
	}
	if len(got) != 1 || !bytes.Equal(got[0], first) {
		t.Errorf("Entries 0-1 rate-limited: got %q, want %q", got, first)
	}

	slow := apptest.Start(t, func(c *app.Config) { c.API.RateLimit, c.API.RateBurst = 0.001, 1 })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rt := &cancelOn429{cancel: cancel}
	c = client.New(slow.URL, slow.AdminKey, client.WithHTTPClient(&http.Client{Transport: rt}))
	if _, err := c.Entry(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var errs []error
	n := 0
	for _, err := range c.Entries(ctx, 0, 1) {
		if err != nil {
			errs = append(errs, err)
		} else {
			n++
		}
	}
	if n != 0 || len(errs) != 1 || !errors.Is(errs[0], context.Canceled) || rt.n != 1 {
		t.Errorf("Entries canceled while rate-limited: got %d entries, errors %v after %d 429s; want none, then context.Canceled after one 429", n, errs, rt.n)
	}
}
