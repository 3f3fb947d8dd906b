package api_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/probity-dev/probity/ledger"
)

// TestLedgerEndpoints checks every ledger answer with the public ledger
// package alone, as an outside verifier would.
func TestLedgerEndpoints(t *testing.T) {
	f := newFixture(t)
	var keys struct {
		Ledger struct{ Origin, VerifierKey string }
	}
	json.Unmarshal(f.must200raw("GET", "/v1/keys", f.read), &keys)
	if keys.Ledger.VerifierKey == "" {
		t.Fatal("no verifier key in /v1/keys")
	}
	var otherKeys struct {
		Ledger struct{ Origin, VerifierKey string }
	}
	json.Unmarshal(f.must200raw("GET", "/v1/keys", f.otherAdmin), &otherKeys)
	if otherKeys.Ledger.Origin == keys.Ledger.Origin {
		t.Errorf("two orgs share the origin %q", keys.Ledger.Origin)
	}

	open := func() ledger.Checkpoint {
		t.Helper()
		cp, err := ledger.OpenCheckpoint(f.must200raw("GET", "/v1/ledger/checkpoint", f.read), keys.Ledger.VerifierKey)
		if err != nil {
			t.Fatalf("checkpoint does not verify: %v", err)
		}
		return cp
	}
	before := open() // the fixture's admin actions are leaves already
	if before.Size == 0 || before.Origin != keys.Ledger.Origin {
		t.Fatalf("first checkpoint: got %+v", before)
	}

	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var events []string
	for i := range 25 {
		events = append(events, event(fmt.Sprintf("l-%d", i), f.agentID, "model_output", at.Add(time.Duration(i)*time.Second), `"content":"answer"`))
	}
	f.must(200, "POST", "/v1/events", f.ingest, batch(events...))
	after := open()
	if after.Size != before.Size+25 {
		t.Fatalf("size after 25 records: got %d, want %d", after.Size, before.Size+25)
	}

	var cons ledger.ConsistencyProof
	json.Unmarshal(f.must200raw("GET", fmt.Sprintf("/v1/ledger/consistency?from=%d&to=%d", before.Size, after.Size), f.read), &cons)
	if err := ledger.VerifyConsistency(cons, before, after); err != nil {
		t.Errorf("consistency proof: %v", err)
	}

	var proof ledger.InclusionProof
	json.Unmarshal(f.must200raw("GET", "/v1/ledger/proof?recordId=l-7", f.read), &proof)
	entry := f.must200raw("GET", fmt.Sprintf("/v1/ledger/entries/%d", proof.Index), f.read)
	if err := ledger.VerifyInclusion(proof, entry, after); err != nil {
		t.Errorf("inclusion of record l-7: %v", err)
	}
	var leaf struct {
		Kind   string
		Record struct{ ID string }
	}
	if json.Unmarshal(entry, &leaf); leaf.Kind != "record" || leaf.Record.ID != "l-7" {
		t.Errorf("entry %d: got %s, want record l-7", proof.Index, entry)
	}
	// A range of entries holds each entry's exact bytes.
	var rng struct {
		From    int64
		Entries []json.RawMessage
	}
	if err := json.Unmarshal(f.must200raw("GET", fmt.Sprintf("/v1/ledger/entries?from=%d&limit=3", proof.Index-1), f.read), &rng); err != nil {
		t.Fatal(err)
	}
	if len(rng.Entries) != 3 || string(rng.Entries[1]) != string(entry) {
		t.Errorf("range around %d: got %d entries, middle %s, want %s", proof.Index, len(rng.Entries), rng.Entries[1], entry)
	}
	json.Unmarshal(f.must200raw("GET", fmt.Sprintf("/v1/ledger/entries?from=%d", after.Size-2), f.read), &rng)
	if len(rng.Entries) != 2 {
		t.Errorf("range at the end: got %d entries, want 2", len(rng.Entries))
	}
	// A proof against an older tree size verifies against that checkpoint.
	var old ledger.InclusionProof
	json.Unmarshal(f.must200raw("GET", fmt.Sprintf("/v1/ledger/proof?index=0&size=%d", before.Size), f.read), &old)
	first := f.must200raw("GET", "/v1/ledger/entries/0", f.read)
	if err := ledger.VerifyInclusion(old, first, before); err != nil {
		t.Errorf("inclusion of entry 0 at size %d: %v", before.Size, err)
	}
	// The other org's ledger is its own.
	other, err := ledger.OpenCheckpoint(f.must200raw("GET", "/v1/ledger/checkpoint", f.otherAdmin), otherKeys.Ledger.VerifierKey)
	if err != nil || other.Size >= after.Size {
		t.Errorf("other org's checkpoint: got %+v, %v", other, err)
	}

	for _, bad := range []struct {
		path   string
		status int
		field  string
	}{
		{"/v1/ledger/entries/999999", 404, ""},
		{"/v1/ledger/entries/-1", 400, "index"},
		{"/v1/ledger/proof?index=1&recordId=l-1", 400, "index"},
		{"/v1/ledger/proof", 400, "index"},
		{"/v1/ledger/proof?recordId=nope", 404, ""},
		{fmt.Sprintf("/v1/ledger/proof?index=%d&size=%d", after.Size, after.Size), 400, "index"},
		{fmt.Sprintf("/v1/ledger/proof?index=0&size=%d", after.Size+1), 400, "size"},
		{"/v1/ledger/consistency?from=5", 400, "to"},
		{"/v1/ledger/entries", 400, "from"},
		{"/v1/ledger/entries?from=0&limit=5000", 400, "limit"},
		{fmt.Sprintf("/v1/ledger/entries?from=%d", after.Size+1), 400, "from"},
		{"/v1/ledger/consistency?from=9&to=3", 400, "from"},
		{fmt.Sprintf("/v1/ledger/consistency?from=1&to=%d", after.Size+5), 400, "to"},
		{"/v1/ledger/consistency?from=x&to=3", 400, "from"},
	} {
		r := f.do("GET", bad.path, f.read, nil)
		if r.status != bad.status {
			t.Errorf("%s: got %d, want %d: %s", bad.path, r.status, bad.status, r.body)
			continue
		}
		if _, field := r.errorOf(t); field != bad.field {
			t.Errorf("%s: got field %q, want %q", bad.path, field, bad.field)
		}
	}
}

func (c client) must200raw(method, path, key string) []byte {
	c.t.Helper()
	r := c.do(method, path, key, nil)
	if r.status != 200 {
		c.t.Fatalf("%s %s: got %d: %s", method, path, r.status, r.body)
	}
	return r.body
}
