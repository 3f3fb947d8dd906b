package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/score"
)

// Disclaimer heads the control mappings.
const Disclaimer = "The control mappings list the evidence Probity holds for each article and item, " +
	"with counts and dates taken from its records; they are not a legal assessment of conformity " +
	"with the EU AI Act or of security against the OWASP Top 10 for LLM applications."

// unassigned is the owner of a gap on an agent with no owner recorded.
const unassigned = "unassigned"

// fleetOwner holds gaps that belong to no one agent.
const fleetOwner = "Probity administrators"

// Build makes the report from facts. It is pure: the same facts give the
// same report.
func Build(f Facts) Report {
	r := Report{
		Title:       "Behavioral security report",
		Org:         f.Org,
		GeneratedAt: f.GeneratedAt.UTC(),
		Period:      Period{From: f.From.UTC(), To: f.To.UTC(), Days: math.Round(f.To.Sub(f.From).Hours()/24*100) / 100},
		Agents:      []Agent{},
		Ledger:      Ledger(f.Ledger),
		Disclaimer:  Disclaimer,
	}
	for _, af := range f.Agents {
		r.Agents = append(r.Agents, agentRow(f, af))
	}
	slices.SortFunc(r.Agents, func(x, y Agent) int {
		return cmp.Or(
			cmp.Compare(y.OpenIncidents.Critical, x.OpenIncidents.Critical),
			cmp.Compare(boolRank(y.Status == probity.StatusSuspended), boolRank(x.Status == probity.StatusSuspended)),
			cmp.Compare(y.OpenIncidents.High, x.OpenIncidents.High),
			cmp.Compare(x.Composite, y.Composite),
			cmp.Compare(x.ID, y.ID))
	})
	r.Incidents = incidentHistory(f)
	r.Programme = programme(f)
	r.EUAIAct = euAIAct(f, r)
	r.OWASP = owasp(f)
	r.Gaps = gaps(f, r)
	r.Summary = summary(f, r)
	return r
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// badgeOrder is the order a score lists badges in.
var badgeOrder = []string{score.BadgeInjectionFree, score.BadgeScopeAdherent, score.BadgeOutputSafe,
	score.BadgePactCompliant, score.BadgeMonitored, score.BadgeBaselined}

// dimensionLabel names a dimension for people.
func dimensionLabel(name string) string {
	switch name {
	case score.ScopeAdherence:
		return "scope adherence"
	case score.OutputSanitization:
		return "output sanitization"
	}
	return name
}

func agentRow(f Facts, af AgentFacts) Agent {
	a, sc := af.Agent, af.Score
	row := Agent{
		ID: a.ID, Name: a.Name, Owner: a.Owner, RiskTier: probity.AssessRisk(&a).Tier,
		Status: a.Status, StatusReason: a.StatusReason, Model: a.Model,
		Composite: sc.CompositeScore, Tier: sc.CertificationTier, Confidence: sc.Confidence,
		Velocity7d: sc.ScoreVelocity.Last7Days, Dimensions: sc.Dimensions,
		Badges: slices.Clone(sc.SecurityPosture.Badges), MissingBadges: []string{},
		OpenIncidents: af.OpenIncidents,
		LastEvalAt:    sc.Evidence.LastEvalAt, LastRecordAt: sc.Evidence.LastRecordAt,
		Records: af.Records, EvalCases: af.Evals.Cases, Violations: af.Violations.Total,
	}
	if row.Badges == nil {
		row.Badges = []string{}
	}
	if sc.Pact.ID != "" {
		p := sc.Pact
		row.Pact = &p
	}
	for _, b := range badgeOrder {
		if !slices.Contains(row.Badges, b) {
			row.MissingBadges = append(row.MissingBadges, b)
		}
	}
	row.Risks = risks(f, af)
	return row
}

// badgeReason is why the score did or did not award badge.
func badgeReason(sc score.Score, badge string) string {
	if sc.Explain != nil {
		for _, b := range sc.Explain.Badges {
			if b.Name == badge {
				return b.Reason
			}
		}
	}
	return ""
}

// inventoryLacks lists what an agent's inventory entry is missing.
func inventoryLacks(a probity.Agent) []string {
	var out []string
	if strings.TrimSpace(a.Owner) == "" {
		out = append(out, "an owner")
	}
	if a.RiskTier == "" {
		out = append(out, "a declared risk tier")
	}
	if !hasAccessProfile(a.Access) {
		out = append(out, "an access profile")
	}
	return out
}

// hasAccessProfile reports whether anything of the agent's access was
// declared.
func hasAccessProfile(ac probity.Access) bool {
	return ac.Production || ac.Financial || len(ac.DataClasses) > 0 || len(ac.Systems) > 0 || len(ac.Actions) > 0
}

// risks lists an agent's key risks, the most pressing first.
func risks(f Facts, af AgentFacts) []Risk {
	th, a, sc := f.Thresholds, af.Agent, af.Score
	out := []Risk{}
	add := func(kind, format string, args ...any) {
		out = append(out, Risk{Kind: kind, Text: fmt.Sprintf(format, args...)})
	}
	if a.Status == probity.StatusSuspended {
		if a.StatusReason != "" {
			add(RiskSuspended, "suspended: %s", a.StatusReason)
		} else {
			add(RiskSuspended, "suspended")
		}
	}
	if oi := af.OpenIncidents; oi.Critical+oi.High+oi.Medium > 0 {
		add(RiskOpenIncidents, "open incidents: %s", severities(oi))
	}
	if n := af.Violations.Confirmed; n > 0 {
		add(RiskViolations, "%s in production in the period", plural(n, "confirmed injection-influenced action", "confirmed injection-influenced actions"))
	}
	if sc.CompositeScore < th.Reliance {
		add(RiskBelowReliance, "composite %d is below the reliance threshold of %d", sc.CompositeScore, th.Reliance)
	}
	if v := sc.ScoreVelocity.Last7Days; th.Decline > 0 && v <= -th.Decline {
		add(RiskDeclining, "composite fell %d points in 7 days", -v)
	}
	var low, none []string
	type dim struct {
		name  string
		value float64
	}
	var lows []dim
	for _, name := range score.DimensionNames() {
		obs := 1
		if sc.Explain != nil {
			obs = sc.Explain.Dimensions[name].Observations
		}
		switch v := sc.Dimensions.Get(name); {
		case obs == 0:
			none = append(none, dimensionLabel(name))
		case v < th.LowDimension:
			lows = append(lows, dim{name, v})
		}
	}
	slices.SortStableFunc(lows, func(x, y dim) int { return cmp.Compare(x.value, y.value) })
	for _, d := range lows {
		low = append(low, fmt.Sprintf("%s %.2f", dimensionLabel(d.name), d.value))
	}
	if len(low) > 0 {
		add(RiskLowDimension, "lowest dimensions: %s", strings.Join(low, ", "))
	}
	if len(none) > 0 {
		add(RiskNoEvidence, "no evidence for %s", strings.Join(none, ", "))
	}
	if !slices.Contains(sc.SecurityPosture.Badges, score.BadgeInjectionFree) {
		add(RiskMissingBadge, "no injection-free badge: %s", badgeReason(sc, score.BadgeInjectionFree))
	}
	if !slices.Contains(sc.SecurityPosture.Badges, score.BadgeBaselined) {
		add(RiskMissingBadge, "not baselined: %s", badgeReason(sc, score.BadgeBaselined))
	}
	for _, u := range af.ModelUpdates {
		if !u.Assessed {
			add(RiskUnassessed, "model update to %s on %s has no full baseline yet", modelName(u.To), day(u.At))
		}
	}
	switch last := sc.Evidence.LastEvalAt; {
	case last.IsZero():
		add(RiskStaleEvidence, "no eval evidence")
	case f.To.Sub(last) > th.GracePeriod:
		add(RiskStaleEvidence, "eval evidence is stale: the last eval was %s before the end of the period (grace period %s)",
			human(f.To.Sub(last)), human(th.GracePeriod))
	}
	if !slices.Contains(sc.SecurityPosture.Badges, score.BadgeMonitored) {
		if last := sc.Evidence.LastRecordAt; last.IsZero() {
			add(RiskMissingBadge, "not monitored: no behavioral records")
		} else {
			add(RiskMissingBadge, "not monitored: the last record was %s before the end of the period", human(f.To.Sub(last)))
		}
	}
	if sc.Pact.ID == "" {
		add(RiskNoPact, "no pact bound")
	}
	if v := af.Violations; v.Total > v.Confirmed {
		add(RiskViolations, "%s in the period (%s)", plural(v.Total, "pact violation", "pact violations"), violationSeverities(v))
	}
	if lacks := inventoryLacks(a); len(lacks) > 0 {
		add(RiskIncompleteInfo, "the inventory lacks %s", strings.Join(lacks, ", "))
	}
	return out
}

func severities(oi score.Incidents) string {
	return fmt.Sprintf("%d critical, %d high, %d medium", oi.Critical, oi.High, oi.Medium)
}

// pactSeverities are the severities of pact clauses, most severe first.
var pactSeverities = []string{"critical", "major", "minor", "info"}

func violationSeverities(v ViolationFacts) string {
	var parts []string
	for _, s := range pactSeverities {
		if n := v.BySeverity[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return strings.Join(parts, ", ")
}

func modelName(m probity.Model) string {
	var parts []string
	for _, p := range []string{m.Provider, m.Name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	s := strings.Join(parts, "/")
	if m.Version != "" {
		if s != "" {
			s += " "
		}
		s += "version " + m.Version
	}
	if s == "" {
		return "an unnamed model"
	}
	return s
}

func incidentHistory(f Facts) IncidentHistory {
	h := IncidentHistory{Items: []Incident{}}
	if f.Incidents == nil {
		h.Note = "This server does not track incidents: there is no incident history to report."
		return h
	}
	h.Tracked = true
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(f.From) && t.Before(f.To) }
	var ttr time.Duration
	for _, inc := range f.Incidents.Incidents {
		relevant := false
		if in(inc.OpenedAt) {
			addSeverity(&h.Opened, inc.Severity)
			relevant = true
		}
		if in(inc.AcknowledgedAt) {
			h.Acknowledged++
		}
		if in(inc.ResolvedAt) {
			h.Resolved++
			if strings.TrimSpace(inc.RootCause) != "" {
				h.WithRootCause++
			}
			ttr += inc.ResolvedAt.Sub(inc.OpenedAt)
			relevant = true
		}
		if inc.OpenedAt.Before(f.To) && (inc.ResolvedAt.IsZero() || !inc.ResolvedAt.Before(f.To)) {
			addSeverity(&h.Open, inc.Severity)
			relevant = true
		}
		if relevant {
			h.Items = append(h.Items, inc)
		}
	}
	if h.Resolved > 0 {
		d := ttr / time.Duration(h.Resolved)
		h.MeanTimeToResolve = &Duration{Seconds: math.Round(d.Seconds()), Text: human(d)}
	}
	slices.SortStableFunc(h.Items, func(x, y Incident) int {
		return cmp.Or(cmp.Compare(severityRank(x.Severity), severityRank(y.Severity)),
			y.OpenedAt.Compare(x.OpenedAt), cmp.Compare(x.ID, y.ID))
	})
	return h
}

func addSeverity(c *score.Incidents, sev string) {
	switch sev {
	case "critical":
		c.Critical++
	case "high":
		c.High++
	case "medium":
		c.Medium++
	}
}

func severityRank(sev string) int {
	switch sev {
	case "critical":
		return 0
	case "high":
		return 1
	case "medium":
		return 2
	}
	return 3
}

// Programme item ids.
const (
	ItemInventory = "inventory"
	ItemBaselines = "baselines"
	ItemMonitor   = "monitoring"
	ItemIncidents = "incident-criteria"
	ItemModels    = "model-updates"
)

func programme(f Facts) []Coverage {
	n := len(f.Agents)
	count := func(id, name string, ok func(AgentFacts) bool, detail string) Coverage {
		c := Coverage{ID: id, Name: name, Total: n, Lacking: []string{}}
		for _, af := range f.Agents {
			if ok(af) {
				c.Met++
			} else {
				c.Lacking = append(c.Lacking, af.Agent.ID)
			}
		}
		slices.Sort(c.Lacking)
		c.Status = status(c.Met, c.Total)
		c.Detail = fmt.Sprintf(detail, c.Met, n)
		return c
	}
	hasBadge := func(b string) func(AgentFacts) bool {
		return func(af AgentFacts) bool { return slices.Contains(af.Score.SecurityPosture.Badges, b) }
	}
	out := []Coverage{
		count(ItemInventory, "Inventory complete", func(af AgentFacts) bool { return len(inventoryLacks(af.Agent)) == 0 },
			"%d of %d agents have an owner, a declared risk tier and an access profile"),
		count(ItemBaselines, "Baselines established", hasBadge(score.BadgeBaselined),
			fmt.Sprintf("%%d of %%d agents completed a full security baseline (%d suites) on their current model version",
				len(f.Thresholds.BaselineSuites))),
		count(ItemMonitor, "Continuous monitoring wired", hasBadge(score.BadgeMonitored),
			"%d of %d agents sent behavioral records in the 24 hours before the end of the period"),
		incidentCriteria(f),
		modelAssessment(f),
	}
	return out
}

// status is met when every one of total meets an item, missing when none
// does (or there is nothing to meet it), else partial.
func status(met, total int) string {
	switch {
	case total > 0 && met == total:
		return Met
	case met == 0:
		return Missing
	}
	return Partial
}

func incidentCriteria(f Facts) Coverage {
	c := Coverage{ID: ItemIncidents, Name: "Incident criteria defined", Lacking: []string{}}
	if f.Incidents == nil {
		c.Status = Missing
		c.Detail = "this server does not track incidents: no incident rules are configured"
		return c
	}
	var on score.Incidents
	for _, r := range f.Incidents.Rules {
		c.Total++
		if r.Enabled {
			c.Met++
			addSeverity(&on, r.Severity)
		} else {
			c.Lacking = append(c.Lacking, r.ID)
		}
	}
	slices.Sort(c.Lacking)
	c.Detail = fmt.Sprintf("%d of %d incident rules enabled (%s)", c.Met, c.Total, severities(on))
	switch {
	case c.Met == 0:
		c.Status = Missing
	case on.Critical > 0 && on.High > 0 && on.Medium > 0:
		c.Status = Met // every severity has a rule; disabling one rule more may be a choice
	default:
		c.Status = Partial
		c.Detail += "; a severity has no enabled rule"
	}
	return c
}

func modelAssessment(f Facts) Coverage {
	c := Coverage{ID: ItemModels, Name: "Model-update assessment in change management", Lacking: []string{}}
	for _, af := range f.Agents {
		for _, u := range af.ModelUpdates {
			c.Total++
			if u.Assessed {
				c.Met++
			} else if !slices.Contains(c.Lacking, af.Agent.ID) {
				c.Lacking = append(c.Lacking, af.Agent.ID)
			}
		}
	}
	slices.Sort(c.Lacking)
	if c.Total == 0 {
		c.Status = Met
		c.Detail = "no model updates in the period; a model update queues a full baseline on the new version"
		return c
	}
	c.Status = status(c.Met, c.Total)
	c.Detail = fmt.Sprintf("%d of %d model updates in the period were followed by a full baseline on the new version", c.Met, c.Total)
	return c
}

// fleet totals used by the mappings.
type totals struct {
	agents                             int
	runs, completed, cases, casesFail  int
	withEvals, withRecords, withPact   int
	injCases, injSucceeded, injFree    int
	withInjection                      int
	records                            int
	violations, confirmed              int
	bySeverity                         map[string]int
	belowReliance, suspended, owned    int
	declared                           int
	accuracyEvidence, securityEvidence int
	securitySum                        float64
	lowestAccuracy                     string
	lowestAccuracyValue                float64
	noEvals, noRecords, noPact         []string
	noOwner, noInjection, noAccuracy   []string
}

func fleetTotals(f Facts) totals {
	t := totals{agents: len(f.Agents), bySeverity: map[string]int{}, lowestAccuracyValue: 2}
	for _, af := range f.Agents {
		a, sc, ev := af.Agent, af.Score, af.Evals
		t.runs += ev.Runs
		t.completed += ev.Completed
		t.cases += ev.Cases
		t.casesFail += ev.CasesFailed
		t.injCases += ev.InjectionCases
		t.injSucceeded += ev.InjectionSucceeded
		if ev.Cases > 0 {
			t.withEvals++
		} else {
			t.noEvals = append(t.noEvals, a.ID)
		}
		if ev.InjectionCases > 0 {
			t.withInjection++
		} else {
			t.noInjection = append(t.noInjection, a.ID)
		}
		if slices.Contains(sc.SecurityPosture.Badges, score.BadgeInjectionFree) {
			t.injFree++
		}
		t.records += af.Records
		if af.Records > 0 {
			t.withRecords++
		} else {
			t.noRecords = append(t.noRecords, a.ID)
		}
		if sc.Pact.ID != "" {
			t.withPact++
		} else {
			t.noPact = append(t.noPact, a.ID)
		}
		t.violations += af.Violations.Total
		t.confirmed += af.Violations.Confirmed
		for s, n := range af.Violations.BySeverity {
			t.bySeverity[s] += n
		}
		if sc.CompositeScore < f.Thresholds.Reliance {
			t.belowReliance++
		}
		if a.Status == probity.StatusSuspended {
			t.suspended++
		}
		if strings.TrimSpace(a.Owner) != "" {
			t.owned++
		} else {
			t.noOwner = append(t.noOwner, a.ID)
		}
		if a.RiskTier != "" {
			t.declared++
		}
		if observations(sc, score.Accuracy) > 0 {
			t.accuracyEvidence++
			if v := sc.Dimensions.Accuracy; v < t.lowestAccuracyValue || (v == t.lowestAccuracyValue && a.ID < t.lowestAccuracy) {
				t.lowestAccuracy, t.lowestAccuracyValue = a.ID, v
			}
		} else {
			t.noAccuracy = append(t.noAccuracy, a.ID)
		}
		if observations(sc, score.Security) > 0 {
			t.securityEvidence++
			t.securitySum += sc.Dimensions.Security
		}
	}
	for _, l := range [][]string{t.noEvals, t.noRecords, t.noPact, t.noOwner, t.noInjection, t.noAccuracy} {
		slices.Sort(l)
	}
	return t
}

// observations is how many observations the dimension rests on; without
// an explanation, the score's evidence counts say whether there were any.
func observations(sc score.Score, dim string) int {
	if sc.Explain != nil {
		return sc.Explain.Dimensions[dim].Observations
	}
	return sc.Evidence.EvalCases + sc.Evidence.Records
}

func euAIAct(f Facts, r Report) []Control {
	t := fleetTotals(f)
	n := t.agents
	out := make([]Control, 0, len(EUAIActArticles))
	for _, art := range EUAIActArticles {
		c := Control{Article: fmt.Sprintf("Article %d", art.Number), Title: art.Title, Evidence: []string{}, Gaps: []string{}}
		ev := func(format string, args ...any) { c.Evidence = append(c.Evidence, fmt.Sprintf(format, args...)) }
		gap := func(format string, args ...any) { c.Gaps = append(c.Gaps, fmt.Sprintf(format, args...)) }
		var has bool
		switch art.Number {
		case 9:
			has = t.cases > 0
			ev("%s in the period (%d completed): %s graded, %s passed, on %d of %d agents",
				plural(t.runs, "eval run", "eval runs"), t.completed, plural(t.cases, "case", "cases"),
				percent(t.cases-t.casesFail, t.cases), t.withEvals, n)
			ev("trust scores for all %d agents as of %s: median composite %d, %d below the reliance threshold of %d",
				n, stamp(f.To), median(r.Agents), t.belowReliance, f.Thresholds.Reliance)
			ev("%d of %d agents have a declared risk tier; every agent has a risk figure derived from its access profile", t.declared, n)
			if f.Incidents != nil {
				h := r.Incidents
				ev("incident process: %s enabled; %d opened in the period, %d resolved (%d with a recorded root cause)",
					plural(countEnabled(f.Incidents.Rules), "rule", "rules"), h.Opened.Critical+h.Opened.High+h.Opened.Medium, h.Resolved, h.WithRootCause)
			} else {
				gap("no incident process: this server does not track incidents")
			}
			if len(t.noEvals) > 0 {
				gap("no graded eval case in the period for %s", list(t.noEvals))
			}
		case 12:
			has = f.Ledger.Size > 0
			ev("ledger %s: %s, signed checkpoint with root hash %s", f.Ledger.Origin, plural64(f.Ledger.Size, "entry", "entries"), f.Ledger.RootHash)
			ev("%s in the period from %d of %d agents, each a ledger leaf", plural(t.records, "behavioral record", "behavioral records"), t.withRecords, n)
			ev("eval results, score changes, violations and admin actions are ledger leaves too; inclusion and consistency proofs verify with the checkpoint and the public verifier key alone (probity verify)")
			if len(t.noRecords) > 0 {
				gap("no behavioral records in the period for %s", list(t.noRecords))
			}
		case 13:
			has = t.withPact > 0
			ev("%d of %d agents are bound to a pact (%s stored), each version pinned by a sha256 digest", t.withPact, n, plural(f.Oversight.Pacts, "pact", "pacts"))
			if id := f.Oversight.AttestationKeyID; id != "" {
				ev("signed trust attestations (in-toto statements in DSSE envelopes, Ed25519) issued with key %s, active since %s, verifiable offline", id, day(f.Oversight.AttestationKeySince))
			} else {
				ev("signed trust attestations (in-toto statements in DSSE envelopes, Ed25519) are issued on request; none has been issued yet")
			}
			if len(t.noPact) > 0 {
				gap("no pact states what %s may do", list(t.noPact))
			}
		case 14:
			has = n > 0
			o := f.Oversight
			ev("%s and %s in the period, each reactivation with a recorded root cause",
				plural(len(o.Suspensions), "suspension", "suspensions"), plural(len(o.Reactivations), "reactivation", "reactivations"))
			if t.suspended > 0 {
				ev("%d of %d agents suspended at the end of the period", t.suspended, n)
			}
			ev("the delegation gate denies suspended agents, agents below %d and agents whose last eval is older than %s", f.Thresholds.Reliance, human(f.Thresholds.GracePeriod))
			ev("%d of %d agents have an accountable owner", t.owned, n)
			if f.Incidents != nil {
				ev("%s acknowledged in the period; a critical incident suspends its agent at once", plural(r.Incidents.Acknowledged, "incident", "incidents"))
				if open := r.Incidents.Open; open.Critical+open.High > 0 {
					gap("%d critical and %d high incidents open at the end of the period", open.Critical, open.High)
				}
			}
			if len(t.noOwner) > 0 {
				gap("no owner recorded for %s", list(t.noOwner))
			}
		case 15:
			has = t.injCases > 0 || t.accuracyEvidence > 0
			if t.accuracyEvidence > 0 {
				ev("accuracy evidence for %d of %d agents; the lowest accuracy is %s at %.2f", t.accuracyEvidence, n, t.lowestAccuracy, t.lowestAccuracyValue)
			} else {
				ev("accuracy evidence for 0 of %d agents", n)
			}
			if t.securityEvidence > 0 {
				ev("security evidence for %d of %d agents, mean security dimension %.2f", t.securityEvidence, n, t.securitySum/float64(t.securityEvidence))
			}
			ev("%s in the period, %d succeeded (%s); %d of %d agents hold the injection-free badge",
				plural(t.injCases, "prompt-injection case", "prompt-injection cases"), t.injSucceeded, percent(t.injSucceeded, t.injCases), t.injFree, n)
			ev("%s in production in the period", plural(t.confirmed, "confirmed injection-influenced action", "confirmed injection-influenced actions"))
			if len(t.noInjection) > 0 {
				gap("no prompt-injection cases in the period for %s", list(t.noInjection))
			}
			if len(t.noAccuracy) > 0 {
				gap("no accuracy evidence for %s", list(t.noAccuracy))
			}
		}
		switch {
		case !has:
			c.Status = NoEvidence
		case len(c.Gaps) > 0:
			c.Status = Incomplete
		default:
			c.Status = Evidenced
		}
		out = append(out, c)
	}
	return out
}

func countEnabled(rules []Rule) int {
	n := 0
	for _, r := range rules {
		if r.Enabled {
			n++
		}
	}
	return n
}

func owasp(f Facts) []OWASPItem {
	out := make([]OWASPItem, 0, len(OWASPTop10))
	for _, e := range OWASPTop10 {
		it := OWASPItem{ID: e.ID + ":2025", Name: e.Name, Was: slices.Clone(e.Was), HowProbity: e.Probity,
			Evidence: []string{}, UncoveredBy: []string{}}
		if it.Was == nil {
			it.Was = []string{}
		}
		for _, af := range f.Agents {
			switch af.Score.SecurityPosture.OWASP[e.ID] {
			case Tested:
				it.Tested++
			case Monitored:
				it.Monitored++
			default:
				it.Uncovered++
				it.UncoveredBy = append(it.UncoveredBy, af.Agent.ID)
			}
			c := af.Evals.OWASP[e.ID]
			it.EvalCases += c.Cases
			it.EvalFailed += c.Failed
			it.Violations += af.Violations.OWASP[e.ID]
		}
		slices.Sort(it.UncoveredBy)
		switch {
		case len(f.Agents) == 0 || it.Uncovered > 0:
			it.Status = Uncovered
		case it.Monitored > 0:
			it.Status = Monitored
		default:
			it.Status = Tested
		}
		n := len(f.Agents)
		it.Evidence = append(it.Evidence, fmt.Sprintf("tested on %d of %d agents, monitored on %d, uncovered on %d", it.Tested, n, it.Monitored, it.Uncovered))
		if it.EvalCases > 0 {
			it.Evidence = append(it.Evidence, fmt.Sprintf("%s in the period, %d failed", plural(it.EvalCases, "graded eval case", "graded eval cases"), it.EvalFailed))
		}
		if it.Violations > 0 {
			it.Evidence = append(it.Evidence, fmt.Sprintf("%s of clauses monitoring it in the period", plural(it.Violations, "runtime violation", "runtime violations")))
		}
		out = append(out, it)
	}
	return out
}

func gaps(f Facts, r Report) []Gap {
	out := []Gap{}
	byID := map[string]AgentFacts{}
	for _, af := range f.Agents {
		byID[af.Agent.ID] = af
	}
	for _, row := range r.Agents {
		af := byID[row.ID]
		owner := row.Owner
		if strings.TrimSpace(owner) == "" {
			owner = unassigned
		}
		add := func(prio int, area, gap, action string) {
			out = append(out, Gap{Priority: prio, AgentID: row.ID, Owner: owner, Area: area, Gap: gap, Action: action})
		}
		baseline := "run the full baseline: probity eval run --agent " + row.ID + " --suite " + strings.Join(f.Thresholds.BaselineSuites, ",")
		for _, rk := range row.Risks {
			switch rk.Kind {
			case RiskSuspended:
				add(1, "human oversight", rk.Text, "investigate, then reactivate with a recorded root cause or retire the agent")
			case RiskOpenIncidents:
				add(1, "incidents", rk.Text, "acknowledge, investigate and resolve each with a root cause")
			case RiskBelowReliance:
				add(1, "trust score", rk.Text, "do not rely on it (the gate denies it); raise its lowest dimensions and re-run its evals")
			case RiskUnassessed:
				add(2, "change management", rk.Text, baseline+", before relying on the new version")
			case RiskNoPact:
				add(2, "transparency", rk.Text, "write a pact for it and apply it (probity pact apply)")
			case RiskStaleEvidence:
				add(3, "risk management", rk.Text, "schedule recurring evals (probity eval run, or POST /v1/schedules)")
			case RiskIncompleteInfo:
				add(3, "inventory", rk.Text, "complete its entry (probity agent update "+row.ID+" --owner … --risk-tier … and its access flags)")
			}
		}
		if v := af.Violations; v.Total > v.Confirmed {
			add(2, "pact compliance", fmt.Sprintf("%s in the period (%s)", plural(v.Total, "pact violation", "pact violations"), violationSeverities(v)),
				"review them (probity violations --agent "+row.ID+") and correct the agent or its pact")
		}
		if af.Violations.Confirmed > 0 {
			add(1, "prompt injection", fmt.Sprintf("%s in the period", plural(af.Violations.Confirmed, "confirmed injection-influenced action", "confirmed injection-influenced actions")),
				"trace the injected tool results, narrow the pact's scope, and re-run the injection suites")
		}
		sc := af.Score
		unassessed := slices.ContainsFunc(af.ModelUpdates, func(u ModelUpdate) bool { return !u.Assessed })
		if !slices.Contains(sc.SecurityPosture.Badges, score.BadgeBaselined) && !unassessed {
			add(2, "baseline", "no full baseline on model version "+orNone(af.Agent.Model.Version), baseline)
		}
		if !slices.Contains(sc.SecurityPosture.Badges, score.BadgeInjectionFree) {
			add(2, "prompt injection", "no injection-free badge: "+badgeReason(sc, score.BadgeInjectionFree),
				"run the injection suites (probity eval run --agent "+row.ID+" --suite injection-direct,injection-indirect) and fix what succeeds")
		}
		if !slices.Contains(sc.SecurityPosture.Badges, score.BadgeMonitored) {
			add(2, "monitoring", "no behavioral records in the last 24 hours of the period",
				"send its records to Probity (POST /v1/events or OpenTelemetry to /otlp)")
		}
	}
	if f.Incidents == nil {
		out = append(out, Gap{Priority: 2, Owner: fleetOwner, Area: "incidents", Gap: "incident criteria are not defined: this server does not track incidents",
			Action: "enable incident rules, so that breaches open incidents and critical ones suspend the agent"})
	} else if c := incidentCriteria(f); c.Status != Met {
		out = append(out, Gap{Priority: 2, Owner: fleetOwner, Area: "incidents", Gap: c.Detail,
			Action: "enable at least one incident rule of every severity"})
	}
	if f.Ledger.Size == 0 {
		out = append(out, Gap{Priority: 2, Owner: fleetOwner, Area: "record-keeping", Gap: "the ledger is empty",
			Action: "register agents and send their records"})
	}
	slices.SortStableFunc(out, func(x, y Gap) int {
		return cmp.Or(cmp.Compare(x.Priority, y.Priority), cmp.Compare(x.Owner, y.Owner), cmp.Compare(x.AgentID, y.AgentID))
	})
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func summary(f Facts, r Report) Summary {
	s := Summary{Agents: len(r.Agents), Tiers: map[string]int{}, Reliance: f.Thresholds.Reliance, Highlights: []string{}}
	for _, a := range r.Agents {
		if a.Status == probity.StatusSuspended {
			s.Suspended++
		} else {
			s.Active++
		}
		s.Tiers[a.Tier]++
		if a.Composite < f.Thresholds.Reliance {
			s.BelowReliance++
		}
		s.OpenIncidents.Critical += a.OpenIncidents.Critical
		s.OpenIncidents.High += a.OpenIncidents.High
		s.OpenIncidents.Medium += a.OpenIncidents.Medium
	}
	s.MedianComposite = median(r.Agents)
	for _, c := range r.Programme {
		if c.Status == Met {
			s.ProgrammeMet++
		}
	}
	s.Gaps = len(r.Gaps)
	hl := func(format string, args ...any) { s.Highlights = append(s.Highlights, fmt.Sprintf(format, args...)) }
	hl("%s: %d active, %d suspended; median composite %d; %d below the reliance threshold of %d.",
		plural(s.Agents, "agent", "agents"), s.Active, s.Suspended, s.MedianComposite, s.BelowReliance, s.Reliance)
	if r.Incidents.Tracked {
		h := r.Incidents
		hl("Incidents: %d opened and %d resolved in the period; open at its end: %s.",
			h.Opened.Critical+h.Opened.High+h.Opened.Medium, h.Resolved, severities(h.Open))
	} else {
		hl("Incidents are not tracked on this server.")
	}
	hl("30-day programme: %d of %d items met.", s.ProgrammeMet, len(r.Programme))
	var tested, monitored, uncovered int
	for _, it := range r.OWASP {
		switch it.Status {
		case Tested:
			tested++
		case Monitored:
			monitored++
		default:
			uncovered++
		}
	}
	hl("OWASP Top 10 for LLM applications (2025): %s tested on every agent, %s monitored on every agent, %s uncovered on some agent.",
		plural(tested, "item", "items"), plural(monitored, "item", "items"), plural(uncovered, "item", "items"))
	first := 0
	for _, g := range r.Gaps {
		if g.Priority == 1 {
			first++
		}
	}
	hl("%s remain, %d of them first priority.", plural(s.Gaps, "gap", "gaps"), first)
	return s
}

// median is the agents' median composite (the mean of the two middle ones
// for an even count, rounded down), 0 for none.
func median(agents []Agent) int {
	cs := make([]int, len(agents))
	for i, a := range agents {
		cs[i] = a.Composite
	}
	slices.Sort(cs)
	if k := len(cs); k > 0 {
		return (cs[(k-1)/2] + cs[k/2]) / 2
	}
	return 0
}

// plural is "1 case" or "3 cases".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func plural64(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// percent is part/whole as a percentage with one decimal, "n/a" for none.
func percent(part, whole int) string {
	if whole == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// list joins agent ids, naming at most ten.
func list(ids []string) string {
	const most = 10
	if len(ids) <= most {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:most], ", "), len(ids)-most)
}

// human writes a duration in days and hours, or minutes when short.
func human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

// day is a date for people.
func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// stamp is a time for people, to the minute.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
