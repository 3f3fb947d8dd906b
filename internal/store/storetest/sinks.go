package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var sinkTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Sinks", testSinks},
	{"OutboxClaim", testOutboxClaim},
	{"OutboxFinish", testOutboxFinish},
	{"OutboxReplay", testOutboxReplay},
	{"OutboxConcurrentClaims", testOutboxConcurrentClaims},
	{"OutboxPrune", testOutboxPrune},
}

func mkSink(id string) store.Sink {
	return store.Sink{ID: id, Name: "n-" + id, Kind: "webhook", Format: "json", Config: []byte(`{"url":"http://127.0.0.1:9/` + id + `"}`),
		Secret: "s3cret-" + id, MinSeverity: "medium", EventTypes: []string{"incident.opened", "agent.suspended"}, CreatedAt: ts(1), CreatedBy: "k1"}
}

// mkDelivery is a pending delivery of event ev to sink, due at due.
func mkDelivery(id, sink, ev string, due time.Time) store.Delivery {
	return store.Delivery{ID: id, SinkID: sink, EventID: ev, EventType: "incident.opened", Severity: "high", AgentID: "a1",
		EventTime: ts(0), Body: []byte(`{"id":"` + ev + `"}`), Status: store.DeliveryPending, NextAttempt: due, CreatedAt: ts(0)}
}

func testSinks(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	a, b := mkSink("snk_a"), mkSink("snk_b")
	b.EventTypes = nil
	update(t, s, func(tx store.Tx) error {
		for _, sk := range []store.Sink{b, a} {
			if err := tx.InsertSink(ctx, "o1", sk); err != nil {
				return err
			}
		}
		return tx.InsertDeliveries(ctx, "o1", []store.Delivery{mkDelivery("dl_1", "snk_a", "ev1", ts(0)), mkDelivery("dl_2", "snk_b", "ev1", ts(0))})
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertSink(ctx, "o1", a) }), probity.ErrConflict, "a second sink with one id")
	b.EventTypes = []string{}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetSink(ctx, "o1", "snk_a")
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("sink: got %+v %v, want %+v", got, err, a)
		}
		_, err = tx.GetSink(ctx, "o2", "snk_a")
		wantErr(t, err, probity.ErrNotFound, "another org's sink")
		all, err := tx.ListSinks(ctx, "o1", store.Page{Limit: 10})
		if err != nil || !reflect.DeepEqual(all, []store.Sink{a, b}) {
			t.Errorf("sinks: got %+v %v, want a, b", all, err)
		}
		next, err := tx.ListSinks(ctx, "o1", store.Page{After: "snk_a", Limit: 10})
		if err != nil || len(next) != 1 || next[0].ID != "snk_b" {
			t.Errorf("sinks after snk_a: got %+v %v", next, err)
		}
		if other, _ := tx.ListSinks(ctx, "o2", store.Page{Limit: 10}); len(other) != 0 {
			t.Errorf("another org's sinks: got %+v, want none", other)
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.DeleteSink(ctx, "o2", "snk_a") }), probity.ErrNotFound, "deleting another org's sink")
	update(t, s, func(tx store.Tx) error { return tx.DeleteSink(ctx, "o1", "snk_a") })
	view(t, s, func(tx store.Tx) error {
		_, err := tx.GetSink(ctx, "o1", "snk_a")
		wantErr(t, err, probity.ErrNotFound, "a deleted sink")
		_, err = tx.GetDelivery(ctx, "o1", "dl_1")
		wantErr(t, err, probity.ErrNotFound, "a deleted sink's delivery")
		if _, err := tx.GetDelivery(ctx, "o1", "dl_2"); err != nil {
			t.Errorf("another sink's delivery went with the deleted sink: %v", err)
		}
		return nil
	})
}

func claim(t *testing.T, s store.Store, token string, now time.Time, limit int, skip ...store.SinkRef) []store.ClaimedDelivery {
	t.Helper()
	var got []store.ClaimedDelivery
	update(t, s, func(tx store.Tx) error {
		var err error
		got, err = tx.ClaimDeliveries(context.Background(), token, now, time.Minute, limit, skip)
		return err
	})
	return got
}

func claimedIDs(cs []store.ClaimedDelivery) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.OrgID+"/"+c.ID)
	}
	return out
}

func testOutboxClaim(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	update(t, s, func(tx store.Tx) error {
		for _, o := range []string{"o1", "o2"} {
			for _, sk := range []string{"snk_a", "snk_b"} {
				if err := tx.InsertSink(ctx, o, mkSink(sk)); err != nil {
					return err
				}
			}
		}
		if err := tx.InsertDeliveries(ctx, "o1", []store.Delivery{
			mkDelivery("dl_1", "snk_a", "ev1", ts(1)), mkDelivery("dl_2", "snk_a", "ev2", ts(2)), mkDelivery("dl_3", "snk_a", "ev3", ts(3)),
			mkDelivery("dl_4", "snk_b", "ev1", ts(4)), mkDelivery("dl_9", "snk_b", "ev9", ts(50)),
		}); err != nil {
			return err
		}
		return tx.InsertDeliveries(ctx, "o2", []store.Delivery{mkDelivery("dl_1", "snk_a", "ev1", ts(5))})
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error {
		return tx.InsertDeliveries(ctx, "o1", []store.Delivery{mkDelivery("dl_1", "snk_b", "ev1", ts(1))})
	}), probity.ErrConflict, "a second delivery with one id")

	// Nothing is due before its time; the skip list leaves whole sinks out.
	if got := claim(t, s, "c0", ts(0), 10); len(got) != 0 {
		t.Fatalf("claim before anything is due: got %v", claimedIDs(got))
	}
	got := claim(t, s, "c1", ts(10), 3, store.SinkRef{OrgID: "o1", SinkID: "snk_b"})
	if want := []string{"o1/dl_1", "o1/dl_2", "o1/dl_3"}; !slices.Equal(claimedIDs(got), want) {
		t.Fatalf("first claim: got %v, want %v (oldest due first, skipping o1/snk_b)", claimedIDs(got), want)
	}
	c := got[0]
	if c.Claim != "c1" || c.Sink.ID != "snk_a" || c.Sink.Secret != "s3cret-snk_a" || string(c.Body) != `{"id":"ev1"}` || !c.NextAttempt.Equal(ts(10).Add(time.Minute)) {
		t.Errorf("claimed delivery: got %+v", c)
	}
	// Claimed rows are not due again until their lease ends.
	got = claim(t, s, "c2", ts(10), 10)
	if want := []string{"o1/dl_4", "o2/dl_1"}; !slices.Equal(claimedIDs(got), want) {
		t.Fatalf("second claim: got %v, want %v", claimedIDs(got), want)
	}
	if got := claim(t, s, "c3", ts(60), 10); !slices.Equal(claimedIDs(got), []string{"o1/dl_9"}) {
		t.Fatalf("claim at 60s: got %v, want o1/dl_9 alone", claimedIDs(got))
	}
	// A claimer that died: its rows come back after the lease.
	got = claim(t, s, "c4", ts(10).Add(time.Minute+time.Second), 2)
	if want := []string{"o1/dl_1", "o1/dl_2"}; !slices.Equal(claimedIDs(got), want) {
		t.Fatalf("claim after the lease: got %v, want %v", claimedIDs(got), want)
	}
	view(t, s, func(tx store.Tx) error {
		d, err := tx.GetDelivery(ctx, "o1", "dl_3")
		if err != nil || d.Status != store.DeliveryPending || d.Attempts != 0 || !d.NextAttempt.Equal(ts(10).Add(time.Minute)) {
			t.Errorf("claimed delivery as stored: got %+v %v", d, err)
		}
		return nil
	})
}

func finish(t *testing.T, s store.Store, rs ...store.DeliveryResult) {
	t.Helper()
	update(t, s, func(tx store.Tx) error { return tx.FinishDeliveries(context.Background(), rs) })
}

func getDelivery(t *testing.T, s store.Store, org, id string) store.Delivery {
	t.Helper()
	var d store.Delivery
	view(t, s, func(tx store.Tx) error {
		var err error
		d, err = tx.GetDelivery(context.Background(), org, id)
		return err
	})
	return d
}

func testOutboxFinish(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	update(t, s, func(tx store.Tx) error {
		if err := tx.InsertSink(ctx, "o1", mkSink("snk_a")); err != nil {
			return err
		}
		var ds []store.Delivery
		for i := range 5 {
			ds = append(ds, mkDelivery(fmt.Sprintf("dl_%d", i), "snk_a", fmt.Sprintf("ev%d", i), ts(i)))
		}
		return tx.InsertDeliveries(ctx, "o1", ds)
	})
	got := claim(t, s, "c1", ts(30), 10)
	if len(got) != 5 {
		t.Fatalf("claim: got %d deliveries, want 5", len(got))
	}
	at := ts(31)
	attempt := func(id string, code int, msg string) store.DeliveryAttempt {
		return store.DeliveryAttempt{DeliveryID: id, Seq: 1, Time: at, Duration: 1500 * time.Microsecond, Code: code, Error: msg}
	}
	finish(t, s,
		store.DeliveryResult{OrgID: "o1", ID: "dl_0", Claim: "c1", Outcome: store.OutcomeSent, Attempt: attempt("dl_0", 200, "")},
		store.DeliveryResult{OrgID: "o1", ID: "dl_1", Claim: "c1", Outcome: store.OutcomeRetry, Attempt: attempt("dl_1", 503, "HTTP 503"), Next: ts(40)},
		store.DeliveryResult{OrgID: "o1", ID: "dl_2", Claim: "c1", Outcome: store.OutcomeDead, Attempt: attempt("dl_2", 0, "connection refused")},
		store.DeliveryResult{OrgID: "o1", ID: "dl_3", Claim: "c1", Outcome: store.OutcomeReleased, Next: ts(30)},
		// A claim that is not the delivery's changes nothing.
		store.DeliveryResult{OrgID: "o1", ID: "dl_4", Claim: "stale", Outcome: store.OutcomeSent, Attempt: attempt("dl_4", 200, "")},
	)
	d0 := getDelivery(t, s, "o1", "dl_0")
	if d0.Status != store.DeliverySent || d0.Attempts != 1 || d0.Tries != 1 || d0.LastCode != 200 || !d0.LastAttempt.Equal(at) ||
		!d0.SentAt.Equal(at.Add(1500*time.Microsecond)) || d0.LastError != "" {
		t.Errorf("sent delivery: got %+v", d0)
	}
	d1 := getDelivery(t, s, "o1", "dl_1")
	if d1.Status != store.DeliveryPending || d1.Attempts != 1 || !d1.NextAttempt.Equal(ts(40)) || d1.LastCode != 503 || d1.LastError != "HTTP 503" || !d1.SentAt.IsZero() {
		t.Errorf("retried delivery: got %+v", d1)
	}
	if d2 := getDelivery(t, s, "o1", "dl_2"); d2.Status != store.DeliveryDead || d2.Attempts != 1 || d2.LastError != "connection refused" {
		t.Errorf("dead delivery: got %+v", d2)
	}
	if d3 := getDelivery(t, s, "o1", "dl_3"); d3.Status != store.DeliveryPending || d3.Attempts != 0 || d3.Tries != 0 || !d3.NextAttempt.Equal(ts(30)) || !d3.LastAttempt.IsZero() {
		t.Errorf("released delivery: got %+v", d3)
	}
	if d4 := getDelivery(t, s, "o1", "dl_4"); d4.Status != store.DeliveryPending || d4.Attempts != 0 {
		t.Errorf("a stale claim changed the delivery: got %+v", d4)
	}
	// The log holds one attempt per finished try, never the released one.
	view(t, s, func(tx store.Tx) error {
		as, err := tx.DeliveryAttempts(ctx, "o1", []string{"dl_0", "dl_1", "dl_2", "dl_3", "dl_4"})
		if err != nil {
			return err
		}
		want := []store.DeliveryAttempt{attempt("dl_0", 200, ""), attempt("dl_1", 503, "HTTP 503"), attempt("dl_2", 0, "connection refused")}
		if !reflect.DeepEqual(as, want) {
			t.Errorf("attempts: got %+v, want %+v", as, want)
		}
		return nil
	})
	// The released and the retried ones are claimed again when due, and
	// a second try continues the log.
	got = claim(t, s, "c2", ts(40), 10)
	if want := []string{"o1/dl_3", "o1/dl_1"}; !slices.Equal(claimedIDs(got), want) {
		t.Fatalf("claim at 40s: got %v, want %v", claimedIDs(got), want)
	}
	second := attempt("dl_1", 200, "")
	second.Seq = 2
	finish(t, s, store.DeliveryResult{OrgID: "o1", ID: "dl_1", Claim: "c2", Outcome: store.OutcomeSent, Attempt: second})
	if d1 := getDelivery(t, s, "o1", "dl_1"); d1.Status != store.DeliverySent || d1.Attempts != 2 || d1.Tries != 2 || d1.LastError != "" {
		t.Errorf("delivery sent on its second try: got %+v", d1)
	}
	var backlog int64
	view(t, s, func(tx store.Tx) error {
		var err error
		backlog, err = tx.OutboxBacklog(ctx)
		return err
	})
	if backlog != 2 { // dl_3 (claimed by c2) and dl_4
		t.Errorf("backlog: got %d, want 2", backlog)
	}
	// Lists: newest first, by status, paged.
	view(t, s, func(tx store.Tx) error {
		all, err := tx.ListDeliveries(ctx, "o1", store.DeliveryFilter{SinkID: "snk_a", Page: store.Page{Limit: 3}})
		if err != nil {
			return err
		}
		var got []string
		for _, d := range all {
			got = append(got, d.ID)
		}
		if want := []string{"dl_4", "dl_3", "dl_2"}; !slices.Equal(got, want) {
			t.Errorf("first page: got %v, want %v", got, want)
		}
		rest, err := tx.ListDeliveries(ctx, "o1", store.DeliveryFilter{SinkID: "snk_a", Page: store.Page{After: "dl_2", Limit: 10}})
		if err != nil || len(rest) != 2 || rest[0].ID != "dl_1" || rest[1].ID != "dl_0" {
			t.Errorf("second page: got %+v %v", rest, err)
		}
		sent, err := tx.ListDeliveries(ctx, "o1", store.DeliveryFilter{SinkID: "snk_a", Status: store.DeliverySent, Page: store.Page{Limit: 10}})
		if err != nil || len(sent) != 2 || sent[0].ID != "dl_1" || sent[1].ID != "dl_0" {
			t.Errorf("sent ones: got %+v %v", sent, err)
		}
		if other, _ := tx.ListDeliveries(ctx, "o2", store.DeliveryFilter{SinkID: "snk_a", Page: store.Page{Limit: 10}}); len(other) != 0 {
			t.Errorf("another org's deliveries: got %+v", other)
		}
		return nil
	})
}

func testOutboxReplay(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	update(t, s, func(tx store.Tx) error {
		if err := tx.InsertSink(ctx, "o1", mkSink("snk_a")); err != nil {
			return err
		}
		return tx.InsertDeliveries(ctx, "o1", []store.Delivery{mkDelivery("dl_1", "snk_a", "ev1", ts(0)),
			mkDelivery("dl_2", "snk_a", "ev2", ts(0)), mkDelivery("dl_3", "snk_a", "ev3", ts(0)), mkDelivery("dl_4", "snk_a", "ev4", ts(0))})
	})
	claim(t, s, "c1", ts(1), 10)
	dead := func(id string) store.DeliveryResult {
		return store.DeliveryResult{OrgID: "o1", ID: id, Claim: "c1", Outcome: store.OutcomeDead,
			Attempt: store.DeliveryAttempt{DeliveryID: id, Seq: 1, Time: ts(2), Error: "refused"}}
	}
	sent := dead("dl_3")
	sent.Outcome, sent.Attempt.Error = store.OutcomeSent, ""
	finish(t, s, dead("dl_1"), dead("dl_2"), sent) // dl_4 stays claimed
	replay := func(ids ...string) int {
		var n int
		update(t, s, func(tx store.Tx) error {
			var err error
			n, err = tx.ReplayDeliveries(ctx, "o1", "snk_a", ids, ts(5))
			return err
		})
		return n
	}
	if n := replay("dl_4", "dl_nope"); n != 0 {
		t.Errorf("replaying a pending and an unknown delivery: got %d, want 0", n)
	}
	if n := replay("dl_3"); n != 1 {
		t.Errorf("replaying a sent delivery: got %d, want 1", n)
	}
	if d := getDelivery(t, s, "o1", "dl_3"); d.Status != store.DeliveryPending || d.Attempts != 0 || d.Tries != 1 || !d.NextAttempt.Equal(ts(5)) {
		t.Errorf("replayed delivery: got %+v", d)
	}
	if n := replay(); n != 2 {
		t.Errorf("replaying every dead letter: got %d, want 2", n)
	}
	var org2 int
	update(t, s, func(tx store.Tx) error {
		var err error
		org2, err = tx.ReplayDeliveries(ctx, "o2", "snk_a", nil, ts(5))
		return err
	})
	if org2 != 0 {
		t.Errorf("replay in another org: got %d, want 0", org2)
	}
	got := claim(t, s, "c2", ts(5), 10)
	if want := []string{"o1/dl_1", "o1/dl_2", "o1/dl_3"}; !slices.Equal(claimedIDs(got), want) {
		t.Errorf("claim after replay: got %v, want %v", claimedIDs(got), want)
	}
	for _, c := range got {
		if c.Attempts != 0 || c.Tries != 1 {
			t.Errorf("replayed %s: got attempts %d tries %d, want 0 and 1", c.ID, c.Attempts, c.Tries)
		}
	}
}

// testOutboxConcurrentClaims: claimers at once never take one delivery
// twice, and together take every due one.
func testOutboxConcurrentClaims(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	const sinks, each = 3, 40
	update(t, s, func(tx store.Tx) error {
		for i := range sinks {
			sk := fmt.Sprintf("snk_%d", i)
			if err := tx.InsertSink(ctx, "o1", mkSink(sk)); err != nil {
				return err
			}
			var ds []store.Delivery
			for j := range each {
				ds = append(ds, mkDelivery(fmt.Sprintf("dl_%d_%02d", i, j), sk, fmt.Sprintf("ev%d", j), ts(j%60)))
			}
			if err := tx.InsertDeliveries(ctx, "o1", ds); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := fmt.Sprintf("w%d", w)
			for {
				var got []store.ClaimedDelivery
				err := s.Update(ctx, func(tx store.Tx) error {
					var err error
					got, err = tx.ClaimDeliveries(ctx, token, ts(59), time.Hour, 7, nil)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, c := range got {
					if prev, dup := seen[c.ID]; dup {
						errs <- fmt.Errorf("delivery %s claimed by %s and %s", c.ID, prev, token)
					}
					seen[c.ID] = token
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != sinks*each {
		t.Errorf("claimed %d deliveries, want %d", len(seen), sinks*each)
	}
}

func testOutboxPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	update(t, s, func(tx store.Tx) error {
		if err := tx.InsertSink(ctx, "o1", mkSink("snk_a")); err != nil {
			return err
		}
		return tx.InsertDeliveries(ctx, "o1", []store.Delivery{mkDelivery("dl_1", "snk_a", "ev1", ts(0)),
			mkDelivery("dl_2", "snk_a", "ev2", ts(0)), mkDelivery("dl_3", "snk_a", "ev3", ts(0))})
	})
	claim(t, s, "c1", ts(1), 10)
	res := func(id string, outcome string, at time.Time) store.DeliveryResult {
		return store.DeliveryResult{OrgID: "o1", ID: id, Claim: "c1", Outcome: outcome, Attempt: store.DeliveryAttempt{DeliveryID: id, Seq: 1, Time: at}}
	}
	finish(t, s, res("dl_1", store.OutcomeSent, ts(2)), res("dl_2", store.OutcomeSent, ts(20)), res("dl_3", store.OutcomeDead, ts(2)))
	var n int64
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.PruneDeliveries(ctx, ts(10))
		return err
	})
	if n != 1 {
		t.Errorf("pruned: got %d, want 1 (sent before 10s; dead letters stay)", n)
	}
	view(t, s, func(tx store.Tx) error {
		_, err := tx.GetDelivery(ctx, "o1", "dl_1")
		wantErr(t, err, probity.ErrNotFound, "a pruned delivery")
		as, err := tx.DeliveryAttempts(ctx, "o1", []string{"dl_1", "dl_2", "dl_3"})
		if err != nil || len(as) != 2 || as[0].DeliveryID != "dl_2" || as[1].DeliveryID != "dl_3" {
			t.Errorf("attempts after pruning: got %+v %v", as, err)
		}
		return nil
	})
}
