package probity

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Verification is what has been verified about an agent. Each check is worth
// a quarter of the verification figure; docs/inventory.md explains why.
type Verification struct {
	PactBound     bool `json:"pactBound"`     // an active pact names the agent
	BaselineEval  bool `json:"baselineEval"`  // a full security baseline ran on the current model version
	Monitored24h  bool `json:"monitored24h"`  // behavioral records arrived in the last 24 hours
	EvalLast7Days bool `json:"evalLast7Days"` // an eval completed in the last 7 days
}

// Risk is the figure derived from an agent's access profile, 0 to 100, with
// the factors that make it up.
type Risk struct {
	Score        int      `json:"score"`
	Tier         string   `json:"tier"`                   // the declared tier if any, else derived from Score
	DerivedTier  string   `json:"derivedTier"`            // from Score alone
	DeclaredTier string   `json:"declaredTier,omitempty"` // what the owner declared
	Factors      []string `json:"factors"`
}

// InventoryItem is one row of the inventory: an agent, its risk, what has
// been verified, and the gap between the two.
type InventoryItem struct {
	AgentID      string       `json:"agentId"`
	Name         string       `json:"name,omitempty"`
	Owner        string       `json:"owner,omitempty"`
	Status       string       `json:"status"`
	Model        Model        `json:"model"`
	Risk         Risk         `json:"risk"`
	Verification Verification `json:"verification"`
	Verified     int          `json:"verified"` // 0 to 100
	Gap          int          `json:"gap"`      // 0 to 100: risk not covered by verification
}

// Weights of the data classes an agent may touch; an unlisted class counts as
// confidential. The figure takes the most sensitive class only.
var dataClassWeights = map[string]int{
	"public": 0, "internal": 5, "confidential": 10,
	"pii": 15, "customer": 15, "personal": 15,
	"financial": 20, "pci": 20, "payment": 20, "phi": 20, "health": 20,
	"credentials": 20, "secrets": 20,
}

// Actions with effects that are hard to undo weigh more than others.
var highImpactActions = []string{
	"payment", "pay", "transfer", "refund", "delete", "deploy", "execute", "exec", "shell",
	"send_email", "email", "write", "admin", "provision", "grant",
}

// AssessRisk derives an agent's risk figure from its access profile:
// production 20, financial 20, the most sensitive data class up to 20,
// actions up to 25 (8 for each high-impact action, 3 for others) and systems
// up to 15 (3 each), capped at 100. A declared tier never lowers the derived
// one: the stricter of the two is the agent's tier.
func AssessRisk(a *Agent) Risk {
	var r Risk
	add := func(n int, why string) {
		if n > 0 {
			r.Score += n
			r.Factors = append(r.Factors, fmt.Sprintf("+%d %s", n, why))
		}
	}
	if a.Access.Production {
		add(20, "production access")
	}
	if a.Access.Financial {
		add(20, "financial authority")
	}
	best, bestClass := 0, ""
	for _, c := range a.Access.DataClasses {
		w, ok := dataClassWeights[strings.ToLower(c)]
		if !ok {
			w = dataClassWeights["confidential"]
		}
		if w > best {
			best, bestClass = w, c
		}
	}
	add(best, "data class "+bestClass)
	acts := 0
	for _, act := range a.Access.Actions {
		if slices.Contains(highImpactActions, strings.ToLower(act)) {
			acts += 8
		} else {
			acts += 3
		}
	}
	add(min(acts, 25), "actions: "+strings.Join(a.Access.Actions, ", "))
	add(min(3*len(a.Access.Systems), 15), "systems: "+strings.Join(a.Access.Systems, ", "))
	r.Score = min(r.Score, 100)
	if r.Factors == nil {
		r.Factors = []string{}
	}
	r.DerivedTier = tierOf(r.Score)
	r.DeclaredTier = a.RiskTier
	r.Tier = r.DerivedTier
	if tierRank(a.RiskTier) > tierRank(r.Tier) {
		r.Tier = a.RiskTier
	}
	return r
}

func tierOf(score int) string {
	switch {
	case score >= 75:
		return "critical"
	case score >= 50:
		return "high"
	case score >= 25:
		return "medium"
	}
	return "low"
}

func tierRank(t string) int { return slices.Index(RiskTiers, t) }

// tierFloor is the least risk figure a tier stands for, used when a declared
// tier is stricter than the access profile suggests.
var tierFloor = map[string]int{"low": 0, "medium": 25, "high": 50, "critical": 75}

// Assess builds an agent's inventory row. The gap is the part of the risk
// that verification does not cover: risk × (100 − verified) / 100, where the
// risk is raised to the floor of a stricter declared tier.
func Assess(a *Agent, v Verification) InventoryItem {
	r := AssessRisk(a)
	verified := 0
	for _, ok := range []bool{v.PactBound, v.BaselineEval, v.Monitored24h, v.EvalLast7Days} {
		if ok {
			verified += 25
		}
	}
	risk := max(r.Score, tierFloor[r.Tier])
	return InventoryItem{
		AgentID: a.ID, Name: a.Name, Owner: a.Owner, Status: a.Status, Model: a.Model,
		Risk: r, Verification: v, Verified: verified,
		Gap: (risk*(100-verified) + 50) / 100,
	}
}

// SortInventory puts the widest gap first, then the highest risk, then by id.
func SortInventory(items []InventoryItem) {
	slices.SortFunc(items, func(x, y InventoryItem) int {
		return cmp.Or(cmp.Compare(y.Gap, x.Gap), cmp.Compare(y.Risk.Score, x.Risk.Score), cmp.Compare(x.AgentID, y.AgentID))
	})
}
