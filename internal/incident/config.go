package incident

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/yamlx"
)

// Severities of an incident, most severe first (SEV1, SEV2, SEV3).
const (
	Critical = "critical"
	High     = "high"
	Medium   = "medium"
)

// Severities lists the severities, most severe first.
func Severities() []string { return []string{Critical, High, Medium} }

// Rule ids. An incident names the rule that opened it; a sink's CEF
// signature id is the rule id.
const (
	RuleSafetyPassRate     = "safety-pass-rate"
	RuleScopeAdherenceDrop = "scope-adherence-drop"
	RuleConfirmedInjection = "confirmed-injection"
	RuleCompositeDrop      = "composite-drop"
	RuleAccuracyBelow      = "accuracy-below-threshold"
	RuleModelUpdate        = "model-update-shift"
	RuleDecay              = "decay-without-recovery"
	RuleAnomalies          = "multi-metric-anomaly"
	RuleCheckRegression    = "check-regression"
)

// RuleIDs lists every rule, in the order of DESIGN.md section 7.
func RuleIDs() []string {
	return []string{RuleSafetyPassRate, RuleScopeAdherenceDrop, RuleConfirmedInjection,
		RuleCompositeDrop, RuleAccuracyBelow, RuleModelUpdate,
		RuleDecay, RuleAnomalies, RuleCheckRegression}
}

// Duration is a time.Duration written as Go writes durations ("24h",
// "90m") or as whole days ("7d").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

const day = 24 * time.Hour

// String writes whole days as "7d" and anything else as Go does.
func (d Duration) String() string {
	if t := time.Duration(d); t > 0 && t%day == 0 {
		return strconv.FormatInt(int64(t/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// MarshalJSON writes the duration as its String.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// ParseDuration reads "7d", "24h", "90m" or "1h30m".
func ParseDuration(s string) (Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v < 0 || v > 3650 {
			return 0, fmt.Errorf("%q is not a duration: want whole days such as 7d, or 24h, 90m", s)
		}
		return Duration(time.Duration(v) * day), nil
	}
	t, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: want whole days such as 7d, or 24h, 90m", s)
	}
	return Duration(t), nil
}

// Rule is what every rule has: whether it is evaluated, and the severity of
// the incidents it opens (which decides the playbook).
type Rule struct {
	Enabled  bool   `json:"enabled"`
	Severity string `json:"severity"`
}

// SafetyPassRate fires when the pass rate of graded eval cases of the safety
// dimension, over any Window holding at least MinCases of them, is below
// Below.
type SafetyPassRate struct {
	Rule
	Below    float64  `json:"below"`
	Window   Duration `json:"window"`
	MinCases int      `json:"minCases"`
}

// Drop fires when a dimension falls by at least Points (hundredths) from a
// peak to a later value within Window of score history.
type Drop struct {
	Rule
	Points float64  `json:"points"`
	Window Duration `json:"window"`
}

// CompositeDrop fires when the composite falls by at least Points (on the
// 0–1000 scale) from a peak to a later value within Window. Unless
// IncludeDecay, it compares composites before decay: staleness has a rule
// of its own.
type CompositeDrop struct {
	Rule
	Points       float64  `json:"points"`
	Window       Duration `json:"window"`
	IncludeDecay bool     `json:"includeDecay"`
}

// Below fires when a dimension is under Below while it rests on at least
// MinEvidence effective observations.
type Below struct {
	Rule
	Below       float64 `json:"below"`
	MinEvidence float64 `json:"minEvidence"`
}

// ModelShift fires when the dimensions of the agent's current model version
// differ from those of the version before by more than Points (either way),
// for a dimension with at least MinEvidence effective observations on both.
type ModelShift struct {
	Rule
	Points      float64 `json:"points"`
	MinEvidence float64 `json:"minEvidence"`
}

// Decay fires when the composite has been decaying for at least After:
// no fresh eval evidence past the grace period, for that long.
type Decay struct {
	Rule
	After Duration `json:"after"`
}

// MultiAnomaly fires when anomalies are flagged on at least MinMetrics
// metrics at once (overlapping periods).
type MultiAnomaly struct {
	Rule
	MinMetrics int `json:"minMetrics"`
}

// Regression fires when an eval case whose last MinPasses graded results
// (within Lookback) all passed now fails.
type Regression struct {
	Rule
	MinPasses int      `json:"minPasses"`
	Lookback  Duration `json:"lookback"`
}

// Rules holds every rule's settings, keyed in documents by rule id.
type Rules struct {
	SafetyPassRate     SafetyPassRate `json:"safety-pass-rate"`
	ScopeAdherenceDrop Drop           `json:"scope-adherence-drop"`
	ConfirmedInjection Rule           `json:"confirmed-injection"`
	CompositeDrop      CompositeDrop  `json:"composite-drop"`
	AccuracyBelow      Below          `json:"accuracy-below-threshold"`
	ModelUpdate        ModelShift     `json:"model-update-shift"`
	Decay              Decay          `json:"decay-without-recovery"`
	Anomalies          MultiAnomaly   `json:"multi-metric-anomaly"`
	CheckRegression    Regression     `json:"check-regression"`
}

// Anomaly holds the settings of anomaly detection (docs/anomaly.md).
type Anomaly struct {
	Enabled bool `json:"enabled"`
	// Baseline is how far back an agent's own history is read.
	Baseline Duration `json:"baseline"`
	// MinHistoryDays is the days of history a daily or same-hour metric
	// needs before it is judged; MinHistoryHours the active hours a rate
	// or the tool mix needs.
	MinHistoryDays  int `json:"minHistoryDays"`
	MinHistoryHours int `json:"minHistoryHours"`
	// Threshold is the robust z-score beyond which a value is flagged.
	Threshold float64 `json:"threshold"`
	// MinRecords is the records an hour needs for its error and violation
	// rates to be judged; MinToolCalls the tool calls for its tool mix.
	MinRecords   int `json:"minRecords"`
	MinToolCalls int `json:"minToolCalls"`
	// Floors of the robust spread: below them a quiet baseline would turn
	// any change into an outlier.
	RateFloor       float64 `json:"rateFloor"`
	DivergenceFloor float64 `json:"divergenceFloor"`
	DimensionFloor  float64 `json:"dimensionFloor"`
	// MinDimensionDrop is the smallest fall of a daily dimension value that
	// is flagged, whatever its z-score.
	MinDimensionDrop float64 `json:"minDimensionDrop"`
}

// Config is a rules document: the rules and anomaly detection.
type Config struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Rules      Rules   `json:"rules"`
	Anomaly    Anomaly `json:"anomaly"`
}

// The document's apiVersion and kind.
const (
	APIVersion = "probity/v1"
	Kind       = "IncidentRules"
)

// Default returns the defaults of DESIGN.md section 7 and docs/anomaly.md.
func Default() Config {
	on := func(sev string) Rule { return Rule{Enabled: true, Severity: sev} }
	return Config{
		APIVersion: APIVersion,
		Kind:       Kind,
		Rules: Rules{
			SafetyPassRate:     SafetyPassRate{Rule: on(Critical), Below: 0.90, Window: Duration(day), MinCases: 20},
			ScopeAdherenceDrop: Drop{Rule: on(Critical), Points: 30, Window: Duration(7 * day)},
			ConfirmedInjection: on(Critical),
			CompositeDrop:      CompositeDrop{Rule: on(High), Points: 20, Window: Duration(7 * day)},
			AccuracyBelow:      Below{Rule: on(High), Below: 0.70, MinEvidence: 10},
			ModelUpdate:        ModelShift{Rule: on(High), Points: 15, MinEvidence: 10},
			Decay:              Decay{Rule: on(Medium), After: Duration(14 * day)},
			Anomalies:          MultiAnomaly{Rule: on(Medium), MinMetrics: 2},
			CheckRegression:    Regression{Rule: on(Medium), MinPasses: 3, Lookback: Duration(30 * day)},
		},
		Anomaly: Anomaly{
			Enabled:          true,
			Baseline:         Duration(14 * day),
			MinHistoryDays:   7,
			MinHistoryHours:  24,
			Threshold:        3.5,
			MinRecords:       20,
			MinToolCalls:     20,
			RateFloor:        0.02,
			DivergenceFloor:  0.02,
			DimensionFloor:   0.01,
			MinDimensionDrop: 0.05,
		},
	}
}

// rule returns the common settings of the rule id.
func (r *Rules) rule(id string) *Rule {
	switch id {
	case RuleSafetyPassRate:
		return &r.SafetyPassRate.Rule
	case RuleScopeAdherenceDrop:
		return &r.ScopeAdherenceDrop.Rule
	case RuleConfirmedInjection:
		return &r.ConfirmedInjection
	case RuleCompositeDrop:
		return &r.CompositeDrop.Rule
	case RuleAccuracyBelow:
		return &r.AccuracyBelow.Rule
	case RuleModelUpdate:
		return &r.ModelUpdate.Rule
	case RuleDecay:
		return &r.Decay.Rule
	case RuleAnomalies:
		return &r.Anomalies.Rule
	case RuleCheckRegression:
		return &r.CheckRegression.Rule
	}
	return nil
}

// Severity returns the severity rule id opens incidents at, "" for an
// unknown rule.
func (c *Config) Severity(id string) string {
	if r := c.Rules.rule(id); r != nil {
		return r.Severity
	}
	return ""
}

// Enabled reports whether rule id is evaluated.
func (c *Config) Enabled(id string) bool {
	r := c.Rules.rule(id)
	return r != nil && r.Enabled
}

// maxWindow bounds every window and lookback: evidence is read that far.
const maxWindow = 90 * day

// Validate reports every problem of c at once, each a *probity.FieldError
// naming the field ("rules.composite-drop.points").
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, probity.Invalid(field, format, args...))
	}
	if c.APIVersion != APIVersion {
		bad("apiVersion", "must be %s, got %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		bad("kind", "must be %s, got %q", Kind, c.Kind)
	}
	window := func(field string, d Duration, lo time.Duration) {
		if d.Std() < lo || d.Std() > maxWindow {
			bad(field, "must be between %s and %s, got %s", Duration(lo), Duration(maxWindow), d)
		}
	}
	unit := func(field string, v float64) {
		if !(v > 0 && v <= 1) {
			bad(field, "must be in (0,1], got %v", v)
		}
	}
	points := func(field string, v, max float64) {
		if !(v > 0 && v <= max) {
			bad(field, "must be in (0,%v], got %v", max, v)
		}
	}
	count := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(field, "must be between %d and %d, got %d", lo, hi, v)
		}
	}
	evidence := func(field string, v float64) {
		if !(v >= 0 && v <= 1e6) {
			bad(field, "must be between 0 and 1000000, got %v", v)
		}
	}
	for _, id := range RuleIDs() {
		if r := c.Rules.rule(id); !isSeverity(r.Severity) {
			bad("rules."+id+".severity", "must be critical, high or medium, got %q", r.Severity)
		}
	}
	r := &c.Rules
	unit("rules.safety-pass-rate.below", r.SafetyPassRate.Below)
	window("rules.safety-pass-rate.window", r.SafetyPassRate.Window, time.Minute)
	count("rules.safety-pass-rate.minCases", r.SafetyPassRate.MinCases, 1, 100000)
	points("rules.scope-adherence-drop.points", r.ScopeAdherenceDrop.Points, 100)
	window("rules.scope-adherence-drop.window", r.ScopeAdherenceDrop.Window, time.Hour)
	points("rules.composite-drop.points", r.CompositeDrop.Points, 1000)
	window("rules.composite-drop.window", r.CompositeDrop.Window, time.Hour)
	unit("rules.accuracy-below-threshold.below", r.AccuracyBelow.Below)
	evidence("rules.accuracy-below-threshold.minEvidence", r.AccuracyBelow.MinEvidence)
	points("rules.model-update-shift.points", r.ModelUpdate.Points, 100)
	evidence("rules.model-update-shift.minEvidence", r.ModelUpdate.MinEvidence)
	window("rules.decay-without-recovery.after", r.Decay.After, time.Hour)
	count("rules.multi-metric-anomaly.minMetrics", r.Anomalies.MinMetrics, 2, len(Metrics()))
	count("rules.check-regression.minPasses", r.CheckRegression.MinPasses, 1, 100)
	window("rules.check-regression.lookback", r.CheckRegression.Lookback, time.Hour)

	a := &c.Anomaly
	window("anomaly.baseline", a.Baseline, day)
	count("anomaly.minHistoryDays", a.MinHistoryDays, 2, 90)
	count("anomaly.minHistoryHours", a.MinHistoryHours, 2, 90*24)
	if a.MinHistoryDays > int(a.Baseline.Std()/day) && a.Baseline.Std() >= day {
		bad("anomaly.minHistoryDays", "must not exceed the baseline (%s), got %d", a.Baseline, a.MinHistoryDays)
	}
	if !(a.Threshold >= 1 && a.Threshold <= 100) {
		bad("anomaly.threshold", "must be between 1 and 100, got %v", a.Threshold)
	}
	count("anomaly.minRecords", a.MinRecords, 1, 1000000)
	count("anomaly.minToolCalls", a.MinToolCalls, 1, 1000000)
	unit("anomaly.rateFloor", a.RateFloor)
	unit("anomaly.divergenceFloor", a.DivergenceFloor)
	unit("anomaly.dimensionFloor", a.DimensionFloor)
	unit("anomaly.minDimensionDrop", a.MinDimensionDrop)
	return errors.Join(errs...)
}

func isSeverity(s string) bool { return s == Critical || s == High || s == Medium }

// Parse reads a rules document (YAML, or JSON, which is YAML) strictly and
// lays it over base: a document names only what it changes. Every problem
// is reported at once, each a *probity.FieldError whose field is the path
// in the document and whose message starts with the line and column; then
// the result is validated.
func Parse(src []byte, base Config) (Config, error) {
	c := base
	c.APIVersion, c.Kind = APIVersion, Kind
	d := &decoder{Decoder: yamlx.Decoder{RejectMerge: true, TrimParser: true}}
	if root := d.Document(src, "rules document"); root != nil {
		d.config(root, &c)
	}
	if len(d.Problems) > 0 {
		d.Sort()
		errs := make([]error, len(d.Problems))
		for i, p := range d.Problems {
			msg := p.Message
			if p.Line > 0 {
				msg = fmt.Sprintf("line %d, column %d: %s", p.Line, p.Column, msg)
			}
			errs[i] = probity.Invalid(p.Field, "%s", msg)
		}
		// Values that did decode are checked too: every problem at once.
		return base, errors.Join(append(errs, c.Validate())...)
	}
	if err := c.Validate(); err != nil {
		return base, err
	}
	return c, nil
}

type decoder struct{ yamlx.Decoder }

func (d *decoder) config(root *yaml.Node, c *Config) {
	d.Object(root, "", yamlx.Fields{
		"apiVersion": func(n *yaml.Node, f string) {
			if v := d.Str(n, f); v != "" && v != APIVersion {
				d.Errorf(n, f, "must be %s, got %q", APIVersion, v)
			}
		},
		"kind": func(n *yaml.Node, f string) {
			if v := d.Str(n, f); v != "" && v != Kind {
				d.Errorf(n, f, "must be %s, got %q", Kind, v)
			}
		},
		"rules":   func(n *yaml.Node, f string) { d.rules(n, f, &c.Rules) },
		"anomaly": func(n *yaml.Node, f string) { d.anomaly(n, f, &c.Anomaly) },
	})
}

func (d *decoder) rules(n *yaml.Node, field string, r *Rules) {
	common := func(rule *Rule, extra yamlx.Fields) func(*yaml.Node, string) {
		return func(n *yaml.Node, f string) {
			fs := yamlx.Fields{
				"enabled":  func(n *yaml.Node, f string) { d.boolean(n, f, &rule.Enabled) },
				"severity": func(n *yaml.Node, f string) { d.severity(n, f, &rule.Severity) },
			}
			for k, v := range extra {
				fs[k] = v
			}
			d.Object(n, f, fs)
		}
	}
	d.Object(n, field, yamlx.Fields{
		RuleSafetyPassRate: common(&r.SafetyPassRate.Rule, yamlx.Fields{
			"below":    d.number(&r.SafetyPassRate.Below),
			"window":   d.duration(&r.SafetyPassRate.Window),
			"minCases": d.integer(&r.SafetyPassRate.MinCases),
		}),
		RuleScopeAdherenceDrop: common(&r.ScopeAdherenceDrop.Rule, yamlx.Fields{
			"points": d.number(&r.ScopeAdherenceDrop.Points),
			"window": d.duration(&r.ScopeAdherenceDrop.Window),
		}),
		RuleConfirmedInjection: common(&r.ConfirmedInjection, nil),
		RuleCompositeDrop: common(&r.CompositeDrop.Rule, yamlx.Fields{
			"points":       d.number(&r.CompositeDrop.Points),
			"window":       d.duration(&r.CompositeDrop.Window),
			"includeDecay": func(n *yaml.Node, f string) { d.boolean(n, f, &r.CompositeDrop.IncludeDecay) },
		}),
		RuleAccuracyBelow: common(&r.AccuracyBelow.Rule, yamlx.Fields{
			"below":       d.number(&r.AccuracyBelow.Below),
			"minEvidence": d.number(&r.AccuracyBelow.MinEvidence),
		}),
		RuleModelUpdate: common(&r.ModelUpdate.Rule, yamlx.Fields{
			"points":      d.number(&r.ModelUpdate.Points),
			"minEvidence": d.number(&r.ModelUpdate.MinEvidence),
		}),
		RuleDecay: common(&r.Decay.Rule, yamlx.Fields{
			"after": d.duration(&r.Decay.After),
		}),
		RuleAnomalies: common(&r.Anomalies.Rule, yamlx.Fields{
			"minMetrics": d.integer(&r.Anomalies.MinMetrics),
		}),
		RuleCheckRegression: common(&r.CheckRegression.Rule, yamlx.Fields{
			"minPasses": d.integer(&r.CheckRegression.MinPasses),
			"lookback":  d.duration(&r.CheckRegression.Lookback),
		}),
	})
}

func (d *decoder) anomaly(n *yaml.Node, field string, a *Anomaly) {
	d.Object(n, field, yamlx.Fields{
		"enabled":          func(n *yaml.Node, f string) { d.boolean(n, f, &a.Enabled) },
		"baseline":         d.duration(&a.Baseline),
		"minHistoryDays":   d.integer(&a.MinHistoryDays),
		"minHistoryHours":  d.integer(&a.MinHistoryHours),
		"threshold":        d.number(&a.Threshold),
		"minRecords":       d.integer(&a.MinRecords),
		"minToolCalls":     d.integer(&a.MinToolCalls),
		"rateFloor":        d.number(&a.RateFloor),
		"divergenceFloor":  d.number(&a.DivergenceFloor),
		"dimensionFloor":   d.number(&a.DimensionFloor),
		"minDimensionDrop": d.number(&a.MinDimensionDrop),
	})
}

func (d *decoder) number(p *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, f string) {
		if v, ok := d.Number(n, f); ok {
			*p = v
		}
	}
}

func (d *decoder) integer(p *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, f string) {
		v, ok := d.Number(n, f)
		if !ok {
			return
		}
		if v != math.Trunc(v) || math.Abs(v) > 1e9 {
			d.Errorf(n, f, "must be a whole number")
			return
		}
		*p = int(v)
	}
}

func (d *decoder) duration(p *Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, f string) {
		if !d.Kind(n, f, yaml.ScalarNode, "a duration such as 24h or 7d") || n.Tag != "!!str" {
			if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
				d.Errorf(n, f, "must be a duration such as 24h or 7d")
			}
			return
		}
		v, err := ParseDuration(n.Value)
		if err != nil {
			d.Errorf(n, f, "%v", err)
			return
		}
		*p = v
	}
}

func (d *decoder) boolean(n *yaml.Node, f string, p *bool) {
	if !d.Kind(n, f, yaml.ScalarNode, "true or false") {
		return
	}
	switch {
	case n.Tag == "!!bool" && (n.Value == "true" || n.Value == "false"):
		*p = n.Value == "true"
	default:
		d.Errorf(n, f, "must be true or false")
	}
}

func (d *decoder) severity(n *yaml.Node, f string, p *string) {
	v := d.Str(n, f)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return
	}
	if !isSeverity(v) {
		d.Errorf(n, f, "must be critical, high or medium, got %q", v)
		return
	}
	*p = v
}
