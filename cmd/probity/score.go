package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/client"
)

// exitDenied is score gate's answer when the gate denies delegating to
// the agent, so that an orchestrator's script can stop on it.
const exitDenied = 5

func runScore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity score show|history|gate|attestation AGENT [flags]\n" +
		"  show AGENT [--explain]        the agent's trust score now: composite, tier, dimensions, badges, OWASP posture\n" +
		"  history AGENT [--from --to]   the scores stored over time\n" +
		"  gate AGENT [--min-score N]    whether to delegate to the agent now (exit 0 allow, 5 deny)\n" +
		"  attestation AGENT [--out F]   the signed trust attestation; 'probity verify attestation F' verifies it\n" +
		"Run 'probity score <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "show":
		return scoreShow(ctx, args[1:], stdout, stderr)
	case "history":
		return scoreHistory(ctx, args[1:], stdout, stderr)
	case "gate":
		return scoreGate(ctx, args[1:], stdout, stderr)
	case "attestation":
		return scoreAttestation(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("score: unknown subcommand %q\n%s", args[0], use)
}

func scoreShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("score show", stderr)
	var af apiFlags
	af.register(fs)
	explain := fs.Bool("explain", false, "also show each dimension's evidence, weight and contribution, the decay, and why each badge is awarded or not")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity score show AGENT [--explain] [flags]\n\n"+
			"Shows the agent's trust score, computed now from the evidence stored (docs/scoring.md):\n"+
			"the composite (0–1000), tier, confidence and velocity, the six dimensions, badges,\n"+
			"OWASP LLM Top 10 posture, the evidence it rests on, the model and the pact. With --json\n"+
			"it prints the score object of GET /v1/agents/{id}/score.")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "AGENT", &af)
	if err != nil {
		return err
	}
	sc, err := c.GetScore(ctx, id, *explain)
	if err != nil {
		return af.callError("getting the score of agent "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, sc)
	}
	return printScore(stdout, sc)
}

// printScore writes a score, its dimensions and, when it has one, its
// explanation. Everything in it comes from the server, so text goes
// through printable.
func printScore(w io.Writer, sc client.Score) error {
	ex, explained, err := sc.Explanation()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Agent:", printable(sc.AgentID))
	row("Composite:", fmt.Sprintf("%d / 1000", sc.CompositeScore))
	tier := orDash(sc.CertificationTier)
	if explained && ex.TierReason != "" {
		tier += " (" + printable(ex.TierReason) + ")"
	}
	row("Tier:", tier)
	row("Confidence:", fmt.Sprintf("%.2f", sc.Confidence))
	v := sc.ScoreVelocity
	row("Velocity:", fmt.Sprintf("%+d over 1 day, %+d over 7 days, %+d over 30 days", v.Last1Day, v.Last7Days, v.Last30Days))
	if explained {
		row("Decay:", fmt.Sprintf("undecayed %.1f × factor %.4g (%.1f days past the grace period)", ex.UndecayedComposite, ex.DecayFactor, ex.DecayDays))
	}
	row("Model:", modelString(sc.Model))
	if p := sc.Pact; p.ID != "" {
		row("Pact:", fmt.Sprintf("%s v%d (%s)", printable(p.ID), p.Version, printable(p.Digest)))
	} else {
		row("Pact:", "none")
	}
	e := sc.Evidence
	row("Evidence:", fmt.Sprintf("%d eval cases (last %s), %d records (last %s)", e.EvalCases, timeOrNever(e.LastEvalAt), e.Records, timeOrNever(e.LastRecordAt)))
	row("Badges:", listOrNone(sc.SecurityPosture.Badges))
	oi := sc.SecurityPosture.OpenIncidents
	row("Open incidents:", fmt.Sprintf("%d critical, %d high, %d medium", oi.Critical, oi.High, oi.Medium))
	row("Clean streak:", fmt.Sprintf("%d days", sc.SecurityPosture.CleanStreakDays))
	byCoverage := map[string][]string{}
	for _, id := range sortedKeys(sc.SecurityPosture.OWASP) {
		cov := sc.SecurityPosture.OWASP[id]
		byCoverage[cov] = append(byCoverage[cov], id)
	}
	for _, cov := range []string{"tested", "monitored", "uncovered"} {
		row("OWASP "+cov+":", listOrNone(byCoverage[cov]))
		delete(byCoverage, cov)
	}
	for _, cov := range sortedKeys(byCoverage) { // a coverage this client does not know
		row("OWASP "+printable(cov)+":", listString(byCoverage[cov]))
	}
	row("Computed:", sc.ComputedAt.UTC().Format(time.RFC3339))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !explained {
		fmt.Fprintln(tw, "DIMENSION\tVALUE")
		for _, name := range dimensionNames(sortedKeys(sc.Dimensions)...) {
			fmt.Fprintf(tw, "%s\t%.4f\n", printable(name), sc.Dimensions[name])
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "DIMENSION\tVALUE\tCONFIDENCE\tOBSERVATIONS\tEFFECTIVE\tPASSES\tFAILURES\tWEIGHT\tCONTRIBUTION")
	for _, name := range dimensionNames(slices.Concat(sortedKeys(sc.Dimensions), sortedKeys(ex.Dimensions))...) {
		d, ok := ex.Dimensions[name]
		if !ok {
			fmt.Fprintf(tw, "%s\t%.4f\t-\t-\t-\t-\t-\t-\t-\n", printable(name), sc.Dimensions[name])
			continue
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\n", printable(name), d.Value, d.Confidence,
			d.Observations, d.EffectiveEvidence, d.Passes, d.Failures, d.Weight, d.Contribution)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if ex.Ignored > 0 {
		fmt.Fprintf(w, "(%d observations left out as invalid)\n", ex.Ignored)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BADGE\tAWARDED\tWHY")
	for _, b := range ex.Badges {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", printable(b.Name), yesNo(b.Awarded), printable(b.Reason))
	}
	return tw.Flush()
}

// dimensionNames returns names without repeats, in the order DESIGN.md
// lists the dimensions, then the others by name.
func dimensionNames(names ...string) []string {
	var out, extra []string
	for _, name := range dimensionOrder {
		if slices.Contains(names, name) {
			out = append(out, name)
		}
	}
	for _, name := range names {
		if !slices.Contains(dimensionOrder, name) && !slices.Contains(extra, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return printable(strings.Join(items, ", "))
}

func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func scoreHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("score history", stderr)
	var af apiFlags
	af.register(fs)
	from := fs.String("from", "", "only scores stored at or after this RFC 3339 `time`")
	to := fs.String("to", "", "only scores stored before this RFC 3339 `time`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity score history AGENT [--from TIME] [--to TIME] [flags]\n\n"+
			"Lists the agent's stored scores, oldest first. The server stores one, as a ledger\n"+
			"leaf, whenever the composite, tier or badges change.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "AGENT")
	if err != nil {
		return err
	}
	var fromT, toT time.Time
	for _, p := range []struct {
		name, s string
		t       *time.Time
	}{{"from", *from, &fromT}, {"to", *to, &toT}} {
		if p.s == "" {
			continue
		}
		if *p.t, err = time.Parse(time.RFC3339, p.s); err != nil {
			return usagef("--%s: want an RFC 3339 time, such as 2026-11-02T15:04:05Z", p.name)
		}
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	points, err := c.ScoreHistory(ctx, pos[0], fromT, toT)
	if err != nil {
		return af.callError("getting the score history of agent "+printable(pos[0]), err)
	}
	if af.json {
		if points == nil {
			points = []client.ScorePoint{}
		}
		return writeJSON(stdout, points)
	}
	if len(points) == 0 {
		fmt.Fprintf(stdout, "No stored scores of agent %s.\n", printable(pos[0]))
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCOMPOSITE\tTIER\tLEDGER INDEX")
	for _, p := range points {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", p.Time.UTC().Format(time.RFC3339), p.CompositeScore, orDash(p.CertificationTier), p.LedgerIndex)
	}
	return tw.Flush()
}

func scoreGate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("score gate", stderr)
	var af apiFlags
	af.register(fs)
	minScore := fs.Int("min-score", 700, "the least composite `score` allowed, 0 to 1000")
	minTier := fs.String("min-tier", "", "the least `tier` allowed: platinum, gold, silver, bronze or uncertified")
	var badges listFlag
	fs.Var(&badges, "require-badge", "a `badge` the agent must hold, such as injection-free; repeat the flag or separate badges with commas")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity score gate AGENT [--min-score N] [--min-tier TIER] [--require-badge B …] [flags]\n\n"+
			"Asks the server whether to delegate to the agent now (POST /v1/gate). It denies when the\n"+
			"agent is suspended, below the minimum score or tier, lacks a required badge, or has no\n"+
			"fresh eval evidence, and lists every reason.\n\n"+
			"Exit status: 0 when the gate allows, 5 when it denies, 1 on errors.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "AGENT")
	if err != nil {
		return err
	}
	req := client.GateRequest{AgentID: pos[0], MinTier: *minTier, RequireBadges: badges}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "min-score" {
			req.MinScore = minScore
		}
	})
	c, err := af.client()
	if err != nil {
		return err
	}
	d, err := c.Gate(ctx, req)
	if err != nil {
		return af.callError("asking the gate about agent "+printable(pos[0]), err)
	}
	if af.json {
		if err := writeJSON(stdout, d); err != nil {
			return err
		}
	} else {
		verdict := "ALLOW"
		if !d.Allow {
			verdict = "DENY"
		}
		fmt.Fprintf(stdout, "%s %s: composite %d, tier %s, %s\n", verdict, printable(pos[0]), d.CompositeScore, orDash(d.CertificationTier), orDash(d.Status))
		for _, r := range d.Reasons {
			fmt.Fprintf(stdout, "  - %s\n", printable(r))
		}
	}
	if !d.Allow {
		return &codeError{exitDenied, fmt.Sprintf("the gate denies delegating to agent %s", printable(pos[0]))}
	}
	return nil
}

func scoreAttestation(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("score attestation", stderr)
	var af apiFlags
	af.register(fs)
	out := fs.String("out", "", "write the attestation to `file` instead of stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity score attestation AGENT [--out FILE] [flags]\n\n"+
			"Fetches the agent's trust attestation: its trust state now, signed by the org's\n"+
			"attestation key as a DSSE envelope over an in-toto statement, valid for 24 hours\n"+
			"(GET /v1/agents/{id}/attestation). It is written as fetched, unverified; verify it with\n\n"+
			"    probity verify attestation FILE [--keys KEYS.json]\n\n"+
			"where KEYS.json is a GET /v1/keys answer from a source you trust, to verify offline.")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "AGENT", &af)
	if err != nil {
		return err
	}
	env, err := c.GetAttestation(ctx, id)
	if err != nil {
		return af.callError("getting the attestation of agent "+printable(id), err)
	}
	if *out == "" {
		return writeJSON(stdout, env)
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("writing the attestation: %w", err)
	}
	if err := writeJSON(f, env); err != nil {
		f.Close()
		return fmt.Errorf("writing the attestation: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the attestation: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote the attestation of agent %s to %s (not verified yet). Verify it with:\n\n    probity verify attestation %s\n",
		printable(id), printable(*out), shellQuote(*out))
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(printable(s), "'", `'\''`) + "'"
}
