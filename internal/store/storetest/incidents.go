package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var incidentTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Incidents", testIncidents},
	{"IncidentSummary", testIncidentSummary},
	{"IncidentRules", testIncidentRules},
	{"Activity", testActivity},
	{"Anomalies", testAnomalies},
}

func mkIncident(id, agent, rule, sev string, idx int64, opened time.Time) store.Incident {
	return store.Incident{ID: id, AgentID: agent, Rule: rule, Severity: sev, Status: store.IncidentOpen, OpenedAt: opened, UpdatedAt: opened,
		LedgerIndex: idx, Body: []byte(fmt.Sprintf(`{"id":%q}`, id))}
}

func incidentIDs(ins []store.Incident) []string {
	out := []string{}
	for _, in := range ins {
		out = append(out, in.ID)
	}
	return out
}

func testIncidents(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	a := mkIncident("inc_1", "bot", "confirmed-injection", "critical", 1, ts(1))
	b := mkIncident("inc_5", "bot", "composite-drop", "high", 5, ts(2))
	c := mkIncident("inc_9", "other", "composite-drop", "high", 9, ts(3))
	update(t, s, func(tx store.Tx) error {
		for _, in := range []store.Incident{a, b, c} {
			if err := tx.InsertIncident(ctx, "o1", in); err != nil {
				return err
			}
		}
		return nil
	})
	// One active incident per agent and rule; another org is another
	// namespace.
	dup := mkIncident("inc_12", "bot", "confirmed-injection", "critical", 12, ts(4))
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertIncident(ctx, "o1", dup) }), probity.ErrConflict, "a second active incident of one rule")
	wantErr(t, s.Update(ctx, func(tx store.Tx) error {
		return tx.InsertIncident(ctx, "o1", mkIncident("inc_1", "x", "r", "medium", 13, ts(4)))
	}),
		probity.ErrConflict, "an incident id twice")
	update(t, s, func(tx store.Tx) error { return tx.InsertIncident(ctx, "o2", dup) })

	// Acknowledged is still active; resolved is not.
	a.Status, a.UpdatedAt = store.IncidentAcknowledged, ts(5)
	a.Body = []byte(`{"id":"inc_1","status":"acknowledged"}`)
	update(t, s, func(tx store.Tx) error { return tx.UpdateIncident(ctx, "o1", a) })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertIncident(ctx, "o1", dup) }), probity.ErrConflict, "an active incident while one is acknowledged")
	a.Status, a.UpdatedAt, a.ResolvedAt, a.ResolvedIndex = store.IncidentResolved, ts(6), ts(6), 11
	update(t, s, func(tx store.Tx) error { return tx.UpdateIncident(ctx, "o1", a) })
	update(t, s, func(tx store.Tx) error { return tx.InsertIncident(ctx, "o1", dup) })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.UpdateIncident(ctx, "o2", b) }), probity.ErrNotFound, "updating another org's incident")

	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetIncident(ctx, "o1", "inc_1")
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("get: got %+v %v, want %+v", got, err, a)
		}
		_, err = tx.GetIncident(ctx, "o2", "inc_5")
		wantErr(t, err, probity.ErrNotFound, "another org's incident")
		active, err := tx.ActiveIncidents(ctx, "o1", "bot")
		if err != nil || !reflect.DeepEqual(incidentIDs(active), []string{"inc_5", "inc_12"}) {
			t.Errorf("active incidents of bot: %v %v", incidentIDs(active), err)
		}
		for _, tc := range []struct {
			f    store.IncidentFilter
			want []string
		}{
			{store.IncidentFilter{}, []string{"inc_12", "inc_9", "inc_5", "inc_1"}},
			{store.IncidentFilter{AgentID: "bot"}, []string{"inc_12", "inc_5", "inc_1"}},
			{store.IncidentFilter{Status: store.IncidentActive}, []string{"inc_12", "inc_9", "inc_5"}},
			{store.IncidentFilter{Status: store.IncidentResolved}, []string{"inc_1"}},
			{store.IncidentFilter{Severity: "high"}, []string{"inc_9", "inc_5"}},
			{store.IncidentFilter{Rule: "confirmed-injection", AgentID: "bot"}, []string{"inc_12", "inc_1"}},
			{store.IncidentFilter{Since: ts(4)}, []string{"inc_12", "inc_1"}},
			{store.IncidentFilter{Page: store.Page{Limit: 2}}, []string{"inc_12", "inc_9"}},
			{store.IncidentFilter{Page: store.Page{After: "9", Limit: 2}}, []string{"inc_5", "inc_1"}},
		} {
			if tc.f.Limit == 0 {
				tc.f.Limit = 100
			}
			got, err := tx.ListIncidents(ctx, "o1", tc.f)
			if err != nil || !reflect.DeepEqual(incidentIDs(got), tc.want) {
				t.Errorf("list %+v: got %v %v, want %v", tc.f, incidentIDs(got), err, tc.want)
			}
		}
		_, err = tx.ListIncidents(ctx, "o1", store.IncidentFilter{Page: store.Page{After: "x", Limit: 1}})
		wantErr(t, err, probity.ErrInvalid, "a bad cursor")
		if other, _ := tx.ListIncidents(ctx, "o2", store.IncidentFilter{Page: store.Page{Limit: 10}}); !reflect.DeepEqual(incidentIDs(other), []string{"inc_12"}) {
			t.Errorf("another org's list: %v", incidentIDs(other))
		}
		return nil
	})
}

func testIncidentSummary(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	view(t, s, func(tx store.Tx) error {
		sum, err := tx.IncidentSummary(ctx, "o1", "bot")
		if err != nil || sum.Critical+sum.High+sum.Medium != 0 || !sum.LastCritical.IsZero() || len(sum.Resolved) != 0 {
			t.Errorf("summary with no incidents: %+v %v", sum, err)
		}
		return nil
	})
	r := mkIncident("inc_1", "bot", "safety-pass-rate", "critical", 1, ts(1))
	r.Status, r.ResolvedAt, r.ResolvedIndex = store.IncidentResolved, ts(7), 20
	update(t, s, func(tx store.Tx) error {
		for _, in := range []store.Incident{r,
			mkIncident("inc_2", "bot", "safety-pass-rate", "critical", 2, ts(8)),
			mkIncident("inc_3", "bot", "composite-drop", "high", 3, ts(9)),
			mkIncident("inc_4", "bot", "check-regression", "medium", 4, ts(10)),
			mkIncident("inc_5", "bot", "decay-without-recovery", "medium", 5, ts(11)),
			mkIncident("inc_6", "other", "confirmed-injection", "critical", 6, ts(12)),
		} {
			if err := tx.InsertIncident(ctx, "o1", in); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		sum, err := tx.IncidentSummary(ctx, "o1", "bot")
		want := store.IncidentSummary{Critical: 1, High: 1, Medium: 2, LastCritical: ts(8),
			Resolved: map[string]store.Resolution{"safety-pass-rate": {At: ts(7), LedgerIndex: 20}}}
		if err != nil || !reflect.DeepEqual(sum, want) {
			t.Errorf("summary: got %+v %v, want %+v", sum, err, want)
		}
		return nil
	})
}

func testIncidentRules(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	view(t, s, func(tx store.Tx) error {
		_, err := tx.IncidentRules(ctx, "o1")
		wantErr(t, err, probity.ErrNotFound, "rules of an org without any")
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.SetIncidentRules(ctx, "o1", []byte("rules: {}"), ts(1)) })
	update(t, s, func(tx store.Tx) error {
		return tx.SetIncidentRules(ctx, "o1", []byte("anomaly: {enabled: false}"), ts(2))
	})
	view(t, s, func(tx store.Tx) error {
		doc, err := tx.IncidentRules(ctx, "o1")
		if err != nil || string(doc) != "anomaly: {enabled: false}" {
			t.Errorf("rules: %q %v", doc, err)
		}
		_, err = tx.IncidentRules(ctx, "o2")
		wantErr(t, err, probity.ErrNotFound, "another org's rules")
		return nil
	})
}

func testActivity(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	h0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	h1 := h0.Add(time.Hour)
	update(t, s, func(tx store.Tx) error {
		return tx.AddActivity(ctx, "o1", []store.Activity{
			{AgentID: "bot", Hour: h0, Records: 10, ToolCalls: 4, Errors: 1, Violations: 2},
			{AgentID: "bot", Hour: h0, Tool: "refund", ToolCalls: 4},
			{AgentID: "bot", Hour: h1, Records: 3, ToolCalls: 1},
			{AgentID: "bot", Hour: h1, Tool: "lookup", ToolCalls: 1},
			{AgentID: "other", Hour: h0, Records: 99},
		})
	})
	// Adding to an hour adds up, from any replica.
	update(t, s, func(tx store.Tx) error {
		return tx.AddActivity(ctx, "o1", []store.Activity{
			{AgentID: "bot", Hour: h0, Records: 5, ToolCalls: 2, Errors: 1},
			{AgentID: "bot", Hour: h0, Tool: "refund", ToolCalls: 1},
			{AgentID: "bot", Hour: h0, Tool: "lookup", ToolCalls: 1},
		})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.AddActivity(ctx, "o2", []store.Activity{{AgentID: "bot", Hour: h0, Records: 1000}})
	})
	want := []store.Activity{
		{AgentID: "bot", Hour: h0, Records: 15, ToolCalls: 6, Errors: 2, Violations: 2},
		{AgentID: "bot", Hour: h0, Tool: "lookup", ToolCalls: 1},
		{AgentID: "bot", Hour: h0, Tool: "refund", ToolCalls: 5},
		{AgentID: "bot", Hour: h1, Records: 3, ToolCalls: 1},
		{AgentID: "bot", Hour: h1, Tool: "lookup", ToolCalls: 1},
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.ListActivity(ctx, "o1", "bot", h0, h1.Add(time.Hour))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("activity:\n got %+v %v\nwant %+v", got, err, want)
		}
		if got, _ := tx.ListActivity(ctx, "o1", "bot", h1, h1.Add(time.Hour)); len(got) != 2 {
			t.Errorf("activity of one hour: %+v", got)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.PruneActivity(ctx, h1) })
	view(t, s, func(tx store.Tx) error {
		if got, _ := tx.ListActivity(ctx, "o1", "bot", h0, h1.Add(time.Hour)); !reflect.DeepEqual(got, want[3:]) {
			t.Errorf("activity after pruning: %+v", got)
		}
		if got, _ := tx.ListActivity(ctx, "o2", "bot", h0, h1); len(got) != 0 {
			t.Errorf("pruning covers every org: %+v", got)
		}
		return nil
	})
}

func testAnomalies(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	h := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	an := func(id, agent string, start time.Time) store.Anomaly {
		return store.Anomaly{ID: id, AgentID: agent, Metric: "errorRate", Start: start, End: start.Add(time.Hour), Detected: start.Add(2 * time.Hour),
			Body: []byte(`{"id":"` + id + `"}`)}
	}
	all := []store.Anomaly{an("an_a", "bot", h), an("an_b", "bot", h), an("an_c", "bot", h.Add(time.Hour)), an("an_d", "other", h.Add(2*time.Hour))}
	update(t, s, func(tx store.Tx) error {
		n, err := tx.InsertAnomalies(ctx, "o1", all)
		if n != 4 {
			t.Errorf("new flags: %d, want 4", n)
		}
		return err
	})
	update(t, s, func(tx store.Tx) error {
		n, err := tx.InsertAnomalies(ctx, "o1", []store.Anomaly{all[0], an("an_e", "bot", h.Add(3*time.Hour))})
		if n != 1 {
			t.Errorf("new flags among one stored and one new: %d, want 1", n)
		}
		return err
	})
	view(t, s, func(tx store.Tx) error {
		list := func(f store.AnomalyFilter) []string {
			if f.Limit == 0 {
				f.Limit = 100
			}
			got, err := tx.ListAnomalies(ctx, "o1", f)
			if err != nil {
				t.Fatalf("list %+v: %v", f, err)
			}
			out := []string{}
			for _, a := range got {
				out = append(out, a.ID)
			}
			return out
		}
		for _, tc := range []struct {
			f    store.AnomalyFilter
			want []string
		}{
			{store.AnomalyFilter{AgentID: "bot"}, []string{"an_e", "an_c", "an_b", "an_a"}},
			{store.AnomalyFilter{}, []string{"an_e", "an_d", "an_c", "an_b", "an_a"}},
			{store.AnomalyFilter{AgentID: "bot", From: h.Add(time.Hour), To: h.Add(3 * time.Hour)}, []string{"an_c"}},
			{store.AnomalyFilter{AgentID: "bot", Page: store.Page{Limit: 2}}, []string{"an_e", "an_c"}},
			{store.AnomalyFilter{AgentID: "bot", Page: store.Page{Limit: 2, After: store.AnomalyCursor(all[2])}}, []string{"an_b", "an_a"}},
			{store.AnomalyFilter{AgentID: "bot", Page: store.Page{Limit: 2, After: store.AnomalyCursor(all[1])}}, []string{"an_a"}},
		} {
			if got := list(tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("list %+v: got %v, want %v", tc.f, got, tc.want)
			}
		}
		got, _ := tx.ListAnomalies(ctx, "o1", store.AnomalyFilter{AgentID: "bot", Page: store.Page{Limit: 1}})
		if len(got) != 1 || !reflect.DeepEqual(got[0], an("an_e", "bot", h.Add(3*time.Hour))) {
			t.Errorf("a stored flag reads back: %+v", got)
		}
		_, err := tx.ListAnomalies(ctx, "o1", store.AnomalyFilter{Page: store.Page{Limit: 1, After: "nonsense"}})
		wantErr(t, err, probity.ErrInvalid, "a bad cursor")
		if other, _ := tx.ListAnomalies(ctx, "o2", store.AnomalyFilter{Page: store.Page{Limit: 10}}); len(other) != 0 {
			t.Errorf("another org's flags: %+v", other)
		}
		return nil
	})
}
