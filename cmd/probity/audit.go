package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
)

// Exit codes of probity audit with --fail-on, by the highest severity
// found at or above it.
const (
	exitAuditMedium   = 6
	exitAuditHigh     = 7
	exitAuditCritical = 8
)

// Audit severities, most severe first.
var auditSeverities = []string{"critical", "high", "medium"}

func severityRank(s string) int {
	if i := slices.Index(auditSeverities, s); i >= 0 {
		return len(auditSeverities) - i
	}
	return 0
}

// auditThresholds are the checks' limits.
type auditThresholds struct {
	minSafety   float64       // safety below it is high
	minVelocity int           // 7-day composite change below it is high
	staleAfter  time.Duration // no eval evidence for longer is medium
}

// finding is one thing the audit found about an agent.
type finding struct {
	Severity string `json:"severity"`
	Check    string `json:"check"`
	Message  string `json:"message"`
}

// agentAudit is one agent's row of the audit.
type agentAudit struct {
	AgentID           string               `json:"agentId"`
	Owner             string               `json:"owner,omitempty"`
	Status            string               `json:"status"`
	CompositeScore    int                  `json:"compositeScore"`
	CertificationTier string               `json:"certificationTier"`
	Safety            float64              `json:"safety"`
	Velocity7Days     int                  `json:"velocity7Days"`
	Badges            []string             `json:"badges"`
	OpenIncidents     client.OpenIncidents `json:"openIncidents"`
	LastEvalAt        time.Time            `json:"lastEvalAt,omitzero"`
	Pact              string               `json:"pact,omitempty"`
	Severity          string               `json:"severity,omitempty"` // the highest of its findings
	Findings          []finding            `json:"findings"`
}

// auditAgent applies the audit's checks to an agent and its score now.
func auditAgent(a probity.Agent, sc client.Score, th auditThresholds, now time.Time) agentAudit {
	row := agentAudit{AgentID: a.ID, Owner: a.Owner, Status: a.Status, CompositeScore: sc.CompositeScore,
		CertificationTier: sc.CertificationTier, Safety: sc.Dimensions["safety"], Velocity7Days: sc.ScoreVelocity.Last7Days,
		Badges: sc.SecurityPosture.Badges, OpenIncidents: sc.SecurityPosture.OpenIncidents, LastEvalAt: sc.Evidence.LastEvalAt,
		Pact: sc.Pact.ID, Findings: []finding{}}
	if row.Badges == nil {
		row.Badges = []string{}
	}
	add := func(sev, check, format string, args ...any) {
		row.Findings = append(row.Findings, finding{sev, check, fmt.Sprintf(format, args...)})
		if severityRank(sev) > severityRank(row.Severity) {
			row.Severity = sev
		}
	}
	oi := sc.SecurityPosture.OpenIncidents
	for _, c := range []struct {
		sev string
		n   int
	}{{"critical", oi.Critical}, {"high", oi.High}, {"medium", oi.Medium}} {
		if c.n > 0 {
			add(c.sev, "open-incidents", "%d open %s %s", c.n, c.sev, plural(c.n, "incident"))
		}
	}
	if row.Safety < th.minSafety {
		add("high", "safety", "safety %.2f is below %.2f", row.Safety, th.minSafety)
	}
	if row.Velocity7Days < th.minVelocity {
		add("high", "velocity", "the composite moved %+d points in 7 days (limit %+d)", row.Velocity7Days, th.minVelocity)
	}
	if !slices.Contains(row.Badges, "injection-free") {
		add("medium", "injection-free", "no injection-free badge: injection resistance is not shown by evidence")
	}
	switch last := sc.Evidence.LastEvalAt; {
	case last.IsZero():
		add("medium", "stale-evidence", "no eval evidence")
	case now.Sub(last) > th.staleAfter:
		add("medium", "stale-evidence", "the last eval was %s ago (limit %s)", now.Sub(last).Truncate(time.Hour), th.staleAfter)
	}
	if sc.Pact.ID == "" {
		add("medium", "no-pact", "no pact binds the agent: its runtime behavior is not checked")
	}
	return row
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", stderr)
	var af apiFlags
	af.register(fs)
	var agents listFlag
	fs.Var(&agents, "agent", "audit only this agent `id`; repeat the flag or separate ids with commas (default: every agent)")
	failOn := fs.String("fail-on", "", "exit non-zero when a finding is at least this `severity` (critical, high or medium): 8 critical, 7 high, 6 medium")
	th := auditThresholds{}
	fs.Float64Var(&th.minSafety, "min-safety", 0.90, "a safety dimension below this is a high finding")
	fs.IntVar(&th.minVelocity, "min-velocity", -20, "a 7-day composite change below these `points` is a high finding")
	fs.DurationVar(&th.staleAfter, "stale-after", 7*24*time.Hour, "no eval evidence for longer than this is a medium finding (the scoring grace period)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity audit [--agent ID]... [--fail-on critical|high|medium] [--json] [flags]\n\n"+
			"The fleet behavioral security audit. For every agent (or each --agent) it checks:\n"+
			"  open incidents          each open incident, at its own severity\n"+
			"  safety                  the safety dimension below --min-safety (high)\n"+
			"  velocity                the composite falling faster than --min-velocity in 7 days (high)\n"+
			"  injection-free          no injection-free badge (medium)\n"+
			"  stale-evidence          no eval within --stale-after (medium)\n"+
			"  no-pact                 no pact binds the agent (medium)\n"+
			"and prints a table (or --json), most severe first. With --fail-on it exits 8, 7 or 6 by the\n"+
			"highest severity found when that is at least the one named, so it can gate a deployment.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("audit takes no arguments, got %q (use --agent)", fs.Arg(0))
	}
	if *failOn != "" && severityRank(*failOn) == 0 {
		return usagef("--fail-on %q: want critical, high or medium", *failOn)
	}
	if th.minSafety < 0 || th.minSafety > 1 {
		return usagef("--min-safety %g: want a value from 0 to 1", th.minSafety)
	}
	if th.staleAfter <= 0 {
		return usagef("--stale-after %s: want a positive duration", th.staleAfter)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var list []probity.Agent
	if len(agents) > 0 {
		for _, id := range agents {
			a, err := c.GetAgent(ctx, id)
			if err != nil {
				return af.callError("getting agent "+printable(id), err)
			}
			list = append(list, a)
		}
	} else {
		for a, err := range c.AllAgents(ctx) {
			if err != nil {
				return af.callError("listing agents", err)
			}
			list = append(list, a)
		}
	}
	rows, err := auditAll(ctx, c, list, th, time.Now(), stderr)
	if err != nil {
		return af.callError("auditing", err)
	}
	if af.json {
		if err := writeJSON(stdout, map[string]any{"agents": rows, "summary": auditSummary(rows)}); err != nil {
			return err
		}
	} else if err := printAudit(stdout, rows); err != nil {
		return err
	}
	if *failOn == "" {
		return nil
	}
	worst := ""
	for _, r := range rows {
		if severityRank(r.Severity) > severityRank(worst) {
			worst = r.Severity
		}
	}
	if worst == "" || severityRank(worst) < severityRank(*failOn) {
		return nil
	}
	code := map[string]int{"critical": exitAuditCritical, "high": exitAuditHigh, "medium": exitAuditMedium}[worst]
	return &codeError{code, fmt.Sprintf("audit: %s findings (--fail-on %s)", worst, *failOn)}
}

// auditAll scores the agents (a few at a time) and audits them, most
// severe first; it shows progress on stderr for a large fleet.
func auditAll(ctx context.Context, c *client.Client, agents []probity.Agent, th auditThresholds, now time.Time, stderr io.Writer) ([]agentAudit, error) {
	rows := make([]agentAudit, len(agents))
	errs := make([]error, len(agents))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range 8 {
		wg.Go(func() {
			for i := range next {
				sc, err := c.GetScore(ctx, agents[i].ID, false)
				if err != nil {
					errs[i] = fmt.Errorf("the score of agent %s: %w", printable(agents[i].ID), err)
					continue
				}
				rows[i] = auditAgent(agents[i], sc, th, now)
				mu.Lock()
				done++
				if len(agents) >= 50 && done%50 == 0 {
					fmt.Fprintf(stderr, "\raudited %d of %d agents", done, len(agents))
				}
				mu.Unlock()
			}
		})
	}
	for i := range agents {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(agents) >= 50 {
		fmt.Fprintln(stderr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortStableFunc(rows, func(a, b agentAudit) int {
		if d := severityRank(b.Severity) - severityRank(a.Severity); d != 0 {
			return d
		}
		return strings.Compare(a.AgentID, b.AgentID)
	})
	return rows, nil
}

// auditSummary counts agents by their highest severity.
func auditSummary(rows []agentAudit) map[string]int {
	sum := map[string]int{"agents": len(rows), "critical": 0, "high": 0, "medium": 0, "clean": 0}
	for _, r := range rows {
		if r.Severity == "" {
			sum["clean"]++
		} else {
			sum[r.Severity]++
		}
	}
	return sum
}

// printAudit writes the audit table, then each agent's findings. Text from
// the server goes through printable.
func printAudit(w io.Writer, rows []agentAudit) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No agents.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tAGENT\tOWNER\tSTATUS\tSCORE\tTIER\tSAFETY\t7D\tINJECTION-FREE\tINCIDENTS C/H/M\tLAST EVAL\tPACT")
	for _, r := range rows {
		inj := "no"
		if slices.Contains(r.Badges, "injection-free") {
			inj = "yes"
		}
		last := "never"
		if !r.LastEvalAt.IsZero() {
			last = r.LastEvalAt.UTC().Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%.2f\t%+d\t%s\t%d/%d/%d\t%s\t%s\n", orDash(r.Severity), printable(r.AgentID),
			orDash(printable(r.Owner)), printable(r.Status),
			r.CompositeScore, orDash(printable(r.CertificationTier)), r.Safety, r.Velocity7Days, inj,
			r.OpenIncidents.Critical, r.OpenIncidents.High, r.OpenIncidents.Medium, last, orDash(printable(r.Pact)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if len(r.Findings) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", printable(r.AgentID))
		fs := slices.Clone(r.Findings)
		slices.SortStableFunc(fs, func(a, b finding) int { return severityRank(b.Severity) - severityRank(a.Severity) })
		for _, f := range fs {
			fmt.Fprintf(w, "  %-8s %-15s %s\n", f.Severity, f.Check, printable(f.Message))
		}
	}
	s := auditSummary(rows)
	_, err := fmt.Fprintf(w, "\n%d agents: %d critical, %d high, %d medium, %d clean\n", s["agents"], s["critical"], s["high"], s["medium"], s["clean"])
	return err
}
