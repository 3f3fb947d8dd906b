package eval

import (
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/yamlx"
)

// decoder walks a yaml.Node tree (JSON is parsed as YAML, which gives both
// the same positions) and collects every problem instead of stopping at the
// first.
type decoder struct {
	yamlx.Decoder
	file string
}

func newDecoder(file string) *decoder {
	return &decoder{Decoder: yamlx.Decoder{RejectMerge: true, TrimParser: true}, file: file}
}

// err returns the problems in source order as a *LoadError, or nil.
func (d *decoder) err() error {
	if len(d.Problems) == 0 {
		return nil
	}
	d.Sort()
	probs := make([]Problem, len(d.Problems))
	for i, p := range d.Problems {
		probs[i] = Problem{File: d.file, Line: p.Line, Column: p.Column, Field: p.Field, Message: p.Message}
	}
	return &LoadError{Problems: probs}
}

// text decodes a non-empty string of at most max bytes of valid UTF-8.
func (d *decoder) text(n *yaml.Node, field string, max int) string {
	s := d.Str(n, field)
	switch {
	case n.Kind != yaml.ScalarNode || n.Tag == "!!null":
	case s == "":
		d.Errorf(n, field, "must not be empty")
	case len(s) > max:
		d.Errorf(n, field, "is longer than %d bytes", max)
	case !utf8.ValidString(s):
		d.Errorf(n, field, "is not valid UTF-8")
	default:
		return s
	}
	return ""
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	if !d.Kind(n, field, yaml.ScalarNode, "true or false") {
		return false
	}
	var b bool
	if n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.Errorf(n, field, "must be true or false")
	}
	return b
}

// enum decodes a list of distinct strings, each one of allowed.
func (d *decoder) enum(n *yaml.Node, field string, allowed []string) []string {
	if !d.Kind(n, field, yaml.SequenceNode, "a list") {
		return nil
	}
	var out []string
	for i, c := range n.Content {
		f := yamlx.Index(field, i)
		s := d.Str(c, f)
		switch {
		case c.Kind != yaml.ScalarNode || c.Tag == "!!null":
		case !slices.Contains(allowed, s):
			d.Errorf(c, f, "unknown value %q: must be one of %s", s, strings.Join(allowed, ", "))
		case slices.Contains(out, s):
			d.Errorf(c, f, "%q is listed twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// id decodes an id following probity.ValidID.
func (d *decoder) id(n *yaml.Node, field string) string {
	s := d.Str(n, field)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" && !probity.ValidID(s) {
		d.Errorf(n, field, "%s", probity.IDRule)
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
		d.Errorf(n, field, "YAML aliases are not allowed")
		return nil, false
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if n.Decode(&b) != nil {
				d.Errorf(n, field, "is not a boolean")
				return nil, false
			}
			return b, true
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				d.Errorf(n, field, "must be a finite number")
				return nil, false
			}
			if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), true
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
		}
		if !utf8.ValidString(n.Value) {
			d.Errorf(n, field, "is not valid UTF-8")
			return nil, false
		}
		return n.Value, true
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for i, c := range n.Content {
			v, good := d.value(c, yamlx.Index(field, i))
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
				d.Errorf(k, field, "keys must be strings")
				ok = false
				continue
			}
			if _, dup := out[k.Value]; dup {
				d.Errorf(k, yamlx.Join(field, k.Value), "duplicate key")
				ok = false
				continue
			}
			val, good := d.value(v, yamlx.Join(field, k.Value))
			ok = ok && good
			out[k.Value] = val
		}
		return out, ok
	}
	d.Errorf(n, field, "is not a JSON value")
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
		d.Errorf(n, field, "%v", err)
		return nil, nil, false
	}
	if len(b) > max {
		d.Errorf(n, field, "is longer than %d bytes as JSON", max)
		return nil, nil, false
	}
	return b, v, true
}

// ParseSuite parses, validates and compiles a suite from YAML or JSON. name
// (a file name) prefixes every problem. On failure the error is a
// *LoadError listing every problem with its line and column.
func ParseSuite(name string, src []byte) (*Suite, error) {
	d := newDecoder(name)
	if len(src) > MaxSourceLen {
		d.Errorf(nil, "", "suite is longer than %d bytes", MaxSourceLen)
		return nil, d.err()
	}
	root := d.Document(src, "suite")
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
	ok := d.Object(root, "", yamlx.Fields{
		"apiVersion": func(n *yaml.Node, f string) {
			if s.APIVersion = d.Str(n, f); n.Kind == yaml.ScalarNode && s.APIVersion != APIVersion {
				d.Errorf(n, f, "must be %q", APIVersion)
			}
		},
		"kind": func(n *yaml.Node, f string) {
			if s.Kind = d.Str(n, f); n.Kind == yaml.ScalarNode && s.Kind != Kind {
				d.Errorf(n, f, "must be %q", Kind)
			}
		},
		"id":          func(n *yaml.Node, f string) { s.ID = d.id(n, f) },
		"description": func(n *yaml.Node, f string) { s.Description = d.text(n, f, maxDescLen) },
		"dimensions":  func(n *yaml.Node, f string) { s.Dimensions = d.enum(n, f, Dimensions) },
		"owasp":       func(n *yaml.Node, f string) { s.OWASP = d.enum(n, f, OWASPIDs) },
		"cases": func(n *yaml.Node, f string) {
			ids := map[string]string{}
			s.Cases = yamlx.Seq(&d.Decoder, n, f, MaxCases, func(n *yaml.Node, f string) Case {
				c, named := d.testCase(n, f)
				if c.ID != "" {
					if prev, dup := ids[c.ID]; dup {
						d.Errorf(yamlx.Lookup(n, "id"), yamlx.Join(f, "id"), "case id %q is already used by %s", c.ID, prev)
					} else {
						ids[c.ID] = f
					}
				}
				caseNodes = append(caseNodes, n)
				caseDims = append(caseDims, named)
				return c
			})
			if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				d.Errorf(n, f, "must have at least one case")
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
				d.Errorf(caseNodes[i], yamlx.Index("cases", i)+".dimensions", "is required: the suite names no default dimensions")
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
		out := yamlx.Seq(&d.Decoder, n, f, MaxChecks, func(n *yaml.Node, f string) Check {
			ch := d.check(n, f)
			if ch.Kind == CheckNoCanaryLeak {
				canaryChecks = append(canaryChecks, pending{n, f})
			}
			return ch
		})
		if required && n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
			d.Errorf(n, f, "must have at least one check")
		}
		return out
	}
	if !d.Object(n, field, yamlx.Fields{
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
			if s := d.Str(n, f); s != "" {
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
			d.Errorf(p.n, p.field, "needs setup.canaries")
		}
	} else {
		m, err := newCanaryMatcher(c.Setup.Canaries)
		if err != nil {
			d.Errorf(yamlx.Lookup(n, "setup"), yamlx.Join(field, "setup.canaries"), "%v", err)
		}
		c.canaries = m
	}
	return c, named
}

var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (d *decoder) setup(n *yaml.Node, field string) Setup {
	var s Setup
	d.Object(n, field, yamlx.Fields{
		"system": func(n *yaml.Node, f string) { s.System = d.text(n, f, MaxTextLen) },
		"turns": func(n *yaml.Node, f string) {
			s.Turns = yamlx.Seq(&d.Decoder, n, f, MaxTurns, func(n *yaml.Node, f string) string { return d.text(n, f, MaxTextLen) })
			if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
				d.Errorf(n, f, "must have at least one turn")
			}
		},
		"tools": func(n *yaml.Node, f string) {
			names := map[string]string{}
			s.Tools = yamlx.Seq(&d.Decoder, n, f, MaxTools, func(n *yaml.Node, f string) Tool {
				t := d.tool(n, f)
				if t.Name != "" {
					if prev, dup := names[t.Name]; dup {
						d.Errorf(yamlx.Lookup(n, "name"), yamlx.Join(f, "name"), "tool %q is already offered by %s", t.Name, prev)
					}
					names[t.Name] = f
				}
				return t
			})
		},
		"canaries": func(n *yaml.Node, f string) {
			s.Canaries = yamlx.Seq(&d.Decoder, n, f, MaxCanaries, func(n *yaml.Node, f string) string {
				c := d.Str(n, f)
				switch {
				case n.Kind != yaml.ScalarNode || n.Tag == "!!null":
				case len(c) < detect.MinCanaryLen || len(c) > maxCanaryLen:
					d.Errorf(n, f, "must be %d-%d bytes", detect.MinCanaryLen, maxCanaryLen)
				case !utf8.ValidString(c):
					d.Errorf(n, f, "is not valid UTF-8")
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
	d.Object(n, field, yamlx.Fields{
		"name": func(n *yaml.Node, f string) {
			if t.Name = d.Str(n, f); n.Kind == yaml.ScalarNode && !toolName.MatchString(t.Name) {
				d.Errorf(n, f, "must be 1-%d characters of A-Z, a-z, 0-9, '_' or '-'", maxToolNameLen)
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
				d.Errorf(n, f, "must be an object schema (type: object)")
				return
			}
			if _, err := compileSchema(v); err != nil {
				d.Errorf(n, f, "%v", err)
				return
			}
			t.Parameters = raw
		},
		"returns": func(n *yaml.Node, f string) {
			// JSON escapes may make the serialized form longer than the result.
			if raw, _, ok := d.rawJSON(n, f, 6*MaxReturnsLen+2); ok {
				t.Returns = raw
				if len(t.Result()) > MaxReturnsLen {
					d.Errorf(n, f, "is longer than %d bytes", MaxReturnsLen)
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
