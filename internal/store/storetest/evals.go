package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var evalTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"EvalRuns", testEvalRuns},
	{"EvalClaim", testEvalClaim},
	{"EvalResults", testEvalResults},
	{"EvalClaimConcurrent", testEvalClaimConcurrent},
	{"Schedules", testSchedules},
	{"Suites", testSuites},
	{"SchedulesDueConcurrent", testSchedulesDueConcurrent},
}

func sampleRun(n int, agent string) store.EvalRun {
	return store.EvalRun{ID: fmt.Sprintf("ev_%03d", n), AgentID: agent, Suites: []string{"safety", "jailbreak"}, Repeat: 1,
		Trigger: "manual", Status: store.EvalQueued, Total: 100, ModelVersion: "v1", CreatedAt: ts(n), CreatedBy: "k_1", LedgerIndex: int64(n)}
}

func testEvalRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	runs := []store.EvalRun{sampleRun(1, "a"), sampleRun(2, "b"), sampleRun(3, "a")}
	update(t, s, func(tx store.Tx) error {
		for _, r := range runs {
			if err := tx.InsertEvalRun(ctx, "o1", r); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertEvalRun(ctx, "o1", runs[0]) }), probity.ErrConflict, "storing a run twice")
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetEvalRun(ctx, "o1", "ev_002")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, runs[1]) {
			t.Errorf("run: got %+v, want %+v", got, runs[1])
		}
		_, err = tx.GetEvalRun(ctx, "o2", "ev_002")
		wantErr(t, err, probity.ErrNotFound, "another org's run")
		for _, tc := range []struct {
			f    store.EvalRunFilter
			want []string
		}{
			{store.EvalRunFilter{Page: store.Page{Limit: 10}}, []string{"ev_003", "ev_002", "ev_001"}},
			{store.EvalRunFilter{Page: store.Page{Limit: 10}, AgentID: "a"}, []string{"ev_003", "ev_001"}},
			{store.EvalRunFilter{Page: store.Page{Limit: 1, After: "ev_003"}}, []string{"ev_002"}},
		} {
			rs, err := tx.ListEvalRuns(ctx, "o1", tc.f)
			if err != nil {
				return err
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("list %+v: got %v, want %v", tc.f, ids, tc.want)
			}
		}
		return nil
	})
	done := runs[0]
	done.Status, done.Done, done.Reason, done.StartedAt, done.FinishedAt, done.Summary = store.EvalCompleted, 100, "", ts(5), ts(6), []byte(`{"passed":90}`)
	update(t, s, func(tx store.Tx) error { return tx.UpdateEvalRun(ctx, "o1", done) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetEvalRun(ctx, "o1", done.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, done) {
			t.Errorf("updated run: got %+v, want %+v", got, done)
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.UpdateEvalRun(ctx, "o2", done) }), probity.ErrNotFound, "updating another org's run")
}

func testEvalClaim(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	update(t, s, func(tx store.Tx) error {
		if err := tx.InsertEvalRun(ctx, "o2", sampleRun(1, "a")); err != nil {
			return err
		}
		return tx.InsertEvalRun(ctx, "o1", sampleRun(2, "a"))
	})
	now := ts(10)
	claim := func(owner string, at time.Time) (string, store.EvalRun, bool) {
		var org string
		var r store.EvalRun
		var ok bool
		update(t, s, func(tx store.Tx) error {
			var err error
			org, r, ok, err = tx.ClaimEvalRun(ctx, owner, at, time.Minute)
			return err
		})
		return org, r, ok
	}
	// The oldest first, across orgs; each once.
	org, r, ok := claim("replica-a", now)
	if !ok || org != "o2" || r.ID != "ev_001" || r.Status != store.EvalRunning || r.Owner != "replica-a" || !r.StartedAt.Equal(now) || !r.LeaseUntil.Equal(now.Add(time.Minute)) {
		t.Fatalf("first claim: got %s %+v %v", org, r, ok)
	}
	if org, r, ok := claim("replica-b", now); !ok || org != "o1" || r.ID != "ev_002" {
		t.Fatalf("second claim: got %s %+v %v", org, r, ok)
	}
	if _, r, ok := claim("replica-b", now.Add(30*time.Second)); ok {
		t.Fatalf("claim while leases hold: got %+v", r)
	}
	// A lease that ran out is taken over; the start time stays.
	org, r, ok = claim("replica-c", now.Add(2*time.Minute))
	if !ok || org != "o2" || r.Owner != "replica-c" || !r.StartedAt.Equal(now) {
		t.Fatalf("claim after the lease: got %s %+v %v", org, r, ok)
	}
}

func testEvalResults(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	var rs []store.EvalResult
	for i := range 5 {
		rs = append(rs, store.EvalResult{RunID: "ev_001", Seq: i, Suite: "safety", CaseID: fmt.Sprintf("sf-%03d", i), Status: "passed",
			Grade: []byte(`{"status":"passed"}`), Transcript: []byte(fmt.Sprintf(`{"output":"answer %d"}`, i)), LatencyMs: 1.5,
			ModelVersion: "m-1", CreatedAt: ts(i), LedgerIndex: int64(10 + i)})
	}
	update(t, s, func(tx store.Tx) error { return tx.InsertEvalResults(ctx, "o1", rs) })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertEvalResults(ctx, "o1", rs[2:3]) }), probity.ErrConflict, "storing a result twice")
	view(t, s, func(tx store.Tx) error {
		all, err := tx.ListEvalResults(ctx, "o1", "ev_001", -1, 100, true)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(all, rs) {
			t.Errorf("results: got %+v, want %+v", all, rs)
		}
		page, err := tx.ListEvalResults(ctx, "o1", "ev_001", 1, 2, false)
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].Seq != 2 || page[1].Seq != 3 || page[0].Transcript != nil || string(page[0].Grade) != `{"status":"passed"}` {
			t.Errorf("page after seq 1 without transcripts: got %+v", page)
		}
		if other, _ := tx.ListEvalResults(ctx, "o2", "ev_001", -1, 100, true); len(other) != 0 {
			t.Errorf("another org's results: got %d", len(other))
		}
		return nil
	})
}

// Replicas claiming at once take each run exactly once.
func testEvalClaimConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	update(t, s, func(tx store.Tx) error {
		for i := range 20 {
			if err := tx.InsertEvalRun(ctx, "o1", sampleRun(i, "a")); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	claimed := map[string]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var r store.EvalRun
				var ok bool
				err := s.Update(ctx, func(tx store.Tx) error {
					var err error
					_, r, ok, err = tx.ClaimEvalRun(ctx, fmt.Sprintf("w%d", w), ts(30), time.Hour)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				if prev, dup := claimed[r.ID]; dup {
					t.Errorf("run %s claimed by %s and w%d", r.ID, prev, w)
				}
				claimed[r.ID] = r.Owner
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 20 {
		t.Errorf("claimed %d runs, want 20", len(claimed))
	}
}

func sampleSchedule(n int, next time.Time) store.Schedule {
	return store.Schedule{ID: fmt.Sprintf("sc_%03d", n), AgentID: "a", Suites: []string{"safety"}, Repeat: 1, Cron: "@weekly",
		NextRun: next, CreatedAt: ts(0), CreatedBy: "k_1"}
}

func testSchedules(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	a, b, c := sampleSchedule(1, ts(10)), sampleSchedule(2, ts(20)), sampleSchedule(3, ts(5))
	update(t, s, func(tx store.Tx) error {
		for _, x := range []store.Schedule{a, b} {
			if err := tx.InsertSchedule(ctx, "o1", x); err != nil {
				return err
			}
		}
		return tx.InsertSchedule(ctx, "o2", c)
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertSchedule(ctx, "o1", a) }), probity.ErrConflict, "storing a schedule twice")
	view(t, s, func(tx store.Tx) error {
		got, err := tx.ListSchedules(ctx, "o1", store.Page{Limit: 10})
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, []store.Schedule{a, b}) {
			t.Errorf("schedules: got %+v", got)
		}
		if p, _ := tx.ListSchedules(ctx, "o1", store.Page{After: "sc_001", Limit: 10}); len(p) != 1 || p[0].ID != "sc_002" {
			t.Errorf("page after sc_001: got %+v", p)
		}
		return nil
	})
	var due []store.DueSchedule
	update(t, s, func(tx store.Tx) error {
		var err error
		due, err = tx.DueSchedules(ctx, ts(15), 10)
		return err
	})
	if len(due) != 2 || due[0].OrgID != "o2" || due[0].ID != "sc_003" || due[1].OrgID != "o1" || due[1].ID != "sc_001" {
		t.Fatalf("due at 15s: got %+v", due)
	}
	a.NextRun, a.LastRunID = ts(40), "ev_1"
	update(t, s, func(tx store.Tx) error { return tx.UpdateSchedule(ctx, "o1", a) })
	update(t, s, func(tx store.Tx) error { return tx.DeleteSchedule(ctx, "o1", "sc_002") })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.DeleteSchedule(ctx, "o1", "sc_002") }), probity.ErrNotFound, "deleting twice")
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.DeleteSchedule(ctx, "o1", "sc_003") }), probity.ErrNotFound, "deleting another org's schedule")
	view(t, s, func(tx store.Tx) error {
		got, _ := tx.ListSchedules(ctx, "o1", store.Page{Limit: 10})
		if !reflect.DeepEqual(got, []store.Schedule{a}) {
			t.Errorf("after update and delete: got %+v", got)
		}
		return nil
	})
}

// Schedulers on several replicas see each due schedule once, provided each
// advances what it takes in the same transaction.
func testSchedulesDueConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	update(t, s, func(tx store.Tx) error {
		for i := range 10 {
			if err := tx.InsertSchedule(ctx, "o1", sampleSchedule(i, ts(1))); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := 0
				err := s.Update(ctx, func(tx store.Tx) error {
					due, err := tx.DueSchedules(ctx, ts(2), 3)
					if err != nil {
						return err
					}
					n = len(due)
					for _, d := range due {
						mu.Lock()
						seen[d.ID]++
						mu.Unlock()
						d.NextRun = ts(50)
						if err := tx.UpdateSchedule(ctx, d.OrgID, d.Schedule); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != 10 {
		t.Errorf("saw %d schedules, want 10", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("schedule %s taken %d times", id, n)
		}
	}
}

func testSuites(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	a := store.SuiteSource{ID: "acme-faq", Kind: "dataset", Digest: "sha256:aa", Source: []byte(`{"id":"q1"}`), CreatedAt: ts(1), CreatedBy: "k_1", LedgerIndex: 3}
	b := store.SuiteSource{ID: "acme-tone", Kind: "suite", Digest: "sha256:bb", Source: []byte("apiVersion: probity/v1"), CreatedAt: ts(2), LedgerIndex: 4}
	update(t, s, func(tx store.Tx) error {
		if err := tx.InsertSuite(ctx, "o1", a); err != nil {
			return err
		}
		return tx.InsertSuite(ctx, "o1", b)
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertSuite(ctx, "o1", a) }), probity.ErrConflict, "storing a suite twice")
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetSuite(ctx, "o1", "acme-faq")
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("suite: got %+v %v, want %+v", got, err, a)
		}
		_, err = tx.GetSuite(ctx, "o2", "acme-faq")
		wantErr(t, err, probity.ErrNotFound, "another org's suite")
		all, _ := tx.ListSuites(ctx, "o1", store.Page{Limit: 10})
		if !reflect.DeepEqual(all, []store.SuiteSource{a, b}) {
			t.Errorf("suites: got %+v", all)
		}
		if p, _ := tx.ListSuites(ctx, "o1", store.Page{After: "acme-faq", Limit: 10}); len(p) != 1 || p[0].ID != "acme-tone" {
			t.Errorf("page: got %+v", p)
		}
		return nil
	})
}
