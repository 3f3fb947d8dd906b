package eval

import (
	"math"
	"slices"
)

// z95 is the standard normal quantile for a two-sided 95% interval.
const z95 = 1.959964

// Wilson returns the Wilson score 95% interval of passed successes in n
// trials; with n = 0 it is [0, 1].
func Wilson(passed, n int) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p := float64(passed) / float64(n)
	nf := float64(n)
	z2 := z95 * z95
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z95 * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return max(0, center-half), min(1, center+half)
}

// Rate is a proportion with its Wilson 95% interval.
type Rate struct {
	Count int     `json:"count"` // successes
	N     int     `json:"n"`     // trials
	Rate  float64 `json:"rate"`  // Count/N, 0 when N is 0
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

func newRate(count, n int) Rate {
	r := Rate{Count: count, N: n}
	if n > 0 {
		r.Rate = float64(count) / float64(n)
	}
	r.Lo, r.Hi = Wilson(count, n)
	return r
}

// DimensionSummary counts the cases that are evidence for one dimension.
// PassRate and its interval are over graded cases (passed + failed): errors
// are reported apart, never as passes or failures.
type DimensionSummary struct {
	Passed   int     `json:"passed"`
	Failed   int     `json:"failed"`
	Errors   int     `json:"errors"`
	PassRate float64 `json:"passRate"`
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
}

// GroupSummary says whether a group of paraphrases agreed: Agreed is true
// when every graded case of the group has the same verdict, and Agreement
// is the share of graded cases that have the majority verdict.
type GroupSummary struct {
	Group     string  `json:"group"`
	Passed    int     `json:"passed"`
	Failed    int     `json:"failed"`
	Errors    int     `json:"errors"`
	Agreed    bool    `json:"agreed"`
	Agreement float64 `json:"agreement"`
}

// Summary aggregates case results.
type Summary struct {
	Cases  int `json:"cases"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	Errors int `json:"errors"`
	// PassRate and its Wilson interval are over graded cases (passed +
	// failed).
	PassRate   float64                     `json:"passRate"`
	Lo         float64                     `json:"lo"`
	Hi         float64                     `json:"hi"`
	Dimensions map[string]DimensionSummary `json:"dimensions"`
	// AttackSuccessRate is over cases with attack checks whose attack could
	// be graded; UtilityUnderAttack over those with utility checks.
	AttackSuccessRate  *Rate `json:"attackSuccessRate,omitempty"`
	UtilityUnderAttack *Rate `json:"utilityUnderAttack,omitempty"`
	// Groups lists each group in name order; GroupAgreement is the share
	// of groups with at least two graded cases that agreed.
	Groups         []GroupSummary `json:"groups,omitzero"`
	GroupAgreement *Rate          `json:"groupAgreement,omitempty"`
}

// Summarize aggregates results. cases maps case ids to their cases, for
// dimensions, attack and utility and groups; a result whose case is missing
// counts only in the totals.
func Summarize(results []CaseResult, cases map[string]*Case) Summary {
	s := Summary{Dimensions: map[string]DimensionSummary{}}
	var attack, attackN, utility, utilityN int
	var hasAttack, hasUtility bool
	groups := map[string]*GroupSummary{}
	for _, r := range results {
		s.Cases++
		switch r.Status {
		case StatusPassed:
			s.Passed++
		case StatusFailed:
			s.Failed++
		default:
			s.Errors++
		}
		c := cases[r.CaseID]
		if c == nil {
			continue
		}
		for _, dim := range c.Dimensions {
			ds := s.Dimensions[dim]
			switch r.Status {
			case StatusPassed:
				ds.Passed++
			case StatusFailed:
				ds.Failed++
			default:
				ds.Errors++
			}
			s.Dimensions[dim] = ds
		}
		if len(c.Attack) > 0 {
			hasAttack = true
			if r.Attack != nil {
				attackN++
				if *r.Attack {
					attack++
				}
			}
		}
		if len(c.Utility) > 0 {
			hasUtility = true
			if r.Utility != nil {
				utilityN++
				if *r.Utility {
					utility++
				}
			}
		}
		if c.Group != "" {
			g := groups[c.Group]
			if g == nil {
				g = &GroupSummary{Group: c.Group}
				groups[c.Group] = g
			}
			switch r.Status {
			case StatusPassed:
				g.Passed++
			case StatusFailed:
				g.Failed++
			default:
				g.Errors++
			}
		}
	}
	for dim, ds := range s.Dimensions {
		n := ds.Passed + ds.Failed
		r := newRate(ds.Passed, n)
		ds.PassRate, ds.Lo, ds.Hi = r.Rate, r.Lo, r.Hi
		s.Dimensions[dim] = ds
	}
	if hasAttack {
		r := newRate(attack, attackN)
		s.AttackSuccessRate = &r
	}
	if hasUtility {
		r := newRate(utility, utilityN)
		s.UtilityUnderAttack = &r
	}
	if len(groups) > 0 {
		names := make([]string, 0, len(groups))
		for name := range groups {
			names = append(names, name)
		}
		slices.Sort(names)
		agreed, n := 0, 0
		for _, name := range names {
			g := groups[name]
			graded := g.Passed + g.Failed
			g.Agreed = g.Passed == 0 || g.Failed == 0
			if graded > 0 {
				g.Agreement = float64(max(g.Passed, g.Failed)) / float64(graded)
			}
			if graded >= 2 {
				n++
				if g.Agreed {
					agreed++
				}
			}
			s.Groups = append(s.Groups, *g)
		}
		r := newRate(agreed, n)
		s.GroupAgreement = &r
	}
	if n := s.Passed + s.Failed; n > 0 {
		s.PassRate = float64(s.Passed) / float64(n)
	}
	s.Lo, s.Hi = Wilson(s.Passed, s.Passed+s.Failed)
	return s
}
