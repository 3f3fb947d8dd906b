package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/score"
)

// relianceThreshold is the composite below which an agent is not to be
// relied on (DESIGN.md: "700 is the reliance threshold"), flagged in the
// fleet.
const relianceThreshold = 700

// fleetSorts are the fleet's sort keys, each with its default direction:
// the worst first.
var fleetSorts = map[string]string{
	"gap": "desc", "composite": "asc", "velocity": "asc", "risk": "desc",
	"incidents": "desc", "verified": "asc", "agent": "asc", "owner": "asc",
}

// fleetPerPage are the page sizes offered.
var fleetPerPage = []int{25, 50, 100, 200}

// fleetQuery is what the fleet's query string selects; every field is a
// parameter of the same name.
type fleetQuery struct {
	Owner, Risk, Tier, Status, Q string
	Sort, Dir                    string
	Page, Per                    int
}

// tierNames lists the certification tiers, highest first, and uncertified.
func tierNames() []string {
	var out []string
	for _, t := range score.DefaultConfig().Tiers {
		out = append(out, t.Name)
	}
	return append(out, score.Uncertified)
}

// parseFleetQuery reads and checks the fleet's parameters, naming the
// first bad one.
func parseFleetQuery(q url.Values) (fleetQuery, error) {
	f := fleetQuery{Owner: q.Get("owner"), Risk: q.Get("risk"), Tier: q.Get("tier"), Status: q.Get("status"),
		Q: strings.TrimSpace(q.Get("q")), Sort: q.Get("sort"), Dir: q.Get("dir"), Page: 1, Per: 50}
	for _, p := range []struct{ name, v string }{{"owner", f.Owner}, {"q", f.Q}} {
		if err := probity.CheckText(p.name, p.v, 200); err != nil {
			return f, err
		}
	}
	if f.Risk != "" && !slices.Contains(probity.RiskTiers, f.Risk) {
		return f, probity.Invalid("risk", "must be one of %s", strings.Join(probity.RiskTiers, ", "))
	}
	if f.Tier != "" && f.Tier != "none" && !slices.Contains(tierNames(), f.Tier) {
		return f, probity.Invalid("tier", "must be one of %s, or none (not scored yet)", strings.Join(tierNames(), ", "))
	}
	if f.Status != "" && f.Status != probity.StatusActive && f.Status != probity.StatusSuspended {
		return f, probity.Invalid("status", "must be active or suspended")
	}
	if f.Sort == "" {
		f.Sort = "gap"
	}
	def, ok := fleetSorts[f.Sort]
	if !ok {
		return f, probity.Invalid("sort", "must be one of gap, composite, velocity, risk, incidents, verified, agent, owner")
	}
	switch f.Dir {
	case "":
		f.Dir = def
	case "asc", "desc":
	default:
		return f, probity.Invalid("dir", "must be asc or desc")
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return f, probity.Invalid("page", "must be a whole number from 1")
		}
		f.Page = n
	}
	if v := q.Get("per"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(fleetPerPage, n) {
			return f, probity.Invalid("per", "must be one of 25, 50, 100, 200")
		}
		f.Per = n
	}
	return f, nil
}

// values is the query string of f, without defaults.
func (f fleetQuery) values() url.Values {
	q := url.Values{}
	set := func(k, v, def string) {
		if v != "" && v != def {
			q.Set(k, v)
		}
	}
	set("owner", f.Owner, "")
	set("risk", f.Risk, "")
	set("tier", f.Tier, "")
	set("status", f.Status, "")
	set("q", f.Q, "")
	set("sort", f.Sort, "gap")
	set("dir", f.Dir, fleetSorts[f.Sort])
	set("page", strconv.Itoa(f.Page), "1")
	set("per", strconv.Itoa(f.Per), "50")
	return q
}

func (f fleetQuery) url() string {
	if q := f.values().Encode(); q != "" {
		return "/?" + q
	}
	return "/"
}

// fleetRow is one agent as the fleet shows it.
type fleetRow struct {
	api.FleetRow
	HasScore  bool
	Composite int
	Tier      string
	Velocity7 int
	Badges    []string
	Incidents score.Incidents
	Flags     []string // why the agent needs attention
}

func (r *fleetRow) openIncidents() int {
	return r.Incidents.Critical + r.Incidents.High + r.Incidents.Medium
}

// flagsOf says, in a few words each, why an agent needs attention.
func flagsOf(r *fleetRow) []string {
	var out []string
	if r.Status == probity.StatusSuspended {
		out = append(out, "suspended")
	}
	if r.Incidents.Critical > 0 {
		out = append(out, "critical incident")
	}
	if !r.HasScore {
		out = append(out, "not scored yet")
	} else {
		if r.Composite < relianceThreshold {
			out = append(out, "below "+strconv.Itoa(relianceThreshold))
		}
		if r.Velocity7 <= -20 {
			out = append(out, "falling")
		}
		if !slices.Contains(r.Badges, score.BadgeInjectionFree) {
			out = append(out, "not injection-free")
		}
	}
	if !r.Verification.PactBound {
		out = append(out, "no pact")
	}
	if !r.Verification.Monitored24h {
		out = append(out, "unmonitored")
	}
	return out
}

// fleetPage is the data of the fleet page.
type fleetPage struct {
	layout
	Query    fleetQuery
	Rows     []fleetRow
	Total    int // agents in the org
	Matching int // agents the filters select
	First    int // 1-based index of the first row shown
	Pages    []pageLink
	Prev     string
	Next     string

	Owners   []string
	Risks    []string
	Tiers    []string
	PerPage  []int
	Summary  fleetSummary
	Columns  map[string]sortLink
	Filtered bool
}

// fleetSummary counts what a security lead looks at first.
type fleetSummary struct {
	Agents, Suspended, BelowThreshold, Unscored, Flagged int
	Incidents                                            score.Incidents
}

type pageLink struct {
	N       int
	URL     string
	Current bool
}

// sortLink is a column header: the URL that sorts by it (or reverses the
// current order) and the arrow of the current order.
type sortLink struct {
	URL   string
	Arrow string
}

func (d *Dashboard) fleet(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q, err := parseFleetQuery(r.URL.Query())
	if err != nil {
		return err
	}
	all, err := d.api.Fleet(r.Context(), v.key)
	if err != nil {
		return err
	}
	p := fleetPage{layout: d.frame(v, "Fleet", "fleet"), Query: q, Total: len(all), Risks: probity.RiskTiers,
		Tiers: append(tierNames(), "none"), PerPage: fleetPerPage}
	p.Filtered = q.Owner != "" || q.Risk != "" || q.Tier != "" || q.Status != "" || q.Q != ""
	owners := map[string]bool{}
	rows := make([]fleetRow, 0, len(all))
	lowerQ := strings.ToLower(q.Q)
	for _, fr := range all {
		row := fleetRow{FleetRow: fr, Tier: "none", Incidents: fr.OpenIncidents}
		if sc := fr.Score; sc != nil {
			row.HasScore, row.Composite, row.Tier = true, sc.CompositeScore, sc.CertificationTier
			row.Velocity7, row.Badges = sc.ScoreVelocity.Last7Days, sc.SecurityPosture.Badges
		}
		row.Flags = flagsOf(&row)
		if fr.Owner != "" {
			owners[fr.Owner] = true
		}
		p.Summary.add(&row)
		switch {
		case q.Owner != "" && fr.Owner != q.Owner,
			q.Risk != "" && fr.Risk.Tier != q.Risk,
			q.Tier != "" && row.Tier != q.Tier,
			q.Status != "" && fr.Status != q.Status,
			q.Q != "" && !strings.Contains(strings.ToLower(fr.AgentID), lowerQ) && !strings.Contains(strings.ToLower(fr.Name), lowerQ):
			continue
		}
		rows = append(rows, row)
	}
	for o := range owners {
		p.Owners = append(p.Owners, o)
	}
	slices.Sort(p.Owners)
	sortFleet(rows, q.Sort, q.Dir)
	p.Matching = len(rows)

	pages := max(1, (len(rows)+q.Per-1)/q.Per)
	if q.Page > pages {
		q.Page = pages
		p.Query = q
	}
	start := (q.Page - 1) * q.Per
	p.Rows = rows[start:min(start+q.Per, len(rows))]
	p.First = start + 1
	for n := 1; n <= pages; n++ {
		if n == 1 || n == pages || (n >= q.Page-3 && n <= q.Page+3) {
			at := q
			at.Page = n
			p.Pages = append(p.Pages, pageLink{N: n, URL: at.url(), Current: n == q.Page})
		}
	}
	if q.Page > 1 {
		at := q
		at.Page--
		p.Prev = at.url()
	}
	if q.Page < pages {
		at := q
		at.Page++
		p.Next = at.url()
	}
	p.Columns = map[string]sortLink{}
	for col, def := range fleetSorts {
		at := q
		at.Sort, at.Dir, at.Page = col, def, 1
		l := sortLink{}
		if q.Sort == col {
			if q.Dir == "asc" {
				at.Dir, l.Arrow = "desc", "▲"
			} else {
				at.Dir, l.Arrow = "asc", "▼"
			}
		}
		l.URL = at.url()
		p.Columns[col] = l
	}
	return d.render(w, r, http.StatusOK, "fleet.html", p)
}

func (s *fleetSummary) add(r *fleetRow) {
	s.Agents++
	if r.Status == probity.StatusSuspended {
		s.Suspended++
	}
	if !r.HasScore {
		s.Unscored++
	} else if r.Composite < relianceThreshold {
		s.BelowThreshold++
	}
	if len(r.Flags) > 0 {
		s.Flagged++
	}
	s.Incidents.Critical += r.Incidents.Critical
	s.Incidents.High += r.Incidents.High
	s.Incidents.Medium += r.Incidents.Medium
}

// sortFleet orders rows by key in dir; ties keep the inventory's order
// (widest gap, then highest risk, then id).
func sortFleet(rows []fleetRow, key, dir string) {
	riskRank := func(t string) int { return slices.Index(probity.RiskTiers, t) }
	by := func(x, y *fleetRow) int {
		switch key {
		case "composite":
			// Unscored agents count as the lowest.
			return cmp.Compare(scoreOrMinus(x), scoreOrMinus(y))
		case "velocity":
			return cmp.Compare(x.Velocity7, y.Velocity7)
		case "risk":
			return cmp.Or(cmp.Compare(riskRank(x.Risk.Tier), riskRank(y.Risk.Tier)), cmp.Compare(x.Risk.Score, y.Risk.Score))
		case "incidents":
			return cmp.Or(cmp.Compare(x.Incidents.Critical, y.Incidents.Critical), cmp.Compare(x.Incidents.High, y.Incidents.High),
				cmp.Compare(x.openIncidents(), y.openIncidents()))
		case "verified":
			return cmp.Compare(x.Verified, y.Verified)
		case "agent":
			return cmp.Compare(x.AgentID, y.AgentID)
		case "owner":
			return cmp.Compare(x.Owner, y.Owner)
		}
		return cmp.Compare(x.Gap, y.Gap)
	}
	slices.SortStableFunc(rows, func(x, y fleetRow) int {
		if dir == "desc" {
			return by(&y, &x)
		}
		return by(&x, &y)
	})
}

func scoreOrMinus(r *fleetRow) int {
	if !r.HasScore {
		return -1
	}
	return r.Composite
}
