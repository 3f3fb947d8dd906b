package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

// noSchedule keeps the server from judging commitments on its own while a
// test does.
func noSchedule(c *app.Config) { c.CommitmentInterval = 24 * time.Hour }

func TestViolationsSQLite(t *testing.T) {
	violations(t, apptest.Start(t, noSchedule))
}

func TestViolationsPostgres(t *testing.T) {
	violations(t, apptest.Start(t, noSchedule, apptest.WithPostgres(pgtest.TempDSN(t))))
}

// ev is one record of support-bot's session s-1 at time at.
func ev(id string, at time.Time, typ, rest string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"agentId":"support-bot","sessionId":"s-1","time":%q,"type":%q%s}`,
		id, at.UTC().Format(time.RFC3339Nano), typ, rest))
}

// violations sends records that break support-agent's pact, lists the
// violations with filters and pages, and judges the commitments.
func violations(t *testing.T, env *apptest.Env) {
	ctx := t.Context()
	c := client.New(env.URL, env.AdminKey)
	for _, id := range []string{"support-bot", "support-bot-canary"} {
		if _, err := c.CreateAgent(ctx, probity.Agent{ID: id}); err != nil {
			t.Fatalf("CreateAgent %s: %v", id, err)
		}
	}
	if _, _, err := c.ApplyPact(ctx, readPact(t, "good/support-agent.yaml"), client.PactYAML); err != nil {
		t.Fatalf("ApplyPact: %v", err)
	}

	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	batch := []json.RawMessage{
		ev("r-1", t0, "tool_call", `,"tool":{"name":"issue_refund","arguments":{"amount":250}}`),
		ev("r-2", t0.Add(time.Second), "tool_call", `,"tool":{"name":"delete_account"}`),
		// SendEvents compacts events rather than marshalling them, which
		// would escape < and >; the output detector still sees the markup.
		ev("r-3", t0.Add(2*time.Second), "model_output", `,"content":"<script>alert(1)</script>","latencyMs":4500`),
	}
	res, err := c.SendEvents(ctx, batch)
	if err != nil {
		t.Fatalf("SendEvents: %v", err)
	}
	type brief struct{ clause, kind, severity, evidence string }
	briefs := func(vs []client.Violation) []brief {
		out := []brief{}
		for _, v := range vs {
			out = append(out, brief{v.Clause, v.Kind, v.Severity, strings.Join(v.RecordIDs, ",")})
		}
		return out
	}
	want := []brief{
		{"refund-limit", client.KindScopeWhen, "critical", "r-1"},
		{"scope.tools", client.KindScopeTool, "major", "r-2"},
		{"no-markup", client.KindOutput, "major", "r-3"},
	}
	if res.Accepted != 3 || res.Duplicates != 0 || res.Conflicts != 0 || !slices.Equal(briefs(res.Violations), want) {
		t.Fatalf("SendEvents: got %+v, want 3 accepted and violations %v", res, want)
	}
	for _, v := range res.Violations {
		if v.ID != fmt.Sprintf("v_%d", v.LedgerIndex) || v.AgentID != "support-bot" || v.PactID != "support-agent" ||
			v.PactVersion != 1 || v.Explanation == "" || v.Time.IsZero() || v.Confirmed {
			t.Errorf("violation: got %+v", v)
		}
	}

	again, err := c.SendEvents(ctx, batch)
	if err != nil || again.Accepted != 0 || again.Duplicates != 3 || len(again.Violations) != 0 {
		t.Errorf("SendEvents again: got %+v, err %v; want 3 duplicates and no violations", again, err)
	}
	changed := ev("r-1", t0, "tool_call", `,"tool":{"name":"issue_refund","arguments":{"amount":20}}`)
	if res, err := c.SendEvents(ctx, []json.RawMessage{changed}); err != nil || res.Conflicts != 1 || !slices.Equal(res.ConflictIDs, []string{"r-1"}) {
		t.Errorf("SendEvents conflicting: got %+v, err %v; want 1 conflict, r-1", res, err)
	}

	_, err = c.SendEvents(ctx, []json.RawMessage{
		ev("b-1", t0, "model_output", ""),
		ev("b-2", t0, "no_such_type", ""),
		ev("b-3", t0.Add(72*time.Hour), "model_output", ""),
	})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !errors.Is(err, probity.ErrInvalid) {
		t.Fatalf("SendEvents bad: got %v, want a 400 *client.Error", err)
	}
	if len(ce.Details) != 2 || ce.Details[0].Index != 1 || ce.Details[0].Field != "type" ||
		ce.Details[1].Index != 2 || ce.Details[1].Field != "time" {
		t.Errorf("SendEvents bad: got details %+v, want type of event 1 and time of event 2", ce.Details)
	}
	if _, err := c.SendEvents(ctx, nil); !errors.Is(err, probity.ErrInvalid) {
		t.Errorf("SendEvents nothing: got %v, want ErrInvalid", err)
	}

	for _, tc := range []struct {
		f    client.ViolationFilter
		want []string
	}{
		{client.ViolationFilter{}, []string{"r-1", "r-2", "r-3"}},
		{client.ViolationFilter{AgentID: "support-bot", Severity: "major"}, []string{"r-2", "r-3"}},
		{client.ViolationFilter{Clause: "refund-limit"}, []string{"r-1"}},
		{client.ViolationFilter{Kind: client.KindOutput}, []string{"r-3"}},
		{client.ViolationFilter{From: t0.Add(time.Second), To: t0.Add(2 * time.Second)}, []string{"r-2"}},
		{client.ViolationFilter{AgentID: "support-bot-canary"}, []string{}},
	} {
		list := func(ctx context.Context, o client.ListOptions) (client.Page[client.Violation], error) {
			f := tc.f
			f.ListOptions = client.ListOptions{Limit: 1, Cursor: o.Cursor}
			return c.ListViolations(ctx, f)
		}
		got := []string{}
		for v, err := range client.All(ctx, list) {
			if err != nil {
				t.Fatalf("ListViolations %+v: %v", tc.f, err)
			}
			got = append(got, v.RecordIDs...)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListViolations %+v, a page of 1 at a time: got evidence %q, want %q", tc.f, got, tc.want)
		}
	}
	if _, err := c.ListViolations(ctx, client.ViolationFilter{Kind: "nosuch"}); !errors.Is(err, probity.ErrInvalid) {
		t.Errorf("ListViolations kind nosuch: got %v, want ErrInvalid", err)
	}

	ev1, err := c.EvaluateCommitments(ctx, "support-agent")
	if err != nil {
		t.Fatalf("EvaluateCommitments: %v", err)
	}
	if ev1.EvaluatedAt.IsZero() || len(ev1.Results) != 6 {
		t.Fatalf("EvaluateCommitments: got %+v, want 3 commitments for each of 2 agents", ev1)
	}
	var fast, canary *client.CommitmentResult
	for i, r := range ev1.Results {
		switch {
		case r.AgentID == "support-bot" && r.Clause == "fast":
			fast = &ev1.Results[i]
		case r.AgentID == "support-bot-canary" && r.Clause == "fast":
			canary = &ev1.Results[i]
		}
	}
	if fast == nil || canary == nil {
		t.Fatalf("EvaluateCommitments: got %+v, want fast for both agents", ev1.Results)
	}
	if !fast.Breached || fast.Observed == nil || *fast.Observed != 4500 || fast.Samples != 1 || fast.Metric != "latency_p95_ms" ||
		fast.Op != "<=" || fast.Value != 2000 || fast.Window != "1d" || fast.PactVersion != 1 || fast.Violation == nil ||
		fast.Violation.Kind != client.KindCommitment || !slices.Equal(fast.Violation.RecordIDs, []string{"r-3"}) {
		t.Errorf("EvaluateCommitments fast: got %+v, want breached at 4500 over 1 sample, violation with evidence r-3", fast)
	}
	if canary.Breached || canary.Observed != nil || canary.Samples != 0 || canary.Violation != nil {
		t.Errorf("EvaluateCommitments fast for the canary: got %+v, want held with no samples", canary)
	}
	ev2, err := c.EvaluateCommitments(ctx, "support-agent")
	if err != nil {
		t.Fatalf("EvaluateCommitments again: %v", err)
	}
	for _, r := range ev2.Results {
		if r.AgentID == "support-bot" && r.Clause == "fast" && (r.Violation != nil || r.ReportedAs != fast.Violation.ID) {
			t.Errorf("EvaluateCommitments again: got %+v, want reported as %s", r, fast.Violation.ID)
		}
	}
	if _, err := c.EvaluateCommitments(ctx, "nosuch"); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("EvaluateCommitments nosuch: got %v, want ErrNotFound", err)
	}
}
