package pact

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/yamlx"
)

// decoder walks a yaml.Node tree (JSON is parsed as YAML, which gives both
// the same positions) and collects every error instead of stopping at the
// first.
type decoder struct {
	yamlx.Decoder
	src []byte
	ids map[string]string // clause id → field that declared it
	cel *celCompiler
}

// errors returns the problems in source order as Errors.
func (d *decoder) errors() Errors {
	d.Sort()
	es := make(Errors, len(d.Problems))
	for i, p := range d.Problems {
		es[i] = Error{Line: p.Line, Column: p.Column, Field: p.Field, Message: p.Message}
	}
	return es
}

func (d *decoder) decode(src []byte) *Pact {
	root := d.Document(src, "pact")
	if root == nil {
		return nil
	}
	p := &Pact{}
	d.Object(root, "", yamlx.Fields{
		"apiVersion":  func(n *yaml.Node, f string) { p.APIVersion = d.Str(n, f) },
		"kind":        func(n *yaml.Node, f string) { p.Kind = d.Str(n, f) },
		"id":          func(n *yaml.Node, f string) { p.ID = d.Str(n, f) },
		"agents":      func(n *yaml.Node, f string) { p.Agents = d.strs(n, f) },
		"scope":       func(n *yaml.Node, f string) { p.Scope = d.scope(n, f) },
		"forbid":      func(n *yaml.Node, f string) { p.Forbid = seq(d, n, f, d.forbid) },
		"outputs":     func(n *yaml.Node, f string) { p.Outputs = seq(d, n, f, d.output) },
		"commitments": func(n *yaml.Node, f string) { p.Commitments = seq(d, n, f, d.commitment) },
	}, "apiVersion", "kind", "id")
	d.validate(root, p)
	return p
}

// strs decodes a list of distinct non-empty strings; a present but empty
// list is non-nil.
func (d *decoder) strs(n *yaml.Node, field string) []string {
	seen := map[string]bool{}
	out := seq(d, n, field, func(c *yaml.Node, f string) string {
		s := d.Str(c, f)
		switch {
		case s == "":
			if c.Kind == yaml.ScalarNode && c.Tag != "!!null" {
				d.Errorf(c, f, "must not be empty")
			}
		case seen[s]:
			d.Errorf(c, f, "%q is listed twice", s)
			return ""
		default:
			seen[s] = true
		}
		return s
	})
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

func seq[T any](d *decoder, n *yaml.Node, field string, item func(*yaml.Node, string) T) []T {
	return yamlx.Seq(&d.Decoder, n, field, MaxClauses, item)
}

// clauseID checks a clause id and that no other clause has it.
func (d *decoder) clauseID(n *yaml.Node, field, id string) {
	switch {
	case !probity.ValidID(id):
		d.Errorf(n, field, "%s", probity.IDRule)
	case strings.HasPrefix(id, reservedIDPfx):
		d.Errorf(n, field, "ids starting with %q are reserved for generated scope clause ids", reservedIDPfx)
	default:
		d.unique(n, field, id)
	}
}

func (d *decoder) unique(n *yaml.Node, field, id string) {
	if prev, ok := d.ids[id]; ok {
		d.Errorf(n, field, "clause id %q is already used by %s", id, prev)
		return
	}
	d.ids[id] = field
}

func (d *decoder) severity(n *yaml.Node, field string) string {
	s := d.Str(n, field)
	if s != "" && !slices.Contains(Severities, s) {
		d.Errorf(n, field, "must be one of %s", strings.Join(Severities, ", "))
		return ""
	}
	return s
}

func (d *decoder) name(n *yaml.Node, field string) string {
	s := d.Str(n, field)
	if s != "" && (len(s) > maxNameLen || !printable(s)) {
		d.Errorf(n, field, "must be 1-%d printable characters", maxNameLen)
	}
	return s
}

func printable(s string) bool {
	for _, r := range s {
		if probity.Unsafe(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func (d *decoder) scope(n *yaml.Node, field string) *Scope {
	s := &Scope{}
	var toolsNode *yaml.Node
	sevSet := false
	d.Object(n, field, yamlx.Fields{
		"severity": func(n *yaml.Node, f string) { s.Severity, sevSet = d.severity(n, f), true },
		"tools":    func(n *yaml.Node, f string) { toolsNode, s.Tools = n, seq(d, n, f, d.tool) },
		"dataClasses": func(n *yaml.Node, f string) {
			s.DataClasses = d.strs(n, f)
			for i, c := range s.DataClasses {
				if len(c) > maxNameLen || !printable(c) {
					d.Errorf(n.Content[i], yamlx.Index(f, i), "must be 1-%d printable characters", maxNameLen)
				}
			}
		},
		"egressDomains": func(n *yaml.Node, f string) {
			s.EgressDomains = d.strs(n, f)
			for i, c := range s.EgressDomains {
				dp, err := parseDomainPattern(c)
				if err != nil {
					d.Errorf(n.Content[i], yamlx.Index(f, i), "%v", err)
					continue
				}
				s.EgressDomains[i] = dp.String()
				s.domains = append(s.domains, dp)
			}
		},
	})
	if n.Kind != yaml.MappingNode {
		return s
	}
	if !sevSet && (s.Tools != nil || s.DataClasses != nil || s.EgressDomains != nil) {
		d.Errorf(n, yamlx.Join(field, "severity"), "is required: it is the severity of the scope clauses")
	}
	for _, id := range []string{ClauseScopeTools, ClauseDataClasses, ClauseEgressDomains} {
		d.ids[id] = field
	}
	for i := range s.Tools {
		t := &s.Tools[i]
		if t.severity = t.Severity; t.severity == "" {
			t.severity = s.Severity
		}
		if t.ID == "" && t.Name != "" {
			t.clause = ClauseScopeTools + "." + t.Name
			if prev, ok := d.ids[t.clause]; ok {
				d.Errorf(toolsNode.Content[i], fmt.Sprintf("%s.tools[%d]", field, i), "tool %q has two entries (the other is %s): give each an id", t.Name, prev)
			} else {
				d.ids[t.clause] = fmt.Sprintf("%s.tools[%d]", field, i)
			}
		}
	}
	return s
}

func (d *decoder) tool(n *yaml.Node, field string) Tool {
	var t Tool
	d.Object(n, field, yamlx.Fields{
		"id":       func(n *yaml.Node, f string) { t.ID = d.Str(n, f); d.clauseID(n, f, t.ID); t.clause = t.ID },
		"name":     func(n *yaml.Node, f string) { t.Name = d.name(n, f) },
		"when":     func(n *yaml.Node, f string) { t.When, t.cond = d.expr(n, f) },
		"severity": func(n *yaml.Node, f string) { t.Severity = d.severity(n, f) },
	}, "name")
	return t
}

func (d *decoder) forbid(n *yaml.Node, field string) Forbid {
	var c Forbid
	d.Object(n, field, yamlx.Fields{
		"id":       func(n *yaml.Node, f string) { c.ID = d.Str(n, f); d.clauseID(n, f, c.ID) },
		"severity": func(n *yaml.Node, f string) { c.Severity = d.severity(n, f) },
		"description": func(n *yaml.Node, f string) {
			if c.Description = d.Str(n, f); len(c.Description) > maxDescLen {
				d.Errorf(n, f, "is longer than %d bytes", maxDescLen)
			}
		},
		"sequence": func(n *yaml.Node, f string) {
			c.Sequence = seq(d, n, f, d.step)
			if n.Kind == yaml.SequenceNode && (len(n.Content) == 0 || len(n.Content) > MaxSteps) {
				d.Errorf(n, f, "must have 1-%d steps", MaxSteps)
			}
		},
	}, "id", "severity", "sequence")
	return c
}

func (d *decoder) step(n *yaml.Node, field string) Step {
	var s Step
	d.Object(n, field, yamlx.Fields{
		"tool": func(n *yaml.Node, f string) { s.Tool = d.name(n, f) },
		"when": func(n *yaml.Node, f string) { s.When, s.cond = d.expr(n, f) },
	}, "tool")
	return s
}

func (d *decoder) output(n *yaml.Node, field string) Output {
	var o Output
	d.Object(n, field, yamlx.Fields{
		"id":       func(n *yaml.Node, f string) { o.ID = d.Str(n, f); d.clauseID(n, f, o.ID) },
		"severity": func(n *yaml.Node, f string) { o.Severity = d.severity(n, f) },
		"detect": func(n *yaml.Node, f string) {
			o.Detect = d.strs(n, f)
			for i, k := range o.Detect {
				if !slices.Contains(DetectKinds, k) {
					d.Errorf(n.Content[i], yamlx.Index(f, i), "unknown detector %q: must be one of %s", k, strings.Join(DetectKinds, ", "))
				}
			}
			if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				d.Errorf(n, f, "must name at least one detector")
			}
		},
	}, "id", "severity", "detect")
	return o
}

func (d *decoder) commitment(n *yaml.Node, field string) Commitment {
	var c Commitment
	var valueNode, suiteNode *yaml.Node
	d.Object(n, field, yamlx.Fields{
		"id":       func(n *yaml.Node, f string) { c.ID = d.Str(n, f); d.clauseID(n, f, c.ID) },
		"severity": func(n *yaml.Node, f string) { c.Severity = d.severity(n, f) },
		"metric": func(n *yaml.Node, f string) {
			if c.Metric = d.Str(n, f); c.Metric != "" && !slices.Contains(Metrics, c.Metric) {
				d.Errorf(n, f, "must be one of %s", strings.Join(Metrics, ", "))
			}
		},
		"op": func(n *yaml.Node, f string) {
			if c.Op = d.Str(n, f); c.Op != "" && !slices.Contains(Operators, c.Op) {
				d.Errorf(n, f, "must be one of %s", strings.Join(Operators, " "))
			}
		},
		"value": func(n *yaml.Node, f string) {
			if v, ok := d.Number(n, f); ok {
				c.Value, valueNode = v, n
			}
		},
		"window": func(n *yaml.Node, f string) {
			s := d.Str(n, f)
			if s == "" {
				return
			}
			w, err := parseDuration(s)
			if err != nil {
				d.Errorf(n, f, "%v", err)
			}
			c.Window = Duration(w)
		},
		"suite": func(n *yaml.Node, f string) {
			suiteNode = n
			if c.Suite = d.Str(n, f); c.Suite != "" && !probity.ValidID(c.Suite) {
				d.Errorf(n, f, "%s", probity.IDRule)
			}
		},
	}, "id", "severity", "metric", "op", "value", "window")
	if valueNode != nil {
		switch c.Metric {
		case "latency_p95_ms":
			if c.Value < 0 {
				d.Errorf(valueNode, yamlx.Join(field, "value"), "must not be negative for %s", c.Metric)
			}
		case "error_rate", "accuracy", "safety_pass_rate":
			if c.Value < 0 || c.Value > 1 {
				d.Errorf(valueNode, yamlx.Join(field, "value"), "must be between 0 and 1 for %s (a fraction, not a percentage)", c.Metric)
			}
		}
	}
	if c.Suite != "" && (c.Metric == "latency_p95_ms" || c.Metric == "error_rate") {
		d.Errorf(suiteNode, yamlx.Join(field, "suite"), "applies only to accuracy and safety_pass_rate")
	}
	return c
}

// validate checks what needs the whole pact.
func (d *decoder) validate(root *yaml.Node, p *Pact) {
	if p.APIVersion != "" && p.APIVersion != APIVersion {
		d.Errorf(yamlx.Lookup(root, "apiVersion"), "apiVersion", "must be %q", APIVersion)
	}
	if p.Kind != "" && p.Kind != Kind {
		d.Errorf(yamlx.Lookup(root, "kind"), "kind", "must be %q", Kind)
	}
	if p.ID != "" && !probity.ValidID(p.ID) {
		d.Errorf(yamlx.Lookup(root, "id"), "id", "%s", probity.IDRule)
	}
	for i, a := range p.Agents {
		if !probity.ValidID(a) {
			n := yamlx.Lookup(root, "agents")
			if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
				n = n.Content[i]
			}
			d.Errorf(n, yamlx.Index("agents", i), "%s", probity.IDRule)
		}
	}
}

// indent returns the number of leading spaces on 1-based source line n.
func (d *decoder) indent(n int) (int, bool) {
	rest := d.src
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			return 0, false
		}
		rest = rest[j+1:]
	}
	k := 0
	for k < len(rest) && rest[k] == ' ' {
		k++
	}
	return k, true
}
