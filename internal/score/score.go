package score

import (
	"math"
	"time"

	"github.com/probity-dev/probity"
)

// Score is the score object of DESIGN.md section 5 (also the core of the
// attestation predicate), with the explanation that ?explain=1 shows.
type Score struct {
	AgentID           string          `json:"agentId"`
	CompositeScore    int             `json:"compositeScore"`
	Confidence        float64         `json:"confidence"`
	CertificationTier string          `json:"certificationTier"`
	Dimensions        Dimensions      `json:"dimensions"`
	ScoreVelocity     Velocity        `json:"scoreVelocity"`
	SecurityPosture   Posture         `json:"securityPosture"`
	Evidence          EvidenceSummary `json:"evidence"`
	Model             probity.Model   `json:"model"`
	Pact              PactRef         `json:"pact,omitzero"`
	ComputedAt        time.Time       `json:"computedAt"`
	// Explain is always computed; the API shows it only when asked.
	Explain *Explanation `json:"explain,omitempty"`
}

// Velocity is the change of the composite over the last day, week and 30
// days, in composite points.
type Velocity struct {
	Last1Day   int `json:"last1Day"`
	Last7Days  int `json:"last7Days"`
	Last30Days int `json:"last30Days"`
}

// Posture is the security posture: badges in a fixed order, open incidents,
// the clean streak, and the status of every OWASP id (tested, monitored or
// uncovered).
type Posture struct {
	Badges          []string          `json:"badges"`
	OpenIncidents   Incidents         `json:"openIncidents"`
	CleanStreakDays int               `json:"cleanStreakDays"`
	OWASP           map[string]string `json:"owasp"`
}

// OWASP statuses.
const (
	OWASPTested    = "tested"
	OWASPMonitored = "monitored"
	OWASPUncovered = "uncovered"
)

// EvidenceSummary counts the evidence behind a score.
type EvidenceSummary struct {
	EvalCases    int       `json:"evalCases"`
	Records      int       `json:"records"`
	LastEvalAt   time.Time `json:"lastEvalAt,omitzero"`
	LastRecordAt time.Time `json:"lastRecordAt,omitzero"`
}

// Explanation says how a score came about. Figures are rounded to four
// decimals.
type Explanation struct {
	Dimensions map[string]DimensionDetail `json:"dimensions"`
	// UndecayedComposite is 1000·Σ weight·dimension before decay.
	UndecayedComposite float64 `json:"undecayedComposite"`
	// DecayFactor multiplies UndecayedComposite; DecayDays is how far past
	// the grace period the last eval (or the registration) is.
	DecayFactor float64 `json:"decayFactor"`
	DecayDays   float64 `json:"decayDays"`
	// TierReason says why the tier is what it is.
	TierReason string        `json:"tierReason"`
	Badges     []BadgeDetail `json:"badges"`
	// ByModelVersion holds the dimensions of every model version seen in
	// the evidence, without time weighting (see ModelDelta).
	ByModelVersion map[string]VersionScore `json:"byModelVersion,omitempty"`
	// Ignored counts observations left out: unknown dimension, bad weight,
	// or a time after the instant asked about.
	Ignored int `json:"ignored,omitzero"`
}

// DimensionDetail is one dimension's evidence and contributions.
type DimensionDetail struct {
	Observations int `json:"observations"` // observations counted
	// EffectiveEvidence n is the sum of the observations' weights; Passes
	// and Failures split it.
	EffectiveEvidence float64 `json:"effectiveEvidence"`
	Passes            float64 `json:"passes"`
	Failures          float64 `json:"failures"`
	// PriorContribution k·m/(k+n) and EvidenceContribution p/(k+n) add up
	// to Value.
	PriorContribution    float64 `json:"priorContribution"`
	EvidenceContribution float64 `json:"evidenceContribution"`
	Value                float64 `json:"value"`
	// Confidence is n/(n+k).
	Confidence float64 `json:"confidence"`
	// Weight in the composite and Contribution to it after decay, in
	// composite points.
	Weight       float64 `json:"weight"`
	Contribution float64 `json:"contribution"`
}

// tally is the weighted evidence of one dimension.
type tally struct {
	count int
	n, p  float64
}

func (t tally) value(cfg *Config) float64 {
	return (cfg.PriorStrength*cfg.PriorMean + t.p) / (cfg.PriorStrength + t.n)
}

func (t tally) confidence(cfg *Config) float64 {
	return t.n / (t.n + cfg.PriorStrength)
}

// Compute returns the score of in at now under cfg, which should have
// passed Validate. It is pure: everything it knows comes from its
// arguments.
func Compute(in Inputs, cfg Config, now time.Time) Score {
	now = now.UTC()
	ex := &Explanation{Dimensions: map[string]DimensionDetail{}}
	obs := make([]*Observation, 0, len(in.Evidence))
	for i := range in.Evidence {
		if o := &in.Evidence[i]; usable(o, now) {
			obs = append(obs, o)
		} else {
			ex.Ignored++
		}
	}

	// Dimensions from time-weighted evidence under the prior.
	var tallies [6]tally // in the order of DimensionNames
	for _, o := range obs {
		w := weight(o) * math.Exp2(-float64(now.Sub(o.Time))/float64(cfg.HalfLife))
		if o.ModelVersion != "" && in.Model.Version != "" && o.ModelVersion != in.Model.Version {
			w *= cfg.OtherVersionWeight
		}
		t := &tallies[dimensionIndex(o.Dimension)]
		t.count++
		t.n += w
		if o.Passed {
			t.p += w
		}
	}
	var dims Dimensions
	var undecayed, confidence float64
	for i, name := range DimensionNames() {
		t := tallies[i]
		v := clamp01(t.value(&cfg))
		dims.Set(name, round4(v))
		undecayed += 1000 * cfg.Weights.Get(name) * v
		confidence += cfg.Weights.Get(name) * t.confidence(&cfg)
	}

	// Decay without fresh eval evidence.
	lastEval := lastEvalAt(obs)
	decayDays, factor := decay(cfg, now, lastEval, in.RegisteredAt, obs)
	composite := int(math.Round(min(1000, max(0, undecayed*factor))))

	for i, name := range DimensionNames() {
		t := tallies[i]
		k := cfg.PriorStrength
		ex.Dimensions[name] = DimensionDetail{
			Observations:         t.count,
			EffectiveEvidence:    round4(t.n),
			Passes:               round4(t.p),
			Failures:             round4(t.n - t.p),
			PriorContribution:    round4(k * cfg.PriorMean / (k + t.n)),
			EvidenceContribution: round4(t.p / (k + t.n)),
			Value:                dims.Get(name),
			Confidence:           round4(t.confidence(&cfg)),
			Weight:               cfg.Weights.Get(name),
			Contribution:         round4(1000 * cfg.Weights.Get(name) * clamp01(t.value(&cfg)) * factor),
		}
	}
	ex.UndecayedComposite = round4(undecayed)
	ex.DecayFactor = round4(factor)
	ex.DecayDays = round4(decayDays)
	ex.ByModelVersion = byModelVersion(obs, cfg)

	s := Score{
		AgentID:        in.AgentID,
		CompositeScore: composite,
		Confidence:     round4(clamp01(confidence)),
		Dimensions:     dims,
		Evidence: EvidenceSummary{
			EvalCases:  evalCases(obs),
			Records:    in.Records,
			LastEvalAt: lastEval,
		},
		Model:      in.Model,
		Pact:       in.Pact,
		ComputedAt: now,
		Explain:    ex,
	}
	if !in.LastRecordAt.IsZero() && !in.LastRecordAt.After(now) {
		s.Evidence.LastRecordAt = in.LastRecordAt.UTC()
	}
	s.CertificationTier, ex.TierReason = tier(cfg, in, s.CompositeScore, s.Confidence)
	s.ScoreVelocity = velocity(in.History, composite, now)
	s.SecurityPosture = posture(in, cfg, obs, now, ex)
	return s
}

// usable reports whether o is evidence at now.
func usable(o *Observation, now time.Time) bool {
	w := o.Weight
	return dimensionIndex(o.Dimension) >= 0 &&
		!o.Time.After(now) && !o.Time.IsZero() &&
		w >= 0 && !math.IsInf(w, 0) && !math.IsNaN(w)
}

// dimensionIndex is the index of a dimension in DimensionNames, -1 for an
// unknown name.
func dimensionIndex(name string) int {
	switch name {
	case Accuracy:
		return 0
	case Reliability:
		return 1
	case Safety:
		return 2
	case Security:
		return 3
	case ScopeAdherence:
		return 4
	case OutputSanitization:
		return 5
	}
	return -1
}

func weight(o *Observation) float64 {
	if o.Weight == 0 {
		return 1
	}
	return min(o.Weight, MaxWeight)
}

func lastEvalAt(obs []*Observation) time.Time {
	var last time.Time
	for _, o := range obs {
		if o.Source == SourceEval && o.Time.After(last) {
			last = o.Time
		}
	}
	if last.IsZero() {
		return last
	}
	return last.UTC()
}

// decay returns how many days past the grace period the reference time is,
// and the factor 2^(−days/DecayHalfLife) (1 within the grace period). The
// reference is the last eval, else the registration, else the first
// observation; with none of them there is nothing to decay.
func decay(cfg Config, now, lastEval, registered time.Time, obs []*Observation) (days, factor float64) {
	ref := lastEval
	if ref.IsZero() && !registered.IsZero() && !registered.After(now) {
		ref = registered
	}
	if ref.IsZero() {
		for _, o := range obs {
			if ref.IsZero() || o.Time.Before(ref) {
				ref = o.Time
			}
		}
	}
	if ref.IsZero() {
		return 0, 1
	}
	past := now.Sub(ref) - cfg.GracePeriod
	if past <= 0 {
		return 0, 1
	}
	return float64(past) / float64(24*time.Hour), math.Exp2(-float64(past) / float64(cfg.DecayHalfLife))
}

func evalCases(obs []*Observation) int {
	refs := map[string]bool{}
	n := 0
	for _, o := range obs {
		if o.Source != SourceEval {
			continue
		}
		if o.Ref == "" {
			n++
		} else if !refs[o.Ref] {
			refs[o.Ref] = true
			n++
		}
	}
	return n
}

// tier returns the first tier the composite and confidence reach, and why.
func tier(cfg Config, in Inputs, composite int, confidence float64) (name, reason string) {
	if in.IncidentsEnabled && in.OpenIncidents.Critical > 0 {
		return Uncertified, "an open critical incident withholds every tier"
	}
	for _, t := range cfg.Tiers {
		if composite >= t.MinComposite && confidence >= t.MinConfidence {
			return t.Name, "composite and confidence reach " + t.Name
		}
	}
	return Uncertified, "composite or confidence below every tier's minimum"
}

// VersionScore is the dimensions of one model version, from its
// observations weighted without age.
type VersionScore struct {
	Dimensions Dimensions `json:"dimensions"`
	// Evidence is the effective evidence of each dimension.
	Evidence Dimensions `json:"evidence"`
}

func byModelVersion(obs []*Observation, cfg Config) map[string]VersionScore {
	per := map[string]*[6]tally{}
	for _, o := range obs {
		if o.ModelVersion == "" {
			continue
		}
		ts := per[o.ModelVersion]
		if ts == nil {
			ts = new([6]tally)
			per[o.ModelVersion] = ts
		}
		t := &ts[dimensionIndex(o.Dimension)]
		t.count++
		t.n += weight(o)
		if o.Passed {
			t.p += weight(o)
		}
	}
	if len(per) == 0 {
		return nil
	}
	out := map[string]VersionScore{}
	for v, ts := range per {
		var vs VersionScore
		for i, name := range DimensionNames() {
			vs.Dimensions.Set(name, round4(clamp01(ts[i].value(&cfg))))
			vs.Evidence.Set(name, round4(ts[i].n))
		}
		out[v] = vs
	}
	return out
}

// ModelDelta returns the change of every dimension from one model version to
// another, in points (hundredths), for the dimensions with evidence on both;
// the incident rule "a model update moves any dimension by more than 15
// points" reads it.
func ModelDelta(from, to VersionScore) map[string]float64 {
	out := map[string]float64{}
	for _, name := range DimensionNames() {
		if from.Evidence.Get(name) > 0 && to.Evidence.Get(name) > 0 {
			out[name] = round4(100 * (to.Dimensions.Get(name) - from.Dimensions.Get(name)))
		}
	}
	return out
}

func clamp01(v float64) float64 { return min(1, max(0, v)) }

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
