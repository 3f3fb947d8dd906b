package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var violationTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Violations", testViolations},
	{"ViolationOrgIsolation", testViolationOrgIsolation},
}

func sampleViolation(n int, agent, clause, severity string) store.Violation {
	return store.Violation{
		ID: fmt.Sprintf("v_%d", n), AgentID: agent, PactID: "support", PactVersion: 2,
		Clause: clause, Kind: "scope_tool", Severity: severity,
		RecordIDs: []string{fmt.Sprintf("r%d", n), "r0"}, Explanation: fmt.Sprintf("violation %d", n),
		Time: ts(n), LedgerIndex: int64(n),
	}
}

func violationIDs(vs []store.Violation) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func testViolations(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	all := []store.Violation{
		sampleViolation(3, "a1", "scope.tools", "major"),
		sampleViolation(5, "a2", "refund-limit", "critical"),
		sampleViolation(7, "a1", "refund-limit", "critical"),
		sampleViolation(9, "a1", "no-markup", "minor"),
	}
	all[1].Kind, all[1].Confirmed = "injection_influenced", true
	update(t, s, func(tx store.Tx) error { return tx.InsertViolations(ctx, "o1", all) })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertViolations(ctx, "o1", all[:1]) }),
		probity.ErrConflict, "storing a violation twice")
	view(t, s, func(tx store.Tx) error {
		got, err := tx.ListViolations(ctx, "o1", store.ViolationFilter{Page: store.Page{Limit: 10}})
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, all) {
			t.Errorf("all violations: got %+v, want %+v", got, all)
		}
		for _, tc := range []struct {
			name string
			f    store.ViolationFilter
			want []string
		}{
			{"agent", store.ViolationFilter{AgentID: "a1"}, []string{"v_3", "v_7", "v_9"}},
			{"clause", store.ViolationFilter{Clause: "refund-limit"}, []string{"v_5", "v_7"}},
			{"severity", store.ViolationFilter{Severity: "minor"}, []string{"v_9"}},
			{"agent and clause", store.ViolationFilter{AgentID: "a1", Clause: "refund-limit"}, []string{"v_7"}},
			{"time", store.ViolationFilter{From: ts(5), To: ts(9)}, []string{"v_5", "v_7"}},
			{"page", store.ViolationFilter{Page: store.Page{After: "5", Limit: 1}}, []string{"v_7"}},
			{"kind", store.ViolationFilter{Kind: "injection_influenced"}, []string{"v_5"}},
			{"unknown agent", store.ViolationFilter{AgentID: "a9"}, []string{}},
		} {
			if tc.f.Limit == 0 {
				tc.f.Limit = 10
			}
			got, err := tx.ListViolations(ctx, "o1", tc.f)
			if err != nil {
				return err
			}
			if ids := violationIDs(got); !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, ids, tc.want)
			}
		}
		_, err = tx.ListViolations(ctx, "o1", store.ViolationFilter{Page: store.Page{After: "x", Limit: 10}})
		wantErr(t, err, probity.ErrInvalid, "listing after a bad cursor")
		for agent, want := range map[string]int64{"a1": all[3].LedgerIndex, "a2": all[1].LedgerIndex, "a9": -1} {
			if got, err := tx.LastViolation(ctx, "o1", agent); err != nil || got != want {
				t.Errorf("LastViolation(%s): got %d, %v, want %d", agent, got, err, want)
			}
		}
		if got, err := tx.LastViolation(ctx, "o2", "a1"); err != nil || got != -1 {
			t.Errorf("LastViolation in another org: got %d, %v, want -1", got, err)
		}
		return nil
	})
}

func testViolationOrgIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	update(t, s, func(tx store.Tx) error {
		return tx.InsertViolations(ctx, "o1", []store.Violation{sampleViolation(1, "a1", "c", "major")})
	})
	// The same id in another org is another violation.
	update(t, s, func(tx store.Tx) error {
		return tx.InsertViolations(ctx, "o2", []store.Violation{sampleViolation(1, "a1", "c", "minor")})
	})
	view(t, s, func(tx store.Tx) error {
		for org, sev := range map[string]string{"o1": "major", "o2": "minor"} {
			got, err := tx.ListViolations(ctx, org, store.ViolationFilter{Page: store.Page{Limit: 10}})
			if err != nil {
				return err
			}
			if len(got) != 1 || got[0].Severity != sev {
				t.Errorf("violations of %s: got %+v, want one of severity %s", org, got, sev)
			}
		}
		got, err := tx.ListViolations(ctx, "o3", store.ViolationFilter{Page: store.Page{Limit: 10}})
		if err != nil || len(got) != 0 {
			t.Errorf("violations of an org with none: got %+v, %v, want none", got, err)
		}
		return nil
	})
}
