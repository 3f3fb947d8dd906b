package client_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/eval"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
)

// noEvalWorkers keeps runs queued, so that a test sees them before any
// worker does. Runs that complete are tested through the CLI's --wait.
func noEvalWorkers(c *app.Config) { c.EvalWorkers = 0 }

func TestEvalsSQLite(t *testing.T) {
	evals(t, apptest.Start(t, noEvalWorkers))
}

func TestEvalsPostgres(t *testing.T) {
	evals(t, apptest.Start(t, noEvalWorkers, apptest.WithPostgres(pgtest.TempDSN(t))))
}

// evals lists the suites, queues runs against a reference agent, lists,
// reads and cancels them, and checks the server's refusals.
func evals(t *testing.T, env *apptest.Env) {
	ctx := t.Context()
	c := client.New(env.URL, env.AdminKey)
	base := tbtest.Start(t, testbed.Options{})
	for _, a := range []probity.Agent{
		{ID: "steady-bot", Endpoint: &probity.Endpoint{Kind: "openai", URL: base + "/v1", Model: "steady"}},
		{ID: "plain-bot"},
	} {
		if _, err := c.CreateAgent(ctx, a); err != nil {
			t.Fatalf("CreateAgent %s: %v", a.ID, err)
		}
	}

	suites, err := c.ListSuites(ctx, client.ListOptions{})
	if err != nil {
		t.Fatalf("ListSuites: %v", err)
	}
	ids := make([]string, len(suites.Items))
	cases := map[string]int{}
	for i, s := range suites.Items {
		ids[i], cases[s.ID] = s.ID, s.Cases
		if s.Cases < 40 || len(s.Dimensions) == 0 || !s.Builtin || s.Description == "" {
			t.Errorf("suite %s: got %+v, want at least 40 cases, dimensions, builtin and a description", s.ID, s)
		}
	}
	if len(ids) != 10 || !slices.IsSorted(ids) || !slices.Contains(ids, "safety") || suites.NextCursor != "" {
		t.Errorf("ListSuites: got %v (next %q), want the 10 built-in suites by id", ids, suites.NextCursor)
	}
	var paged []string
	for s, err := range client.All(ctx, func(ctx context.Context, o client.ListOptions) (client.Page[client.Suite], error) {
		o.Limit = 3
		return c.ListSuites(ctx, o)
	}) {
		if err != nil {
			t.Fatalf("ListSuites by 3: %v", err)
		}
		paged = append(paged, s.ID)
	}
	if !slices.Equal(paged, ids) {
		t.Errorf("ListSuites by 3: got %v, want %v", paged, ids)
	}

	first, err := c.StartEval(ctx, "steady-bot", []string{"safety"}, 0)
	if err != nil {
		t.Fatalf("StartEval: %v", err)
	}
	second, err := c.StartEval(ctx, "steady-bot", []string{"safety", "injection-indirect"}, 2)
	if err != nil {
		t.Fatalf("StartEval repeat 2: %v", err)
	}
	if !strings.HasPrefix(first.ID, "ev_") || first.AgentID != "steady-bot" || !slices.Equal(first.Suites, []string{"safety"}) ||
		first.Repeat != 1 || first.Trigger != "manual" || first.Status != client.EvalQueued || first.Ended() ||
		first.Progress != (client.EvalProgress{Done: 0, Total: cases["safety"]}) || first.CreatedAt.IsZero() ||
		first.LedgerIndex == 0 || first.Summary != nil || !first.StartedAt.IsZero() {
		t.Errorf("StartEval: got %+v, want a queued run of %d cases", first, cases["safety"])
	}
	if want := 2 * (cases["safety"] + cases["injection-indirect"]); second.Repeat != 2 || second.Progress.Total != want {
		t.Errorf("StartEval repeat 2: got repeat %d, total %d; want 2 and %d", second.Repeat, second.Progress.Total, want)
	}

	for _, tc := range []struct {
		agent  string
		suites []string
		repeat int
		field  string
		msg    string
	}{
		{"steady-bot", []string{"nope"}, 1, "suites[0]", `unknown suite "nope"`},
		{"steady-bot", []string{"safety", "safety"}, 1, "suites[1]", "named twice"},
		{"steady-bot", nil, 1, "suites", "is required"},
		{"steady-bot", []string{"safety"}, 11, "repeat", "between 1 and 10"},
		{"ghost", []string{"safety"}, 1, "agentId", `unknown agent "ghost"`},
		{"plain-bot", []string{"safety"}, 1, "agentId", "has no endpoint to evaluate"},
	} {
		_, err := c.StartEval(ctx, tc.agent, tc.suites, tc.repeat)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !errors.Is(err, probity.ErrInvalid) ||
			ce.Field != tc.field || !strings.Contains(ce.Message, tc.msg) {
			t.Errorf("StartEval(%s, %v, %d): got %v, want a 400 on %s saying %q", tc.agent, tc.suites, tc.repeat, err, tc.field, tc.msg)
		}
	}

	got, err := c.GetEval(ctx, first.ID)
	if err != nil || got.ID != first.ID || got.Status != client.EvalQueued || got.Summary != nil || got.Progress != first.Progress {
		t.Errorf("GetEval: got %+v, %v; want the queued run without a summary", got, err)
	}
	if _, err := c.GetEval(ctx, "ev_nope"); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("GetEval unknown: got %v, want ErrNotFound", err)
	}

	list, err := c.ListEvals(ctx, "", client.ListOptions{})
	if err != nil || len(list.Items) != 2 || list.Items[0].ID != second.ID || list.Items[1].ID != first.ID {
		t.Errorf("ListEvals: got %+v, %v; want the two runs, newest first", list, err)
	}
	page, err := c.ListEvals(ctx, "steady-bot", client.ListOptions{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != second.ID || page.NextCursor == "" {
		t.Fatalf("ListEvals limit 1: got %+v, %v; want the newest run and a cursor", page, err)
	}
	page, err = c.ListEvals(ctx, "steady-bot", client.ListOptions{Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != first.ID {
		t.Errorf("ListEvals next page: got %+v, %v; want the first run", page, err)
	}
	if none, err := c.ListEvals(ctx, "plain-bot", client.ListOptions{}); err != nil || len(none.Items) != 0 {
		t.Errorf("ListEvals plain-bot: got %+v, %v; want none", none, err)
	}

	res, err := c.EvalResults(ctx, first.ID, client.ListOptions{})
	if err != nil || len(res.Items) != 0 || res.NextCursor != "" {
		t.Errorf("EvalResults of a queued run: got %+v, %v; want none", res, err)
	}
	if _, err := c.EvalResults(ctx, "ev_nope", client.ListOptions{}); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("EvalResults unknown: got %v, want ErrNotFound", err)
	}

	cancelled, err := c.CancelEval(ctx, first.ID)
	if err != nil || cancelled.Status != client.EvalCancelled || !cancelled.Ended() ||
		!strings.HasPrefix(cancelled.Reason, "cancelled by ") || cancelled.FinishedAt.IsZero() {
		t.Errorf("CancelEval: got %+v, %v; want cancelled with a reason and a finish time", cancelled, err)
	}
	if _, err := c.CancelEval(ctx, first.ID); !errors.Is(err, probity.ErrConflict) {
		t.Errorf("CancelEval again: got %v, want ErrConflict", err)
	}
	if _, err := c.CancelEval(ctx, "ev_nope"); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("CancelEval unknown: got %v, want ErrNotFound", err)
	}
}

// Proportion gives the server's Wilson intervals, so that the pass rate a
// client computes for a suite matches the one the server gives for a
// dimension.
func TestProportion(t *testing.T) {
	for n := range 60 {
		for k := range n + 1 {
			r := client.Proportion(k, n)
			lo, hi := eval.Wilson(k, n)
			if r.Lo != lo || r.Hi != hi || r.Count != k || r.N != n || (n > 0 && r.Rate != float64(k)/float64(n)) {
				t.Fatalf("Proportion(%d, %d): got %+v, want [%v, %v]", k, n, r, lo, hi)
			}
		}
	}
	s := client.EvalSummary{Cases: 10, Passed: 6, Failed: 2, Errors: 2}
	if r := s.PassRate(); r.Count != 6 || r.N != 8 || r.Rate != 0.75 {
		t.Errorf("PassRate: got %+v, want 6 of 8 graded cases", r)
	}
}
