package eval

import (
	"bytes"
	"encoding/json"
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
	"github.com/probity-dev/probity/internal/detect"
)

// decoder walks a yaml.Node tree (JSON is parsed as YAML, which gives both
// the same positions) and collects every problem instead of stopping at the
// first.
type decoder struct {
	file  string
	probs []Problem
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	p := Problem{File: d.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.probs = append(d.probs, p)
}

func (d *decoder) err() error {
	if len(d.probs) == 0 {
		return nil
	}
	sort.SliceStable(d.probs, func(i, j int) bool {
		a, b := d.probs[i], d.probs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &LoadError{Problems: d.probs}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses src as one YAML (or JSON) document and returns its root.
func (d *decoder) document(src []byte, what string) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	err := dec.Decode(&doc)
	if err == nil {
		var next yaml.Node
		if dec.Decode(&next) == nil {
			d.errorf(&next, "", "a %s is one YAML document; found another", what)
			return nil
		}
	}
	if err != nil && err != io.EOF {
		msg := err.Error()
		p := Problem{File: d.file, Message: msg}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
		} else {
			p.Message = strings.TrimPrefix(msg, "yaml: ")
		}
		d.probs = append(d.probs, p)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errorf(nil, "", "%s is empty", what)
		return nil
	}
	return doc.Content[0]
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

type fields map[string]func(n *yaml.Node, field string)

// object decodes a mapping, calling fs[key] for each key. Unknown and
// duplicate keys are errors at the key; required keys that are absent are
// errors at the mapping.
func (d *decoder) object(n *yaml.Node, field string, fs fields, required ...string) bool {
	if !d.kind(n, field, yaml.MappingNode, "an object") {
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			d.errorf(k, field, "keys must be strings")
			continue
		}
		f := join(field, k.Value)
		fn, ok := fs[k.Value]
		switch {
		case !ok:
			d.errorf(k, f, "unknown field%s", suggest(k.Value, fs))
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
	return true
}

func suggest(key string, fs fields) string {
	names := make([]string, 0, len(fs))
	for k := range fs {
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

// text decodes a non-empty string of at most max bytes of valid UTF-8.
func (d *decoder) text(n *yaml.Node, field string, max int) string {
	s := d.str(n, field)
	switch {
	case n.Kind != yaml.ScalarNode || n.Tag == "!!null":
	case s == "":
		d.errorf(n, field, "must not be empty")
	case len(s) > max:
		d.errorf(n, field, "is longer than %d bytes", max)
	case !utf8.ValidString(s):
		d.errorf(n, field, "is not valid UTF-8")
	default:
		return s
	}
	return ""
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	if !d.kind(n, field, yaml.ScalarNode, "true or false") {
		return false
	}
	var b bool
	if n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.errorf(n, field, "must be true or false")
	}
	return b
}

func (d *decoder) number(n *yaml.Node, field string) (float64, bool) {
	if !d.kind(n, field, yaml.ScalarNode, "a number") {
		return 0, false
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || (n.Tag != "!!int" && n.Tag != "!!float") || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, field, "must be a finite number")
		return 0, false
	}
	return v, true
}

func seq[T any](d *decoder, n *yaml.Node, field string, max int, item func(*yaml.Node, string) T) []T {
	if !d.kind(n, field, yaml.SequenceNode, "a list") {
		return nil
	}
	if len(n.Content) > max {
		d.errorf(n, field, "has more than %d items", max)
		return nil
	}
	out := make([]T, 0, len(n.Content))
	for i, c := range n.Content {
		out = append(out, item(c, index(field, i)))
	}
	return out
}

// enum decodes a list of distinct strings, each one of allowed.
func (d *decoder) enum(n *yaml.Node, field string, allowed []string) []string {
	if !d.kind(n, field, yaml.SequenceNode, "a list") {
		return nil
	}
	var out []string
	for i, c := range n.Content {
		f := index(field, i)
		s := d.str(c, f)
		switch {
		case c.Kind != yaml.ScalarNode || c.Tag == "!!null":
		case !slices.Contains(allowed, s):
			d.errorf(c, f, "unknown value %q: must be one of %s", s, strings.Join(allowed, ", "))
		case slices.Contains(out, s):
			d.errorf(c, f, "%q is listed twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// id decodes an id following probity.ValidID.
func (d *decoder) id(n *yaml.Node, field string) string {
	s := d.str(n, field)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" && !probity.ValidID(s) {
		d.errorf(n, field, "%s", probity.IDRule)
		return ""
	}
	return s
}

// value converts n to a JSON value (nil, bool, json.Number, string, []any,
// map[string]any). Aliases, merge keys, non-string and duplicate keys and
// non-finite numbers are errors.
func (d *decoder) value(n *yaml.Node, field string) (any, bool) {
	switch n.Kind {
	case yaml.AliasNode:
		d.errorf(n, field, "YAML aliases are not allowed")
		return nil, false
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if n.Decode(&b) != nil {
				d.errorf(n, field, "is not a boolean")
				return nil, false
			}
			return b, true
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				d.errorf(n, field, "must be a finite number")
				return nil, false
			}
			if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), true
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
		}
		if !utf8.ValidString(n.Value) {
			d.errorf(n, field, "is not valid UTF-8")
			return nil, false
		}
		return n.Value, true
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, c := range n.Content {
			v, good := d.value(c, index(field, i))
			ok = ok && good
			out = append(out, v)
		}
		return out, ok
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		ok := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || k.Tag == "!!null" {
				d.errorf(k, field, "keys must be strings")
				ok = false
				continue
			}
			if _, dup := out[k.Value]; dup {
				d.errorf(k, join(field, k.Value), "duplicate key")
				ok = false
				continue
			}
			val, good := d.value(v, join(field, k.Value))
			ok = ok && good
			out[k.Value] = val
		}
		return out, ok
	}
	d.errorf(n, field, "is not a JSON value")
	return nil, false
}

// rawJSON converts n to JSON bytes of at most max bytes.
func (d *decoder) rawJSON(n *yaml.Node, field string, max int) (json.RawMessage, any, bool) {
	v, ok := d.value(n, field)
	if !ok {
		return nil, nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		d.errorf(n, field, "%v", err)
		return nil, nil, false
	}
	if len(b) > max {
		d.errorf(n, field, "is longer than %d bytes as JSON", max)
		return nil, nil, false
	}
	return b, v, true
}

// ParseSuite parses, validates and compiles a suite from YAML or JSON. name
// (a file name) prefixes every problem. On failure the error is a
// *LoadError listing every problem with its line and column.
func ParseSuite(name string, src []byte) (*Suite, error) {
	d := &decoder{file: name}
	if len(src) > MaxSourceLen {
		d.errorf(nil, "", "suite is longer than %d bytes", MaxSourceLen)
		return nil, d.err()
	}
	root := d.document(src, "suite")
	if root == nil {
		return nil, d.err()
	}
	s := d.suite(root)
	if err := d.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (d *decoder) suite(root *yaml.Node) *Suite {
	s := &Suite{}
	var caseNodes []*yaml.Node
	var caseDims []bool
	ok := d.object(root, "", fields{
		"apiVersion": func(n *yaml.Node, f string) {
			if s.APIVersion = d.str(n, f); n.Kind == yaml.ScalarNode && s.APIVersion != APIVersion {
				d.errorf(n, f, "must be %q", APIVersion)
			}
		},
		"kind": func(n *yaml.Node, f string) {
			if s.Kind = d.str(n, f); n.Kind == yaml.ScalarNode && s.Kind != Kind {
				d.errorf(n, f, "must be %q", Kind)
			}
		},
		"id":          func(n *yaml.Node, f string) { s.ID = d.id(n, f) },
		"description": func(n *yaml.Node, f string) { s.Description = d.text(n, f, maxDescLen) },
		"dimensions":  func(n *yaml.Node, f string) { s.Dimensions = d.enum(n, f, Dimensions) },
		"owasp":       func(n *yaml.Node, f string) { s.OWASP = d.enum(n, f, OWASPIDs) },
		"cases": func(n *yaml.Node, f string) {
			ids := map[string]string{}
			s.Cases = seq(d, n, f, MaxCases, func(n *yaml.Node, f string) Case {
				c, named := d.testCase(n, f)
				if c.ID != "" {
					if prev, dup := ids[c.ID]; dup {
						d.errorf(d.node(n, "id"), join(f, "id"), "case id %q is already used by %s", c.ID, prev)
					} else {
						ids[c.ID] = f
					}
				}
				caseNodes = append(caseNodes, n)
				caseDims = append(caseDims, named)
				return c
			})
			if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				d.errorf(n, f, "must have at least one case")
			}
		},
	}, "apiVersion", "kind", "id", "cases")
	if !ok {
		return s
	}
	for i := range s.Cases {
		c := &s.Cases[i]
		if !caseDims[i] {
			c.Dimensions = slices.Clone(s.Dimensions)
			if len(c.Dimensions) == 0 && caseNodes[i].Kind == yaml.MappingNode {
				d.errorf(caseNodes[i], index("cases", i)+".dimensions", "is required: the suite names no default dimensions")
			}
		}
		if c.OWASP == nil {
			c.OWASP = slices.Clone(s.OWASP)
		}
	}
	return s
}

// testCase decodes one case; named reports whether it names its dimensions.
func (d *decoder) testCase(n *yaml.Node, field string) (c Case, named bool) {
	type pending struct {
		n     *yaml.Node
		field string
	}
	var canaryChecks []pending
	checks := func(n *yaml.Node, f string, required bool) []Check {
		out := seq(d, n, f, MaxChecks, func(n *yaml.Node, f string) Check {
			ch := d.check(n, f)
			if ch.Kind == CheckNoCanaryLeak {
				canaryChecks = append(canaryChecks, pending{n, f})
			}
			return ch
		})
		if required && n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
			d.errorf(n, f, "must have at least one check")
		}
		return out
	}
	if !d.object(n, field, fields{
		"id":          func(n *yaml.Node, f string) { c.ID = d.id(n, f) },
		"description": func(n *yaml.Node, f string) { c.Description = d.text(n, f, maxDescLen) },
		"dimensions": func(n *yaml.Node, f string) {
			c.Dimensions = d.enum(n, f, Dimensions)
			named = len(c.Dimensions) > 0
		},
		"owasp": func(n *yaml.Node, f string) {
			if c.OWASP = d.enum(n, f, OWASPIDs); len(c.OWASP) == 0 {
				c.OWASP = nil
			}
		},
		"lookalike": func(n *yaml.Node, f string) { c.Lookalike = d.boolean(n, f) },
		"group": func(n *yaml.Node, f string) {
			if s := d.str(n, f); s != "" {
				c.Group = d.id(n, f)
			}
		},
		"setup":   func(n *yaml.Node, f string) { c.Setup = d.setup(n, f) },
		"checks":  func(n *yaml.Node, f string) { c.Checks = checks(n, f, true) },
		"attack":  func(n *yaml.Node, f string) { c.Attack = checks(n, f, true) },
		"utility": func(n *yaml.Node, f string) { c.Utility = checks(n, f, true) },
	}, "id", "setup", "checks") {
		return c, true
	}
	if len(c.Setup.Canaries) == 0 {
		for _, p := range canaryChecks {
			d.errorf(p.n, p.field, "needs setup.canaries")
		}
	} else {
		m, err := newCanaryMatcher(c.Setup.Canaries)
		if err != nil {
			d.errorf(d.node(n, "setup"), join(field, "setup.canaries"), "%v", err)
		}
		c.canaries = m
	}
	return c, named
}

var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (d *decoder) setup(n *yaml.Node, field string) Setup {
	var s Setup
	d.object(n, field, fields{
		"system": func(n *yaml.Node, f string) { s.System = d.text(n, f, MaxTextLen) },
		"turns": func(n *yaml.Node, f string) {
			s.Turns = seq(d, n, f, MaxTurns, func(n *yaml.Node, f string) string { return d.text(n, f, MaxTextLen) })
			if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				d.errorf(n, f, "must have at least one turn")
			}
		},
		"tools": func(n *yaml.Node, f string) {
			names := map[string]string{}
			s.Tools = seq(d, n, f, MaxTools, func(n *yaml.Node, f string) Tool {
				t := d.tool(n, f)
				if t.Name != "" {
					if prev, dup := names[t.Name]; dup {
						d.errorf(d.node(n, "name"), join(f, "name"), "tool %q is already offered by %s", t.Name, prev)
					}
					names[t.Name] = f
				}
				return t
			})
		},
		"canaries": func(n *yaml.Node, f string) {
			s.Canaries = seq(d, n, f, MaxCanaries, func(n *yaml.Node, f string) string {
				c := d.str(n, f)
				switch {
				case n.Kind != yaml.ScalarNode || n.Tag == "!!null":
				case len(c) < detect.MinCanaryLen || len(c) > maxCanaryLen:
					d.errorf(n, f, "must be %d-%d bytes", detect.MinCanaryLen, maxCanaryLen)
				case !utf8.ValidString(c):
					d.errorf(n, f, "is not valid UTF-8")
				default:
					return c
				}
				return ""
			})
			s.Canaries = slices.DeleteFunc(s.Canaries, func(c string) bool { return c == "" })
			if len(s.Canaries) == 0 {
				s.Canaries = nil
			}
		},
	}, "turns")
	return s
}

func (d *decoder) tool(n *yaml.Node, field string) Tool {
	var t Tool
	d.object(n, field, fields{
		"name": func(n *yaml.Node, f string) {
			if t.Name = d.str(n, f); n.Kind == yaml.ScalarNode && !toolName.MatchString(t.Name) {
				d.errorf(n, f, "must be 1-%d characters of A-Z, a-z, 0-9, '_' or '-'", maxToolNameLen)
				t.Name = ""
			}
		},
		"description": func(n *yaml.Node, f string) { t.Description = d.text(n, f, maxDescLen) },
		"parameters": func(n *yaml.Node, f string) {
			raw, v, ok := d.rawJSON(n, f, MaxSchemaLen)
			if !ok {
				return
			}
			if m, isObj := v.(map[string]any); !isObj || m["type"] != "object" {
				d.errorf(n, f, "must be an object schema (type: object)")
				return
			}
			if _, err := compileSchema(v); err != nil {
				d.errorf(n, f, "%v", err)
				return
			}
			t.Parameters = raw
		},
		"returns": func(n *yaml.Node, f string) {
			// JSON escapes may make the serialized form longer than the result.
			if raw, _, ok := d.rawJSON(n, f, 6*MaxReturnsLen+2); ok {
				t.Returns = raw
				if len(t.Result()) > MaxReturnsLen {
					d.errorf(n, f, "is longer than %d bytes", MaxReturnsLen)
					t.Returns = nil
				}
			}
		},
	}, "name")
	if t.Parameters == nil {
		t.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return t
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
