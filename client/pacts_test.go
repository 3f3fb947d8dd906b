package client_test

import (
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

func TestPactsSQLite(t *testing.T) {
	pacts(t, apptest.Start(t))
}

func TestPactsPostgres(t *testing.T) {
	pacts(t, apptest.Start(t, apptest.WithPostgres(pgtest.TempDSN(t))))
}

func readPact(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../internal/pact/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pacts applies, reads, lists and diffs pacts, and checks the errors a
// client sees for a pact that does not compile and for a conflict.
func pacts(t *testing.T, env *apptest.Env) {
	ctx := t.Context()
	c := client.New(env.URL, env.AdminKey)
	for _, id := range []string{"support-bot", "support-bot-canary"} {
		if _, err := c.CreateAgent(ctx, probity.Agent{ID: id}); err != nil {
			t.Fatalf("CreateAgent %s: %v", id, err)
		}
	}

	src := readPact(t, "good/support-agent.yaml")
	v1, created, err := c.ApplyPact(ctx, src, client.PactYAML)
	if err != nil {
		t.Fatalf("ApplyPact: %v", err)
	}
	if !created || v1.ID != "support-agent" || v1.Version != 1 || !strings.HasPrefix(v1.Digest, "sha256:") ||
		!slices.Equal(v1.Agents, []string{"support-bot", "support-bot-canary"}) || v1.CreatedAt.IsZero() {
		t.Errorf("ApplyPact: got %+v, created %v; want version 1 of support-agent, created", v1, created)
	}

	again, created, err := c.ApplyPact(ctx, src, client.PactYAML)
	if err != nil || created || again.Version != 1 || again.Digest != v1.Digest || again.LedgerIndex != v1.LedgerIndex {
		t.Errorf("ApplyPact again: got %+v, created %v, err %v; want version 1 unchanged", again, created, err)
	}

	src2 := []byte(strings.Replace(string(src), "args.amount <= 100", "args.amount <= 50", 1))
	v2, created, err := c.ApplyPact(ctx, src2, client.PactYAML)
	if err != nil || !created || v2.Version != 2 || v2.Digest == v1.Digest {
		t.Fatalf("ApplyPact changed: got %+v, created %v, err %v; want version 2", v2, created, err)
	}

	latest, err := c.GetPact(ctx, "support-agent")
	if err != nil || latest.Version != 2 || latest.Source != string(src2) || len(latest.Canonical) == 0 {
		t.Errorf("GetPact: got version %d, err %v, source %d bytes; want version 2 with its source", latest.Version, err, len(latest.Source))
	}
	first, err := c.GetPactVersion(ctx, "support-agent", 1)
	if err != nil || first.Version != 1 || first.Digest != v1.Digest || first.Source != string(src) {
		t.Errorf("GetPactVersion 1: got %+v, err %v; want version 1", first, err)
	}
	if _, err := c.GetPactVersion(ctx, "support-agent", 3); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("GetPactVersion 3: got %v, want ErrNotFound", err)
	}
	if _, err := c.GetPact(ctx, "nosuch"); !errors.Is(err, probity.ErrNotFound) {
		t.Errorf("GetPact nosuch: got %v, want ErrNotFound", err)
	}

	page, err := c.ListPacts(ctx, client.ListOptions{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "support-agent" || page.Items[0].Version != 2 {
		t.Errorf("ListPacts: got %+v, err %v; want support-agent at version 2", page, err)
	}

	for _, tc := range []struct {
		from, to, wantFrom, wantTo int
		changed                    bool
	}{
		{0, 0, 1, 2, true},
		{1, 2, 1, 2, true},
		{2, 2, 2, 2, false},
	} {
		d, err := c.PactDiff(ctx, "support-agent", tc.from, tc.to)
		if err != nil {
			t.Fatalf("PactDiff %d %d: %v", tc.from, tc.to, err)
		}
		if d.From != tc.wantFrom || d.To != tc.wantTo || (d.Diff != "") != tc.changed {
			t.Errorf("PactDiff %d %d: got %+v, want from %d to %d, changed %v", tc.from, tc.to, d, tc.wantFrom, tc.wantTo, tc.changed)
		}
		if tc.changed && (!strings.Contains(d.Diff, "- ") || !strings.Contains(d.Diff, "100") || !strings.Contains(d.Diff, "50")) {
			t.Errorf("PactDiff %d %d: got diff\n%s\nwant the refund limit changed from 100 to 50", tc.from, tc.to, d.Diff)
		}
	}

	_, _, err = c.ApplyPact(ctx, readPact(t, "bad/cel-errors.yaml"), client.PactYAML)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || !errors.Is(err, probity.ErrInvalid) {
		t.Fatalf("ApplyPact bad: got %v, want a 422 *client.Error", err)
	}
	want := []client.Detail{
		{Line: 8, Column: 28, Field: "scope.tools[0].when"},
		{Line: 11, Column: 33, Field: "scope.tools[1].when"},
		{Line: 14, Column: 13, Field: "scope.tools[2].when"},
		{Line: 17, Column: 25, Field: "scope.tools[3].when"},
		{Line: 22, Column: 25, Field: "scope.tools[4].when"},
	}
	if len(ce.Details) != len(want) {
		t.Fatalf("ApplyPact bad: got %d details %+v, want %d", len(ce.Details), ce.Details, len(want))
	}
	for i, d := range ce.Details {
		if d.Line != want[i].Line || d.Column != want[i].Column || d.Field != want[i].Field || d.Message == "" {
			t.Errorf("detail %d: got %+v, want %+v with a message", i, d, want[i])
		}
	}

	other := []byte("apiVersion: probity/v1\nkind: Pact\nid: other\nagents: [support-bot]\n")
	if _, _, err := c.ApplyPact(ctx, other, client.PactYAML); !errors.Is(err, probity.ErrConflict) {
		t.Errorf("ApplyPact naming a bound agent: got %v, want ErrConflict", err)
	}
	minimal := []byte(`{"apiVersion": "probity/v1", "kind": "Pact", "id": "minimal"}`)
	v, created, err := c.ApplyPact(ctx, minimal, client.PactJSON)
	if err != nil || !created || v.ID != "minimal" || len(v.Agents) != 0 {
		t.Errorf("ApplyPact minimal: got %+v, created %v, err %v; want version 1 of minimal with no agents", v, created, err)
	}
}
