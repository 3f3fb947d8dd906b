package report

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/score"
)

// Markdown writes the report as CommonMark with GitHub tables. Every string
// that came from the store goes through md, so that it reads as the same
// text and can form no link, image, HTML, emphasis or table cell.
func Markdown(w io.Writer, r Report) error {
	b := &strings.Builder{}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }

	p("# %s: %s\n\n", r.Title, md(r.Org))
	p("Period: %s to %s (%s days). Scores are computed as of the end of the period; status, owners and pacts are as they are at generation, %s.\n\n",
		stamp(r.Period.From), stamp(r.Period.To), trimFloat(r.Period.Days), stamp(r.GeneratedAt))

	p("## Summary\n\n")
	for _, h := range r.Summary.Highlights {
		p("- %s\n", md(h))
	}
	p("\n")

	p("## Agents\n\n")
	if len(r.Agents) == 0 {
		p("No agents are registered.\n\n")
	} else {
		p("| Agent | Owner | Risk tier | Status | Composite | Tier | 7-day change | Open incidents (critical/high/medium) | Badges |\n")
		p("|---|---|---|---|--:|---|--:|---|---|\n")
		for _, a := range r.Agents {
			p("| %s | %s | %s | %s | %d | %s | %+d | %d/%d/%d | %s |\n", agentLabel(a), md(orDash(a.Owner)), md(a.RiskTier), md(a.Status),
				a.Composite, md(a.Tier), a.Velocity7d, a.OpenIncidents.Critical, a.OpenIncidents.High, a.OpenIncidents.Medium, md(joinOr(a.Badges, "none")))
		}
		p("\n### Key risks\n\n")
		for _, a := range r.Agents {
			p("**%s**", md(a.ID))
			if len(a.Risks) == 0 {
				p(": no key risk found.\n\n")
				continue
			}
			p("\n\n")
			for _, rk := range a.Risks {
				p("- %s\n", md(rk.Text))
			}
			p("\n")
		}
		p("### Dimensions\n\n")
		p("| Agent |")
		for _, d := range score.DimensionNames() {
			p(" %s |", dimensionLabel(d))
		}
		p("\n|---|")
		for range score.DimensionNames() {
			p("--:|")
		}
		p("\n")
		for _, a := range r.Agents {
			p("| %s |", md(a.ID))
			for _, d := range score.DimensionNames() {
				p(" %.2f |", a.Dimensions.Get(d))
			}
			p("\n")
		}
		p("\n")
	}

	p("## Incidents\n\n")
	h := r.Incidents
	if !h.Tracked {
		p("%s\n\n", md(h.Note))
	} else {
		p("- Opened in the period: %s.\n", severities(h.Opened))
		p("- Resolved in the period: %d, %d with a recorded root cause; mean time to resolve: %s.\n", h.Resolved, h.WithRootCause, mttr(h))
		p("- Acknowledged in the period: %d.\n", h.Acknowledged)
		p("- Open at the end of the period: %s.\n\n", severities(h.Open))
		if len(h.Items) > 0 {
			p("| Severity | Agent | Rule | Status | Opened | Resolved | Root cause |\n|---|---|---|---|---|---|---|\n")
			for _, inc := range h.Items {
				resolved := "-"
				if !inc.ResolvedAt.IsZero() {
					resolved = stamp(inc.ResolvedAt)
				}
				p("| %s | %s | %s | %s | %s | %s | %s |\n", md(inc.Severity), md(inc.AgentID), md(inc.Rule), md(inc.Status),
					stamp(inc.OpenedAt), resolved, md(orDash(inc.RootCause)))
			}
			p("\n")
		}
	}

	p("## 30-day programme\n\n")
	p("| Item | Status | Met | Detail | Not yet |\n|---|---|--:|---|---|\n")
	for _, c := range r.Programme {
		p("| %s | %s | %d of %d | %s | %s |\n", c.Name, c.Status, c.Met, c.Total, md(c.Detail), md(joinOr(c.Lacking, "-")))
	}
	p("\n")

	p("## EU AI Act\n\n")
	p("> %s\n\n", md(r.Disclaimer))
	for _, c := range r.EUAIAct {
		p("### %s: %s (%s)\n\n", c.Article, c.Title, controlStatus(c.Status))
		for _, e := range c.Evidence {
			p("- Evidence: %s.\n", md(e))
		}
		for _, g := range c.Gaps {
			p("- Gap: %s.\n", md(g))
		}
		p("\n")
	}

	p("## OWASP Top 10 for LLM applications (2025)\n\n")
	p("| Item | 2023 numbering | Status | Agents tested/monitored/uncovered | Evidence | What Probity checks |\n|---|---|---|---|---|---|\n")
	for _, it := range r.OWASP {
		p("| %s %s | %s | %s | %d/%d/%d | %s | %s |\n", it.ID, it.Name, joinOr(it.Was, "new in 2025"), it.Status,
			it.Tested, it.Monitored, it.Uncovered, md(strings.Join(it.Evidence, "; ")), md(it.HowProbity))
	}
	p("\n")

	p("## Remaining gaps\n\n")
	if len(r.Gaps) == 0 {
		p("None.\n\n")
	} else {
		p("| Priority | Owner | Agent | Area | Gap | Action |\n|--:|---|---|---|---|---|\n")
		for _, g := range r.Gaps {
			p("| %d | %s | %s | %s | %s | %s |\n", g.Priority, md(g.Owner), md(orDash(g.AgentID)), md(g.Area), md(g.Gap), md(g.Action))
		}
		p("\n")
	}

	p("## Ledger\n\n")
	p("- Origin: %s\n- Size: %d entries\n- Root hash: %s\n\n", md(r.Ledger.Origin), r.Ledger.Size, md(r.Ledger.RootHash))
	if r.Ledger.Checkpoint != "" {
		fence := strings.Repeat("`", max(3, longestRun(r.Ledger.Checkpoint, '`')+1))
		p("The signed checkpoint:\n\n%s\n%s\n%s\n", fence, printableText(strings.TrimRight(r.Ledger.Checkpoint, "\n")), fence)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func agentLabel(a Agent) string {
	if a.Name != "" && a.Name != a.ID {
		return md(a.ID) + " (" + md(a.Name) + ")"
	}
	return md(a.ID)
}

func controlStatus(s string) string {
	switch s {
	case Evidenced:
		return "evidence"
	case Incomplete:
		return "partial evidence"
	}
	return "no evidence"
}

func mttr(h IncidentHistory) string {
	if h.MeanTimeToResolve == nil {
		return "n/a"
	}
	return h.MeanTimeToResolve.Text
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func joinOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}

// mdSpecial are the characters md escapes with a backslash: those that
// open emphasis, code, links and images ("[" suffices for both), HTML,
// entities, headings, strikethrough, table cells and e-mail autolinks.
const mdSpecial = "\\`*_[]<>#|~&@"

// md makes text safe inside a Markdown paragraph or table cell: line
// breaks become spaces, control and bidirectional-override characters are
// dropped, CommonMark's punctuation is backslash-escaped (and so are the
// ":" of "://" and the dot of "www.", so that no autolink forms) and the
// text reads as it was.
func md(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError || probity.Unsafe(r):
		case strings.ContainsRune(mdSpecial, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '.' && i >= 3 && strings.EqualFold(s[i-3:i], "www"),
			r == ':' && strings.HasPrefix(s[i+1:], "/"):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printableText drops control characters but newlines and tabs.
func printableText(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && probity.Unsafe(r) {
			return -1
		}
		return r
	}, s)
}

func longestRun(s string, c byte) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}
