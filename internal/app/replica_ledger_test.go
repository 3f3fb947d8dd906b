package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/ledger"
)

// TestReplicasShareOneLedger ingests into one org through two replicas at
// once: the result is one ledger with no fork, no gap and no index used
// twice, and both replicas sign the same checkpoint.
func TestReplicasShareOneLedger(t *testing.T) {
	dsn := pgtest.TempDSN(t)
	envA := apptest.Start(t, apptest.WithPostgres(dsn))
	envB := apptest.Start(t, apptest.WithPostgres(dsn))
	a := api{t, envA.URL, envA.AdminKey}
	b := api{t, envB.URL, envA.AdminKey}
	a.must("POST", "/v1/agents", `{"id":"crash-bot"}`)

	const perReplica = 8
	var wg sync.WaitGroup
	for r, node := range []api{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perReplica {
				body, _ := crashBatch(r*100 + n)
				// Every other batch is sent to both replicas at once: the
				// same ids race, and must be stored once.
				if code, out, err := node.call("POST", "/v1/events", body); err != nil || code != 200 {
					t.Errorf("replica %d batch %d: %d %v %s", r, n, code, err, out)
				}
				if n%2 == 0 {
					other, _ := crashBatch((1-r)*100 + n)
					_, out, err := node.call("POST", "/v1/events", other)
					if err != nil || strings.Contains(string(out), `"conflicts":1`) || !strings.Contains(string(out), `"conflicts":0`) {
						t.Errorf("replica %d resending batch %d: %v %s, want no conflicts", r, n, err, out)
					}
				}
			}
		}()
	}
	wg.Wait()

	var keys struct{ Ledger struct{ VerifierKey string } }
	json.Unmarshal(a.must("GET", "/v1/keys", ""), &keys)
	cpA, err := ledger.OpenCheckpoint(a.must("GET", "/v1/ledger/checkpoint", ""), keys.Ledger.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	cpB, err := ledger.OpenCheckpoint(b.must("GET", "/v1/ledger/checkpoint", ""), keys.Ledger.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	if cpA != cpB {
		t.Fatalf("replicas disagree: %+v vs %+v", cpA, cpB)
	}
	// Rebuild the tree from every entry: the root must match, and every
	// record must appear once.
	var hashes []tlog.Hash
	read := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			out[i] = hashes[x]
		}
		return out, nil
	})
	records := map[string]int{}
	for i := range cpA.Size {
		entry := b.must("GET", fmt.Sprintf("/v1/ledger/entries/%d", i), "")
		hs, err := tlog.StoredHashes(i, entry, read)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
		var leaf struct {
			Kind   string
			Record struct{ ID string }
		}
		json.Unmarshal(entry, &leaf)
		if leaf.Kind == "record" {
			records[leaf.Record.ID]++
		}
	}
	root, err := tlog.TreeHash(cpA.Size, read)
	if err != nil || root != cpA.Hash {
		t.Fatalf("rebuilt root %v, checkpoint %v (%v)", root, cpA.Hash, err)
	}
	if want := 2 * perReplica * 200; len(records) != want {
		t.Errorf("distinct records in the ledger: got %d, want %d", len(records), want)
	}
	for id, n := range records {
		if n != 1 {
			t.Errorf("record %s is in the ledger %d times", id, n)
		}
	}
	var audit struct{ Items []json.RawMessage }
	json.Unmarshal(a.must("GET", "/v1/audit?limit=1000", ""), &audit)
	if int(cpA.Size) != len(records)+len(audit.Items) {
		t.Errorf("ledger size %d, want %d records + %d audit entries", cpA.Size, len(records), len(audit.Items))
	}
}
