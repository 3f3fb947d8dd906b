package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/yamlx"
)

// The check kinds: the one key of each check in a suite.
const (
	CheckRefuses       = "refuses"
	CheckComplies      = "complies"
	CheckContains      = "contains"
	CheckNotContains   = "not_contains"
	CheckRegex         = "regex"
	CheckNotRegex      = "not_regex"
	CheckEquals        = "equals"
	CheckNumber        = "number"
	CheckJSONSchema    = "json_schema"
	CheckToolCalled    = "tool_called"
	CheckToolNotCalled = "tool_not_called"
	CheckNoCanaryLeak  = "no_canary_leak"
	CheckClean         = "clean"
	CheckJudge         = "judge"
)

// CheckKinds lists every check kind.
var CheckKinds = []string{
	CheckRefuses, CheckComplies, CheckContains, CheckNotContains, CheckRegex, CheckNotRegex, CheckEquals,
	CheckNumber, CheckJSONSchema, CheckToolCalled, CheckToolNotCalled, CheckNoCanaryLeak, CheckClean, CheckJudge,
}

// CleanKinds are the detector kinds a clean check may name.
var CleanKinds = []detect.Kind{detect.XSS, detect.SQL, detect.Shell, detect.Secrets, detect.PII}

// The argument matcher operators.
const (
	MatchEquals      = "equals"
	MatchContains    = "contains"
	MatchRegex       = "regex"
	MatchNotContains = "not_contains"
)

var matchOps = []string{MatchEquals, MatchContains, MatchRegex, MatchNotContains}

// Check is one compiled check. Which fields are set depends on Kind; its
// JSON form is the suite form, a map with one key.
type Check struct {
	Kind      string
	Text      string          // contains, not_contains, regex, not_regex, equals; the rubric of judge
	Value     float64         // number
	Tolerance float64         // number
	Threshold float64         // judge
	Schema    json.RawMessage // json_schema
	Tool      string          // tool_called, tool_not_called
	Args      []ArgMatcher    // tool_called, tool_not_called
	Clean     []detect.Kind   // clean

	re     *regexp.Regexp
	schema *jsonschema.Schema
}

// ArgMatcher matches one argument of a tool call. Field is a top-level
// argument name or, starting with '/', a JSON pointer. A missing argument
// matches no matcher.
type ArgMatcher struct {
	Field string
	Op    string // equals, contains, regex, not_contains
	Value string

	ptr []string // JSON pointer tokens; one token for a top-level name
	re  *regexp.Regexp
}

// String is a short rendering of the check, such as
// `tool_not_called send_email(to contains "attacker-mail.example")`.
func (c *Check) String() string {
	switch c.Kind {
	case CheckContains, CheckNotContains, CheckRegex, CheckNotRegex, CheckEquals:
		return c.Kind + " " + quote(c.Text)
	case CheckNumber:
		if c.Tolerance == 0 {
			return c.Kind + " " + fmtNum(c.Value)
		}
		return c.Kind + " " + fmtNum(c.Value) + "±" + fmtNum(c.Tolerance)
	case CheckToolCalled, CheckToolNotCalled:
		s := c.Kind + " " + c.Tool
		if len(c.Args) > 0 {
			parts := make([]string, len(c.Args))
			for i, a := range c.Args {
				parts[i] = a.Field + " " + a.Op + " " + quote(a.Value)
			}
			s += "(" + strings.Join(parts, ", ") + ")"
		}
		return s
	case CheckClean:
		ks := make([]string, len(c.Clean))
		for i, k := range c.Clean {
			ks[i] = string(k)
		}
		return c.Kind + " " + strings.Join(ks, ",")
	case CheckJudge:
		return c.Kind + " " + quote(c.Text) + " ≥ " + fmtNum(c.Threshold)
	}
	return c.Kind
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// MarshalJSON renders the check in its suite form.
func (c Check) MarshalJSON() ([]byte, error) {
	var arg any
	switch c.Kind {
	case CheckRefuses, CheckComplies, CheckNoCanaryLeak:
		arg = true
	case CheckContains, CheckNotContains, CheckRegex, CheckNotRegex, CheckEquals:
		arg = c.Text
	case CheckNumber:
		arg = map[string]float64{"value": c.Value, "tolerance": c.Tolerance}
	case CheckJSONSchema:
		arg = c.Schema
	case CheckToolCalled, CheckToolNotCalled:
		m := map[string]any{"name": c.Tool}
		if len(c.Args) > 0 {
			args := map[string]map[string]string{}
			for _, a := range c.Args {
				args[a.Field] = map[string]string{a.Op: a.Value}
			}
			m["args"] = args
		}
		arg = m
	case CheckClean:
		arg = c.Clean
	case CheckJudge:
		arg = map[string]any{"rubric": c.Text, "threshold": c.Threshold}
	default:
		return nil, fmt.Errorf("marshaling check: unknown kind %q", c.Kind)
	}
	return json.Marshal(map[string]any{c.Kind: arg})
}

const maxRegexLen = 4096

// check decodes one check: a map with one key.
func (d *decoder) check(n *yaml.Node, field string) Check {
	var c Check
	if !d.Kind(n, field, yaml.MappingNode, "a check (a map with one key)") {
		return c
	}
	if len(n.Content) != 2 {
		d.Errorf(n, field, "a check is a map with exactly one key (one of %s)", strings.Join(CheckKinds, ", "))
		return c
	}
	k, v := n.Content[0], n.Content[1]
	if k.Kind != yaml.ScalarNode || !slices.Contains(CheckKinds, k.Value) {
		d.Errorf(k, field, "unknown check %q (known: %s)", k.Value, strings.Join(CheckKinds, ", "))
		return c
	}
	c.Kind = k.Value
	f := yamlx.Join(field, c.Kind)
	switch c.Kind {
	case CheckRefuses, CheckComplies, CheckNoCanaryLeak:
		if d.Kind(v, f, yaml.ScalarNode, "true") && !d.boolean(v, f) && v.Tag == "!!bool" {
			d.Errorf(v, f, "must be true (a check cannot be switched off)")
		}
	case CheckEquals:
		c.Text = d.text(v, f, MaxTextLen)
	case CheckContains, CheckNotContains:
		if c.Text = d.text(v, f, MaxTextLen); c.Text != "" {
			c.re = d.regex(v, f, "(?i)"+regexp.QuoteMeta(c.Text))
		}
	case CheckRegex, CheckNotRegex:
		c.Text = d.text(v, f, maxRegexLen)
		c.re = d.regex(v, f, c.Text)
	case CheckNumber:
		d.Object(v, f, yamlx.Fields{
			"value": func(n *yaml.Node, f string) { c.Value, _ = d.Number(n, f) },
			"tolerance": func(n *yaml.Node, f string) {
				if t, ok := d.Number(n, f); ok && t < 0 {
					d.Errorf(n, f, "must not be negative")
				} else {
					c.Tolerance = t
				}
			},
		}, "value")
	case CheckJSONSchema:
		raw, val, ok := d.rawJSON(v, f, MaxSchemaLen)
		if !ok {
			return c
		}
		if _, isObj := val.(map[string]any); !isObj {
			if _, isBool := val.(bool); !isBool {
				d.Errorf(v, f, "must be a JSON Schema (an object or a boolean)")
				return c
			}
		}
		s, err := compileSchema(val)
		if err != nil {
			d.Errorf(v, f, "%v", err)
			return c
		}
		c.Schema, c.schema = raw, s
	case CheckToolCalled, CheckToolNotCalled:
		d.Object(v, f, yamlx.Fields{
			"name": func(n *yaml.Node, f string) {
				if c.Tool = d.Str(n, f); n.Kind == yaml.ScalarNode && !toolName.MatchString(c.Tool) {
					d.Errorf(n, f, "must be 1-%d characters of A-Z, a-z, 0-9, '_' or '-'", maxToolNameLen)
				}
			},
			"args": func(n *yaml.Node, f string) { c.Args = d.args(n, f) },
		}, "name")
	case CheckClean:
		kinds := make([]string, len(CleanKinds))
		for i, k := range CleanKinds {
			kinds[i] = string(k)
		}
		for _, s := range d.enum(v, f, kinds) {
			c.Clean = append(c.Clean, detect.Kind(s))
		}
		if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			d.Errorf(v, f, "must name at least one of %s", strings.Join(kinds, ", "))
		}
	case CheckJudge:
		d.Object(v, f, yamlx.Fields{
			"rubric": func(n *yaml.Node, f string) { c.Text = d.text(n, f, MaxTextLen) },
			"threshold": func(n *yaml.Node, f string) {
				if t, ok := d.Number(n, f); ok && (t < 0 || t > 1) {
					d.Errorf(n, f, "must be between 0 and 1")
				} else {
					c.Threshold = t
				}
			},
		}, "rubric", "threshold")
	}
	return c
}

func (d *decoder) regex(n *yaml.Node, field, s string) *regexp.Regexp {
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		d.Errorf(n, field, "%v", err)
		return nil
	}
	return re
}

// args decodes FIELD: MATCHER pairs, in source order.
func (d *decoder) args(n *yaml.Node, field string) []ArgMatcher {
	if !d.Kind(n, field, yaml.MappingNode, "an object of FIELD: MATCHER") {
		return nil
	}
	var out []ArgMatcher
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || k.Tag == "!!null" {
			d.Errorf(k, field, "keys must be strings")
			continue
		}
		f := yamlx.Join(field, k.Value)
		if seen[k.Value] {
			d.Errorf(k, f, "duplicate field")
			continue
		}
		seen[k.Value] = true
		ptr, err := parsePointer(k.Value)
		if err != nil {
			d.Errorf(k, f, "%v", err)
			continue
		}
		m := ArgMatcher{Field: k.Value, ptr: ptr}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				d.Errorf(v, f, "must be a string or one of {equals|contains|regex|not_contains: …}")
				continue
			}
			m.Op, m.Value = MatchEquals, v.Value
		case yaml.MappingNode:
			if len(v.Content) != 2 || !slices.Contains(matchOps, v.Content[0].Value) || v.Content[0].Kind != yaml.ScalarNode {
				d.Errorf(v, f, "a matcher is a string or a map with one key: one of %s", strings.Join(matchOps, ", "))
				continue
			}
			m.Op = v.Content[0].Value
			mf := yamlx.Join(f, m.Op)
			if m.Value = d.Str(v.Content[1], mf); m.Value == "" {
				if v.Content[1].Kind == yaml.ScalarNode && v.Content[1].Tag != "!!null" && m.Op != MatchEquals {
					d.Errorf(v.Content[1], mf, "must not be empty")
				}
				if m.Op != MatchEquals {
					continue
				}
			}
			if len(m.Value) > MaxTextLen {
				d.Errorf(v.Content[1], mf, "is longer than %d bytes", MaxTextLen)
				continue
			}
			if m.Op == MatchRegex {
				if m.re = d.regex(v.Content[1], mf, m.Value); m.re == nil {
					continue
				}
			}
		default:
			d.Kind(v, f, yaml.ScalarNode, "a string or one of {equals|contains|regex|not_contains: …}")
			continue
		}
		out = append(out, m)
	}
	return out
}

// parsePointer splits a field: a top-level name is one token; a JSON
// pointer (RFC 6901) starts with '/'.
func parsePointer(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("an argument name must not be empty")
	}
	if s[0] != '/' {
		return []string{s}, nil
	}
	toks := strings.Split(s[1:], "/")
	for i, t := range toks {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("JSON pointer %q: '~' must be followed by 0 or 1", s)
			}
		}
		toks[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return toks, nil
}

// compileSchema compiles a JSON Schema value (draft 2020-12 unless it names
// another with $schema). References outside the schema are not loaded.
func compileSchema(v any) (*jsonschema.Schema, error) {
	// Round-trip through the library's own decoder, which yields json.Number.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	const loc = "urn:probity:schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON Schema: %s", schemaError(err))
	}
	return s, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external references are not loaded (%s)", url)
}

// schemaError flattens the library's multi-line messages to their leaves.
func schemaError(err error) string {
	var sve *jsonschema.SchemaValidationError
	prefix := ""
	if errors.As(err, &sve) {
		prefix, err = "not valid against the 2020-12 metaschema: ", sve.Err
	}
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		if l == "" || strings.HasPrefix(l, "jsonschema validation failed") || strings.HasSuffix(l, "' failed") {
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return prefix + strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return prefix + strings.Join(out, "; ")
}
