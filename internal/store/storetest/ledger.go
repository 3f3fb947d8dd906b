package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var ledgerTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"LedgerAppend", testLedgerAppend},
	{"LedgerConcurrentAppends", testLedgerConcurrent},
	{"LedgerKeyAndCheckpoints", testLedgerKey},
	{"AuditIsALeaf", testAuditLeaf},
	{"Records", testRecords},
	{"RecordDays", testRecordDays},
}

func leaves(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"kind":"test","n":%d}`, from+i)
	}
	return out
}

// rootOf recomputes the tree hash of entries the plain tlog way.
func rootOf(t *testing.T, entries [][]byte) tlog.Hash {
	t.Helper()
	var hashes []tlog.Hash
	r := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, r)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}
	h, err := tlog.TreeHash(int64(len(entries)), r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testLedgerAppend(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	var all [][]byte
	for _, n := range []int{1, 3, 600, 2} { // 600 crosses the drivers' insert chunking
		batch := leaves(len(all), n)
		update(t, s, func(tx store.Tx) error {
			first, err := store.AppendLedger(ctx, tx, "o1", batch)
			if err != nil {
				return err
			}
			if first != int64(len(all)) {
				t.Errorf("first index: got %d, want %d", first, len(all))
			}
			return nil
		})
		all = append(all, batch...)
	}
	update(t, s, func(tx store.Tx) error { _, err := store.AppendLedger(ctx, tx, "o2", leaves(0, 5)); return err })
	view(t, s, func(tx store.Tx) error {
		size, err := tx.LedgerSize(ctx, "o1")
		if err != nil {
			return err
		}
		if size != int64(len(all)) {
			t.Fatalf("ledger size: got %d, want %d", size, len(all))
		}
		got, err := tlog.TreeHash(size, store.HashReader(ctx, tx, "o1"))
		if err != nil {
			return err
		}
		if want := rootOf(t, all); got != want {
			t.Errorf("tree hash from stored hashes: got %v, want %v", got, want)
		}
		entries, err := tx.LedgerEntries(ctx, "o1", 2, 3)
		if err != nil {
			return err
		}
		if len(entries) != 3 || string(entries[0]) != string(all[2]) || string(entries[2]) != string(all[4]) {
			t.Errorf("entries 2..4: got %q", entries)
		}
		if o2, _ := tx.LedgerSize(ctx, "o2"); o2 != 5 {
			t.Errorf("o2 ledger size: got %d, want 5 (ledgers are per org)", o2)
		}
		return nil
	})
	// A failed transaction leaves no leaf behind.
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := store.AppendLedger(ctx, tx, "o1", leaves(0, 4)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	view(t, s, func(tx store.Tx) error {
		if size, _ := tx.LedgerSize(ctx, "o1"); size != int64(len(all)) {
			t.Errorf("size after a rolled-back append: got %d, want %d", size, len(all))
		}
		return nil
	})
}

// testLedgerConcurrent appends from many goroutines: the result must be one
// consistent log with no gap and no duplicate index.
func testLedgerConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	const workers, each = 6, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firsts []int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.Update(ctx, func(tx store.Tx) error {
					first, err := store.AppendLedger(ctx, tx, "o1", leaves(w*1000+i*10, 3))
					mu.Lock()
					firsts = append(firsts, first)
					mu.Unlock()
					return err
				})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx store.Tx) error {
		size, _ := tx.LedgerSize(ctx, "o1")
		if size != workers*each*3 {
			t.Fatalf("size: got %d, want %d", size, workers*each*3)
		}
		entries, err := tx.LedgerEntries(ctx, "o1", 0, int(size))
		if err != nil {
			return err
		}
		got, err := tlog.TreeHash(size, store.HashReader(ctx, tx, "o1"))
		if err != nil {
			return err
		}
		if want := rootOf(t, entries); got != want {
			t.Errorf("concurrent appends: stored tree hash %v, recomputed %v", got, want)
		}
		return nil
	})
}

func testLedgerKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	err := s.View(ctx, func(tx store.Tx) error { _, err := tx.LedgerKey(ctx, "o1"); return err })
	wantErr(t, err, probity.ErrNotFound, "ledger key of a new org")
	k := store.LedgerKey{Origin: "probity/o1/abc", Signer: "PRIVATE+KEY+x", Verifier: "x+1+y"}
	update(t, s, func(tx store.Tx) error { return tx.SetLedgerKey(ctx, "o1", k) })
	// A second key never replaces the first: checkpoints stay verifiable.
	update(t, s, func(tx store.Tx) error {
		return tx.SetLedgerKey(ctx, "o1", store.LedgerKey{Origin: "probity/o1/other", Signer: "s2", Verifier: "v2"})
	})
	err = s.Update(ctx, func(tx store.Tx) error { return tx.SetLedgerKey(ctx, "nope", k) })
	wantErr(t, err, probity.ErrNotFound, "setting the key of an unknown org")
	update(t, s, func(tx store.Tx) error {
		if err := tx.SaveCheckpoint(ctx, "o1", 3, []byte("note 3")); err != nil {
			return err
		}
		if err := tx.SaveCheckpoint(ctx, "o1", 10, []byte("note 10")); err != nil {
			return err
		}
		return tx.SaveCheckpoint(ctx, "o1", 10, []byte("note 10 again")) // same size: kept once
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.LedgerKey(ctx, "o1")
		if err != nil {
			return err
		}
		if got != k {
			t.Errorf("ledger key: got %+v, want %+v", got, k)
		}
		size, note, err := tx.LatestCheckpoint(ctx, "o1")
		if err != nil {
			return err
		}
		if size != 10 || string(note) != "note 10" {
			t.Errorf("latest checkpoint: got %d %q, want 10 %q", size, note, "note 10")
		}
		_, _, err = tx.LatestCheckpoint(ctx, "nope")
		wantErr(t, err, probity.ErrNotFound, "checkpoint of an unknown org")
		return nil
	})
}

func testAuditLeaf(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	e := &probity.AuditEntry{Time: ts(1), Actor: "k1", Action: "agent.create", Target: "agent:a"}
	update(t, s, func(tx store.Tx) error { return store.Audit(ctx, tx, "o1", e) })
	if e.LedgerIndex == nil || *e.LedgerIndex != 0 {
		t.Fatalf("audit ledger index: got %v, want 0", e.LedgerIndex)
	}
	view(t, s, func(tx store.Tx) error {
		list, err := tx.ListAudit(ctx, "o1", store.AuditFilter{Page: store.Page{Limit: 10}})
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].LedgerIndex == nil || *list[0].LedgerIndex != 0 {
			t.Fatalf("audit list: got %+v, want its ledger index 0", list)
		}
		entries, err := tx.LedgerEntries(ctx, "o1", 0, 1)
		if err != nil {
			return err
		}
		want, _ := store.AuditLeaf(&list[0])
		if string(entries[0]) != string(want) {
			t.Errorf("leaf: got %s, want %s", entries[0], want)
		}
		return nil
	})
}

func testRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var rows []store.RecordRow
	for i := range 6 {
		rows = append(rows, store.RecordRow{ID: fmt.Sprintf("r%d", i), AgentID: "a", SessionID: []string{"s1", "s2"}[i%2],
			Type: []string{"tool_call", "tool_result", "model_output"}[i%3], Time: base.Add(time.Duration(i/2) * time.Minute)})
	}
	lat := 12.5
	rows[0].LatencyMs, rows[2].Failed, rows[1].Taint, rows[3].Influenced = &lat, true, `[{"kind":"url","value":"https://x.example"}]`, true
	update(t, s, func(tx store.Tx) error {
		var entries [][]byte
		for _, r := range rows {
			entries = append(entries, []byte(`{"kind":"record","id":"`+r.ID+`"}`))
		}
		first, err := store.AppendLedger(ctx, tx, "o1", entries)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].LedgerIndex = first + int64(i)
			rows[i].Entry = entries[i]
		}
		return tx.InsertRecords(ctx, "o1", rows)
	})
	err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertRecords(ctx, "o1", rows[:1]) })
	wantErr(t, err, probity.ErrConflict, "inserting a record id twice")
	view(t, s, func(tx store.Tx) error {
		found, err := tx.RecordIDs(ctx, "o1", []string{"r1", "zz", "r5"})
		if err != nil {
			return err
		}
		if len(found) != 2 || !found["r1"] || !found["r5"] {
			t.Errorf("existing ids: got %v, want r1 and r5", found)
		}
		if other, _ := tx.RecordIDs(ctx, "o2", []string{"r1"}); len(other) != 0 {
			t.Errorf("ids seen from another org: %v", other)
		}
		got, err := tx.GetRecord(ctx, "o1", "r3")
		if err != nil {
			return err
		}
		if got.LedgerIndex != rows[3].LedgerIndex || string(got.Entry) != string(rows[3].Entry) || !got.Time.Equal(rows[3].Time) {
			t.Errorf("record r3: got %+v, want %+v", got, rows[3])
		}
		_, err = tx.GetRecord(ctx, "o2", "r3")
		wantErr(t, err, probity.ErrNotFound, "another org's record")

		all, err := tx.ListRecords(ctx, "o1", store.RecordFilter{AgentID: "a", Limit: 100})
		if err != nil {
			return err
		}
		if len(all) != 6 || all[0].ID != "r0" || all[5].ID != "r5" {
			t.Fatalf("all records: got %d, want 6 in time order", len(all))
		}
		page, err := tx.ListRecords(ctx, "o1", store.RecordFilter{AgentID: "a", Limit: 2, AfterTime: all[1].Time, AfterIndex: all[1].LedgerIndex})
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].ID != "r2" || page[1].ID != "r3" {
			t.Errorf("page after r1: got %v", recIDs(page))
		}
		win, err := tx.ListRecords(ctx, "o1", store.RecordFilter{AgentID: "a", From: base.Add(time.Minute), To: base.Add(2 * time.Minute), Limit: 100})
		if err != nil {
			return err
		}
		if len(win) != 2 || win[0].ID != "r2" {
			t.Errorf("time window: got %v, want r2, r3", recIDs(win))
		}
		last, err := tx.LastRecordTime(ctx, "o1", "a")
		if err != nil {
			return err
		}
		if !last.Equal(rows[5].Time) {
			t.Errorf("latest record time: got %v, want %v", last, rows[5].Time)
		}
		if none, err := tx.LastRecordTime(ctx, "o2", "a"); err != nil || !none.IsZero() {
			t.Errorf("latest record time in another org: got %v, %v, want zero", none, err)
		}
		sess, _ := tx.ListRecords(ctx, "o1", store.RecordFilter{AgentID: "a", SessionID: "s2", Type: "tool_result", Limit: 100})
		if len(sess) != 1 || sess[0].ID != "r1" {
			t.Errorf("session s2 tool_result: got %v, want r1", recIDs(sess))
		}
		for _, r := range all {
			want := rows[r.LedgerIndex-rows[0].LedgerIndex]
			if (r.LatencyMs == nil) != (want.LatencyMs == nil) || r.LatencyMs != nil && *r.LatencyMs != *want.LatencyMs ||
				r.Failed != want.Failed || r.Taint != want.Taint || r.Influenced != want.Influenced {
				t.Errorf("record %s facts: got latency %v failed %v taint %q influenced %v, want %+v", r.ID, r.LatencyMs, r.Failed, r.Taint, r.Influenced, want)
			}
		}
		tainted, _ := tx.ListRecords(ctx, "o1", store.RecordFilter{AgentID: "a", SessionID: "s2", Tainted: true, Limit: 100})
		if len(tainted) != 1 || tainted[0].ID != "r1" || tainted[0].Taint != rows[1].Taint {
			t.Errorf("tainted records of s2: got %v, want r1", recIDs(tainted))
		}
		ts, err := tx.TaintedSessions(ctx, "o1", "a", []string{"s1", "s2", "s9"})
		if err != nil {
			return err
		}
		if len(ts) != 1 || !ts["s2"] {
			t.Errorf("tainted sessions: got %v, want s2", ts)
		}
		if ts, _ := tx.TaintedSessions(ctx, "o2", "a", []string{"s2"}); len(ts) != 0 {
			t.Errorf("tainted sessions of another org: got %v", ts)
		}
		if none, _ := tx.ListRecords(ctx, "o1", store.RecordFilter{AgentID: "a", SessionID: "s1", Tainted: true, Limit: 100}); len(none) != 0 {
			t.Errorf("tainted records of s1: got %v, want none", recIDs(none))
		}
		// Samples: time in (from, to], newest first, at most limit.
		samples, err := tx.RecordSamples(ctx, "o1", "a", base, base.Add(2*time.Minute), 3)
		if err != nil {
			return err
		}
		var sampled []string
		for _, s := range samples {
			sampled = append(sampled, s.ID)
		}
		if fmt.Sprint(sampled) != "[r5 r4 r3]" {
			t.Errorf("samples in (base, base+2m] newest 3: got %v, want [r5 r4 r3]", sampled)
		}
		all3, _ := tx.RecordSamples(ctx, "o1", "a", base.Add(-time.Second), base.Add(time.Minute), 100)
		if len(all3) != 4 || all3[3].ID != "r0" || all3[3].LatencyMs == nil || *all3[3].LatencyMs != 12.5 || !all3[1].Failed || all3[0].Failed {
			t.Errorf("samples with facts: got %+v", all3)
		}
		return nil
	})
}

// testRecordDays: InsertRecords counts records by agent, UTC day and
// type, adding to the counts of earlier batches; RecordDays reads a span of
// days for one agent of one org.
func testRecordDays(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	insert := func(org string, rows ...store.RecordRow) {
		t.Helper()
		update(t, s, func(tx store.Tx) error {
			var entries [][]byte
			for i := range rows {
				n++
				rows[i].ID, rows[i].SessionID = fmt.Sprintf("d%d", n), "s"
				entries = append(entries, []byte(`{"kind":"record","id":"`+rows[i].ID+`"}`))
			}
			first, err := store.AppendLedger(ctx, tx, org, entries)
			if err != nil {
				return err
			}
			for i := range rows {
				rows[i].LedgerIndex, rows[i].Entry = first+int64(i), entries[i]
			}
			return tx.InsertRecords(ctx, org, rows)
		})
	}
	rec := func(agent, typ string, at time.Time) store.RecordRow {
		return store.RecordRow{AgentID: agent, Type: typ, Time: at}
	}
	insert("o1", rec("a", "tool_call", day.Add(time.Hour)), rec("a", "tool_call", day.Add(2*time.Hour)),
		rec("a", "model_output", day.Add(3*time.Hour)), rec("b", "tool_call", day.Add(time.Hour)),
		rec("a", "tool_call", day.Add(30*time.Hour)))
	insert("o1", rec("a", "tool_call", day.Add(5*time.Hour))) // a later batch adds to the day
	insert("o2", rec("a", "tool_call", day.Add(time.Hour)))
	view(t, s, func(tx store.Tx) error {
		got, err := tx.RecordDays(ctx, "o1", "a", day.Add(12*time.Hour), day.Add(48*time.Hour))
		if err != nil {
			return err
		}
		want := []store.RecordDay{
			{Day: day, Type: "model_output", Count: 1, Last: day.Add(3 * time.Hour)},
			{Day: day, Type: "tool_call", Count: 3, Last: day.Add(5 * time.Hour)},
			{Day: day.Add(24 * time.Hour), Type: "tool_call", Count: 1, Last: day.Add(30 * time.Hour)},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record days of o1/a: got %+v, want %+v", got, want)
		}
		if got, _ := tx.RecordDays(ctx, "o1", "a", day.Add(25*time.Hour), day.Add(26*time.Hour)); len(got) != 1 || got[0].Count != 1 {
			t.Errorf("the second day alone: got %+v", got)
		}
		if got, _ := tx.RecordDays(ctx, "o2", "a", day, day.Add(48*time.Hour)); len(got) != 1 || got[0].Count != 1 {
			t.Errorf("record days of o2/a: got %+v, want one record", got)
		}
		if got, _ := tx.RecordDays(ctx, "o1", "zz", day, day.Add(48*time.Hour)); len(got) != 0 {
			t.Errorf("record days of an agent with none: got %+v", got)
		}
		return nil
	})
}

func recIDs(rs []store.RecordRow) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
