package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
)

func TestScoreUsage(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"score"}, exitUsage, "show|history|gate|attestation"},
		{[]string{"score", "frob"}, exitUsage, `unknown subcommand "frob"`},
		{[]string{"score", "show"}, exitUsage, "missing AGENT"},
		{[]string{"score", "show", "a", "b"}, exitUsage, "unexpected arguments"},
		{[]string{"score", "history", "a", "--from", "yesterday"}, exitUsage, "--from: want an RFC 3339 time"},
		{[]string{"score", "gate", "--min-score", "x", "a"}, exitUsage, "invalid value"},
		{[]string{"score", "attestation", "-h"}, exitOK, "probity verify attestation FILE"},
		{[]string{"score", "gate", "-h"}, exitOK, "5 when it denies"},
		{[]string{"key", "rotate-signing", "extra"}, exitUsage, "takes no arguments"},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %q: got exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// TestScore: steady-bot passes every built-in suite; its score shows, with
// and without the explanation, the gate allows it and denies plain-bot,
// its history lists what the server stored, and its attestation verifies,
// before and after the signing key is rotated.
func TestScore(t *testing.T) {
	env := evalServer(t)
	c := client.New(env.URL, env.AdminKey)
	suites, err := c.ListSuites(t.Context(), client.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range suites.Items {
		ids = append(ids, s.ID)
	}
	ok(t, "eval", "run", "--agent", "steady-bot", "--suite", strings.Join(ids, ","), "--wait")

	t.Run("show", func(t *testing.T) {
		sc := decode[client.Score](t, ok(t, "score", "show", "steady-bot", "--json"))
		if sc.AgentID != "steady-bot" || sc.CompositeScore < 700 || sc.Explain != nil {
			t.Fatalf("score show --json: got %+v, want steady-bot above 700 without an explanation", sc)
		}
		out := ok(t, "score", "show", "steady-bot")
		head, dims, _ := strings.Cut(out, "\n\n")
		for label, want := range map[string]string{
			"Agent:":           "steady-bot",
			"Composite:":       itoa(sc.CompositeScore) + " / 1000",
			"Tier:":            sc.CertificationTier,
			"Velocity:":        "+0 over 1 day, +0 over 7 days, +0 over 30 days",
			"Pact:":            "none",
			"Badges:":          strings.Join(sc.SecurityPosture.Badges, ", "),
			"Open incidents:":  "0 critical, 0 high, 0 medium",
			"OWASP tested:":    "LLM01, LLM02, LLM05, LLM06, LLM07, LLM09",
			"OWASP uncovered:": "LLM03, LLM04, LLM08, LLM10",
		} {
			if got := fieldOf(t, head, label); got != want {
				t.Errorf("score show: got %s %q, want %q", label, got, want)
			}
		}
		rows := table(dims)
		var names []string
		for _, r := range rows[1:] {
			names = append(names, r[0])
		}
		if !slices.Equal(rows[0], []string{"DIMENSION", "VALUE"}) || !slices.Equal(names, dimensionOrder) {
			t.Errorf("score show: got the table %q, want the six dimensions in order", rows)
		}

		out = ok(t, "score", "show", "--explain", "steady-bot")
		_, rest, _ := strings.Cut(out, "\n\n")
		dimTable, badgeTable, _ := strings.Cut(rest, "\n\n")
		rows = table(dimTable)
		if !slices.Equal(rows[0], strings.Fields("DIMENSION VALUE CONFIDENCE OBSERVATIONS EFFECTIVE PASSES FAILURES WEIGHT CONTRIBUTION")) || len(rows) != 7 {
			t.Fatalf("score show --explain: got the table %q", rows)
		}
		if r := row(t, rows, "security"); r[7] != "0.20" || atoi(t, r[3]) == 0 {
			t.Errorf("score show --explain, security: got %q, want weight 0.20 and observations", r)
		}
		if !strings.HasPrefix(fieldOf(t, out, "Decay:"), "undecayed ") || !strings.HasPrefix(fieldOf(t, out, "Tier:"), sc.CertificationTier+" (composite ") {
			t.Errorf("score show --explain: no decay or tier reason in\n%s", out)
		}
		if r := row(t, table(badgeTable), "injection-free"); r[1] != "yes" || !strings.Contains(r[2], "0 succeeded") {
			t.Errorf("score show --explain, injection-free: got %q", r)
		}
		if r := row(t, table(badgeTable), "monitored"); r[1] != "no" || r[2] != "no records" {
			t.Errorf("score show --explain, monitored: got %q", r)
		}
		if r := cli(t, "score", "show", "ghost"); r.code != exitError || !strings.Contains(r.stderr, "not_found") {
			t.Errorf("score show ghost: got exit %d, stderr %q; want 1 and not_found", r.code, r.stderr)
		}
	})

	t.Run("gate", func(t *testing.T) {
		out := ok(t, "score", "gate", "steady-bot", "--require-badge", "injection-free")
		if !strings.HasPrefix(out, "ALLOW steady-bot: composite ") || strings.Count(out, "\n") != 1 {
			t.Errorf("score gate steady-bot: got %q, want one ALLOW line", out)
		}
		for _, tc := range []struct {
			args    []string
			reasons []string
		}{
			{[]string{"steady-bot", "--min-score", "1000", "--require-badge", "pact-compliant,monitored"},
				[]string{"is below 1000", "badge pact-compliant is missing", "badge monitored is missing"}},
			{[]string{"plain-bot", "--min-tier", "bronze"}, []string{"is below 700", "tier uncertified is below bronze", "no eval evidence"}},
		} {
			r := cli(t, append([]string{"score", "gate"}, tc.args...)...)
			if r.code != exitDenied || !strings.HasPrefix(r.stdout, "DENY "+tc.args[0]+": ") || !strings.Contains(r.stderr, "the gate denies") {
				t.Errorf("score gate %q: got exit %d, stdout %q, stderr %q; want 5 and DENY", tc.args, r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.reasons {
				if !strings.Contains(r.stdout, "  - ") || !strings.Contains(r.stdout, w) {
					t.Errorf("score gate %q: got %q, want the reason %q", tc.args, r.stdout, w)
				}
			}
		}
		r := cli(t, "score", "gate", "plain-bot", "--json")
		if d := decode[client.GateDecision](t, r.stdout); r.code != exitDenied || d.Allow || len(d.Reasons) == 0 {
			t.Errorf("score gate --json: got exit %d, %+v; want 5 and a denial", r.code, d)
		}
		if r := cli(t, "score", "gate", "steady-bot", "--min-tier", "mithril"); r.code != exitError || !strings.Contains(r.stderr, "minTier") {
			t.Errorf("score gate --min-tier mithril: got exit %d, stderr %q; want 1 naming minTier", r.code, r.stderr)
		}
	})

	t.Run("history", func(t *testing.T) {
		if out := ok(t, "score", "history", "steady-bot"); out != "No stored scores of agent steady-bot.\n" {
			t.Errorf("score history before any is stored: got %q", out)
		}
		if err := env.API().RecordScores(t.Context()); err != nil {
			t.Fatal(err)
		}
		rows := table(ok(t, "score", "history", "steady-bot"))
		sc := decode[client.Score](t, ok(t, "score", "show", "steady-bot", "--json"))
		if len(rows) != 2 || !slices.Equal(rows[0], []string{"TIME", "COMPOSITE", "TIER", "LEDGER INDEX"}) ||
			rows[1][1] != itoa(sc.CompositeScore) || rows[1][2] != sc.CertificationTier {
			t.Errorf("score history: got %q, want one point of %d", rows, sc.CompositeScore)
		}
		if out := ok(t, "score", "history", "steady-bot", "--from", "2999-01-01T00:00:00Z"); !strings.HasPrefix(out, "No stored scores") {
			t.Errorf("score history --from 2999: got %q", out)
		}
		if pts := decode[[]client.ScorePoint](t, ok(t, "score", "history", "steady-bot", "--to", "2000-01-01T00:00:00Z", "--json")); pts == nil || len(pts) != 0 {
			t.Errorf("score history --to 2000 --json: got %v, want []", pts)
		}
	})

	t.Run("attestation", func(t *testing.T) {
		dir := t.TempDir()
		before := filepath.Join(dir, "before.json")
		out := ok(t, "score", "attestation", "steady-bot", "--out", before)
		if !strings.Contains(out, "probity verify attestation "+before) {
			t.Errorf("score attestation --out: got %q, want how to verify", out)
		}
		env0 := readEnvelope(t, before)
		if out := ok(t, "verify", "attestation", before, "--agent", "default/steady-bot"); !strings.Contains(out, "VERIFIED: signed by key "+env0.Signatures[0].KeyID+" (active)") {
			t.Errorf("verify attestation: got\n%s", out)
		}
		if e, err := attest.ParseEnvelope([]byte(ok(t, "score", "attestation", "plain-bot"))); err != nil || len(e.Signatures) != 1 {
			t.Errorf("score attestation to stdout: got %+v, %v", e, err)
		}

		// Rotate the signing key while the server runs: new attestations are
		// signed by the new key, and the old one still verifies, retired.
		rot := decode[map[string]string](t, ok(t, "key", "rotate-signing", "--data", env.DataDir, "--json"))
		if rot["keyid"] == "" || rot["keyid"] == env0.Signatures[0].KeyID || rot["org"] != "default" {
			t.Fatalf("key rotate-signing --json: got %v, want a new key id", rot)
		}
		// The server may reuse the key it read for a few seconds.
		after := filepath.Join(dir, "after.json")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			ok(t, "score", "attestation", "steady-bot", "--out", after)
			got := readEnvelope(t, after).Signatures[0].KeyID
			if got == rot["keyid"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("attestation after the rotation: signed by %s, want %s", got, rot["keyid"])
			}
		}
		if out := ok(t, "verify", "attestation", after); !strings.Contains(out, "VERIFIED: signed by key "+rot["keyid"]+" (active)") {
			t.Errorf("verify attestation after the rotation: got\n%s", out)
		}
		if out := ok(t, "verify", "attestation", before); !strings.Contains(out, "VERIFIED: signed by key "+env0.Signatures[0].KeyID+", which is retired") {
			t.Errorf("verify attestation signed before the rotation: got\n%s", out)
		}
		out = ok(t, "key", "rotate-signing", "--data", env.DataDir)
		if !strings.HasPrefix(out, "Made attestation key ") || !strings.Contains(out, "for org default") {
			t.Errorf("key rotate-signing: got %q", out)
		}
		if r := cli(t, "key", "rotate-signing", "--data", env.DataDir, "--org", "nope"); r.code != exitError || !strings.Contains(r.stderr, "not found") {
			t.Errorf("key rotate-signing --org nope: got exit %d, stderr %q; want 1 and not found", r.code, r.stderr)
		}
	})
}

func readEnvelope(t *testing.T, path string) attest.Envelope {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := attest.ParseEnvelope(b)
	if err != nil || len(e.Signatures) != 1 {
		t.Fatalf("%s: got %+v, %v; want a signed envelope", path, e, err)
	}
	return e
}

// TestScoreUntrustedText: what agents' owners wrote reaches the terminal
// made printable (the server refuses escapes, not tabs or newlines).
func TestScoreUntrustedText(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)
	c := client.New(env.URL, env.AdminKey)
	if _, err := c.CreateAgent(t.Context(), probity.Agent{ID: "odd-bot", Model: probity.Model{Provider: "x\ny", Name: "a\tb", Version: "1"}}); err != nil {
		t.Fatal(err)
	}
	out := ok(t, "score", "show", "odd-bot", "--explain")
	if strings.ContainsAny(out, "\t") || fieldOf(t, out, "Model:") != "x?y/a?b 1" {
		t.Errorf("score show: control characters reached the output:\n%q", out)
	}
}

// fieldOf returns the value of the line of out that starts with label.
func fieldOf(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + ` +(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("no %q line in\n%s", label, out)
		return ""
	}
	return m[1]
}

func itoa(n int) string { return strconv.Itoa(n) }
