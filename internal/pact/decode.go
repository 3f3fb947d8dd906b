package pact

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity"
)

// decoder walks a yaml.Node tree (JSON is parsed as YAML, which gives both
// the same positions) and collects every error instead of stopping at the
// first.
type decoder struct {
	src  []byte
	errs Errors
	ids  map[string]string // clause id → field that declared it
	cel  *celCompiler
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	e := Error{Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) sort() {
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) decode(src []byte) *Pact {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	err := dec.Decode(&doc)
	if err == nil {
		var next yaml.Node
		if dec.Decode(&next) == nil {
			d.errorf(&next, "", "a pact is one YAML document; found another")
			return nil
		}
	}
	if err != nil && err != io.EOF {
		msg := err.Error()
		e := Error{Message: msg}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Message = m[2]
		}
		d.errs = append(d.errs, e)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errs = append(d.errs, Error{Message: "pact is empty"})
		return nil
	}
	root := doc.Content[0]
	p := &Pact{}
	d.object(root, "", map[string]func(*yaml.Node, string){
		"apiVersion":  func(n *yaml.Node, f string) { p.APIVersion = d.str(n, f) },
		"kind":        func(n *yaml.Node, f string) { p.Kind = d.str(n, f) },
		"id":          func(n *yaml.Node, f string) { p.ID = d.str(n, f) },
		"agents":      func(n *yaml.Node, f string) { p.Agents = d.strs(n, f) },
		"scope":       func(n *yaml.Node, f string) { p.Scope = d.scope(n, f) },
		"forbid":      func(n *yaml.Node, f string) { p.Forbid = seq(d, n, f, d.forbid) },
		"outputs":     func(n *yaml.Node, f string) { p.Outputs = seq(d, n, f, d.output) },
		"commitments": func(n *yaml.Node, f string) { p.Commitments = seq(d, n, f, d.commitment) },
	}, "apiVersion", "kind", "id")
	d.validate(root, p)
	return p
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// object decodes a mapping, calling fields[key] for each key. Unknown and
// duplicate keys are errors at the key; required keys that are absent are
// errors at the mapping.
func (d *decoder) object(n *yaml.Node, field string, fields map[string]func(*yaml.Node, string), required ...string) {
	if !d.kind(n, field, yaml.MappingNode, "an object") {
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, field, "keys must be strings")
			continue
		}
		f := join(field, k.Value)
		fn, ok := fields[k.Value]
		switch {
		case !ok:
			d.errorf(k, f, "unknown field%s", suggest(k.Value, fields))
		case seen[k.Value]:
			d.errorf(k, f, "duplicate field")
		default:
			seen[k.Value] = true
			fn(v, f)
		}
	}
	for _, r := range required {
		if !seen[r] {
			d.errorf(n, join(field, r), "is required")
		}
	}
}

func suggest(key string, fields map[string]func(*yaml.Node, string)) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		names = append(names, k)
	}
	slices.Sort(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}

// kind checks n's kind, rejecting aliases so that no document expands.
func (d *decoder) kind(n *yaml.Node, field string, want yaml.Kind, what string) bool {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, field, "YAML aliases are not allowed")
		return false
	}
	if n.Kind != want || (want == yaml.ScalarNode && n.Tag == "!!null") {
		d.errorf(n, field, "must be %s", what)
		return false
	}
	return true
}

func (d *decoder) str(n *yaml.Node, field string) string {
	if !d.kind(n, field, yaml.ScalarNode, "a string") {
		return ""
	}
	return n.Value
}

// strs decodes a list of strings; a present but empty list is non-nil.
func (d *decoder) strs(n *yaml.Node, field string) []string {
	if !d.kind(n, field, yaml.SequenceNode, "a list") {
		return nil
	}
	if len(n.Content) > MaxClauses {
		d.errorf(n, field, "has more than %d items", MaxClauses)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	seen := map[string]bool{}
	for i, c := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		s := d.str(c, f)
		if s == "" {
			if c.Kind == yaml.ScalarNode && c.Tag != "!!null" {
				d.errorf(c, f, "must not be empty")
			}
			continue
		}
		if seen[s] {
			d.errorf(c, f, "%q is listed twice", s)
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

func seq[T any](d *decoder, n *yaml.Node, field string, item func(*yaml.Node, string) T) []T {
	if !d.kind(n, field, yaml.SequenceNode, "a list") {
		return nil
	}
	if len(n.Content) > MaxClauses {
		d.errorf(n, field, "has more than %d items", MaxClauses)
		return nil
	}
	out := make([]T, 0, len(n.Content))
	for i, c := range n.Content {
		out = append(out, item(c, fmt.Sprintf("%s[%d]", field, i)))
	}
	return out
}

// clauseID checks a clause id and that no other clause has it.
func (d *decoder) clauseID(n *yaml.Node, field, id string) {
	switch {
	case !probity.ValidID(id):
		d.errorf(n, field, "%s", probity.IDRule)
	case strings.HasPrefix(id, reservedIDPfx):
		d.errorf(n, field, "ids starting with %q are reserved for generated scope clause ids", reservedIDPfx)
	default:
		d.unique(n, field, id)
	}
}

func (d *decoder) unique(n *yaml.Node, field, id string) {
	if prev, ok := d.ids[id]; ok {
		d.errorf(n, field, "clause id %q is already used by %s", id, prev)
		return
	}
	d.ids[id] = field
}

func (d *decoder) severity(n *yaml.Node, field string) string {
	s := d.str(n, field)
	if s != "" && !slices.Contains(Severities, s) {
		d.errorf(n, field, "must be one of %s", strings.Join(Severities, ", "))
		return ""
	}
	return s
}

func (d *decoder) name(n *yaml.Node, field string) string {
	s := d.str(n, field)
	if s != "" && (len(s) > maxNameLen || !printable(s)) {
		d.errorf(n, field, "must be 1-%d printable characters", maxNameLen)
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
	d.object(n, field, map[string]func(*yaml.Node, string){
		"severity": func(n *yaml.Node, f string) { s.Severity, sevSet = d.severity(n, f), true },
		"tools":    func(n *yaml.Node, f string) { toolsNode, s.Tools = n, seq(d, n, f, d.tool) },
		"dataClasses": func(n *yaml.Node, f string) {
			s.DataClasses = d.strs(n, f)
			for i, c := range s.DataClasses {
				if len(c) > maxNameLen || !printable(c) {
					d.errorf(n.Content[i], fmt.Sprintf("%s[%d]", f, i), "must be 1-%d printable characters", maxNameLen)
				}
			}
		},
		"egressDomains": func(n *yaml.Node, f string) {
			s.EgressDomains = d.strs(n, f)
			for i, c := range s.EgressDomains {
				dp, err := parseDomainPattern(c)
				if err != nil {
					d.errorf(n.Content[i], fmt.Sprintf("%s[%d]", f, i), "%v", err)
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
		d.errorf(n, join(field, "severity"), "is required: it is the severity of the scope clauses")
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
				d.errorf(toolsNode.Content[i], fmt.Sprintf("%s.tools[%d]", field, i), "tool %q has two entries (the other is %s): give each an id", t.Name, prev)
			} else {
				d.ids[t.clause] = fmt.Sprintf("%s.tools[%d]", field, i)
			}
		}
	}
	return s
}

func (d *decoder) tool(n *yaml.Node, field string) Tool {
	var t Tool
	d.object(n, field, map[string]func(*yaml.Node, string){
		"id":       func(n *yaml.Node, f string) { t.ID = d.str(n, f); d.clauseID(n, f, t.ID); t.clause = t.ID },
		"name":     func(n *yaml.Node, f string) { t.Name = d.name(n, f) },
		"when":     func(n *yaml.Node, f string) { t.When, t.cond = d.expr(n, f) },
		"severity": func(n *yaml.Node, f string) { t.Severity = d.severity(n, f) },
	}, "name")
	return t
}

func (d *decoder) forbid(n *yaml.Node, field string) Forbid {
	var c Forbid
	d.object(n, field, map[string]func(*yaml.Node, string){
		"id":       func(n *yaml.Node, f string) { c.ID = d.str(n, f); d.clauseID(n, f, c.ID) },
		"severity": func(n *yaml.Node, f string) { c.Severity = d.severity(n, f) },
		"description": func(n *yaml.Node, f string) {
			if c.Description = d.str(n, f); len(c.Description) > maxDescLen {
				d.errorf(n, f, "is longer than %d bytes", maxDescLen)
			}
		},
		"sequence": func(n *yaml.Node, f string) {
			c.Sequence = seq(d, n, f, d.step)
			if n.Kind == yaml.SequenceNode && (len(n.Content) == 0 || len(n.Content) > MaxSteps) {
				d.errorf(n, f, "must have 1-%d steps", MaxSteps)
			}
		},
	}, "id", "severity", "sequence")
	return c
}

func (d *decoder) step(n *yaml.Node, field string) Step {
	var s Step
	d.object(n, field, map[string]func(*yaml.Node, string){
		"tool": func(n *yaml.Node, f string) { s.Tool = d.name(n, f) },
		"when": func(n *yaml.Node, f string) { s.When, s.cond = d.expr(n, f) },
	}, "tool")
	return s
}

func (d *decoder) output(n *yaml.Node, field string) Output {
	var o Output
	d.object(n, field, map[string]func(*yaml.Node, string){
		"id":       func(n *yaml.Node, f string) { o.ID = d.str(n, f); d.clauseID(n, f, o.ID) },
		"severity": func(n *yaml.Node, f string) { o.Severity = d.severity(n, f) },
		"detect": func(n *yaml.Node, f string) {
			o.Detect = d.strs(n, f)
			for i, k := range o.Detect {
				if !slices.Contains(DetectKinds, k) {
					d.errorf(n.Content[i], fmt.Sprintf("%s[%d]", f, i), "unknown detector %q: must be one of %s", k, strings.Join(DetectKinds, ", "))
				}
			}
			if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				d.errorf(n, f, "must name at least one detector")
			}
		},
	}, "id", "severity", "detect")
	return o
}

func (d *decoder) commitment(n *yaml.Node, field string) Commitment {
	var c Commitment
	var valueNode, suiteNode *yaml.Node
	d.object(n, field, map[string]func(*yaml.Node, string){
		"id":       func(n *yaml.Node, f string) { c.ID = d.str(n, f); d.clauseID(n, f, c.ID) },
		"severity": func(n *yaml.Node, f string) { c.Severity = d.severity(n, f) },
		"metric": func(n *yaml.Node, f string) {
			if c.Metric = d.str(n, f); c.Metric != "" && !slices.Contains(Metrics, c.Metric) {
				d.errorf(n, f, "must be one of %s", strings.Join(Metrics, ", "))
			}
		},
		"op": func(n *yaml.Node, f string) {
			if c.Op = d.str(n, f); c.Op != "" && !slices.Contains(Operators, c.Op) {
				d.errorf(n, f, "must be one of %s", strings.Join(Operators, " "))
			}
		},
		"value": func(n *yaml.Node, f string) {
			if !d.kind(n, f, yaml.ScalarNode, "a number") {
				return
			}
			v, err := strconv.ParseFloat(n.Value, 64)
			if err != nil || (n.Tag != "!!int" && n.Tag != "!!float") || math.IsNaN(v) || math.IsInf(v, 0) {
				d.errorf(n, f, "must be a finite number")
				return
			}
			c.Value, valueNode = v, n
		},
		"window": func(n *yaml.Node, f string) {
			s := d.str(n, f)
			if s == "" {
				return
			}
			w, err := parseDuration(s)
			if err != nil {
				d.errorf(n, f, "%v", err)
			}
			c.Window = Duration(w)
		},
		"suite": func(n *yaml.Node, f string) {
			suiteNode = n
			if c.Suite = d.str(n, f); c.Suite != "" && !probity.ValidID(c.Suite) {
				d.errorf(n, f, "%s", probity.IDRule)
			}
		},
	}, "id", "severity", "metric", "op", "value", "window")
	if valueNode != nil {
		switch c.Metric {
		case "latency_p95_ms":
			if c.Value < 0 {
				d.errorf(valueNode, join(field, "value"), "must not be negative for %s", c.Metric)
			}
		case "error_rate", "accuracy", "safety_pass_rate":
			if c.Value < 0 || c.Value > 1 {
				d.errorf(valueNode, join(field, "value"), "must be between 0 and 1 for %s (a fraction, not a percentage)", c.Metric)
			}
		}
	}
	if c.Suite != "" && (c.Metric == "latency_p95_ms" || c.Metric == "error_rate") {
		d.errorf(suiteNode, join(field, "suite"), "applies only to accuracy and safety_pass_rate")
	}
	return c
}

// validate checks what needs the whole pact.
func (d *decoder) validate(root *yaml.Node, p *Pact) {
	if p.APIVersion != "" && p.APIVersion != APIVersion {
		d.errorf(d.node(root, "apiVersion"), "apiVersion", "must be %q", APIVersion)
	}
	if p.Kind != "" && p.Kind != Kind {
		d.errorf(d.node(root, "kind"), "kind", "must be %q", Kind)
	}
	if p.ID != "" && !probity.ValidID(p.ID) {
		d.errorf(d.node(root, "id"), "id", "%s", probity.IDRule)
	}
	for i, a := range p.Agents {
		if !probity.ValidID(a) {
			n := d.node(root, "agents")
			if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
				n = n.Content[i]
			}
			d.errorf(n, fmt.Sprintf("agents[%d]", i), "%s", probity.IDRule)
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

// node returns the value of key in mapping n, or n itself.
func (d *decoder) node(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}
