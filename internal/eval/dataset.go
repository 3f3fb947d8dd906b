package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity/internal/yamlx"
)

// Dataset check kinds: what a dataset line's "check" may be.
var DatasetChecks = []string{CheckEquals, CheckContains, CheckRegex, CheckNumber}

// ParseDataset parses a user's accuracy dataset: JSON Lines of
// {"id","input","expected","check","tolerance"?} where check is equals,
// contains, regex or number (tolerance only with number). Each line becomes
// a case with one user turn, the check, and the accuracy dimension. Blank
// lines are skipped. On failure the error is a *LoadError listing every
// problem with its line (and column, when known).
func ParseDataset(name string, src []byte) ([]Case, error) {
	d := newDecoder(name)
	if len(src) > MaxSourceLen {
		d.Errorf(nil, "", "dataset is longer than %d bytes", MaxSourceLen)
		return nil, d.err()
	}
	var out []Case
	ids := map[string]int{}
	for i, line := range bytes.Split(src, []byte("\n")) {
		lineNo := i + 1
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(out) >= MaxCases {
			d.Problems = append(d.Problems, yamlx.Problem{Line: lineNo, Message: "more than " + strconv.Itoa(MaxCases) + " cases"})
			break
		}
		ld := newDecoder(name)
		c, ok := ld.datasetLine(line)
		for _, p := range ld.Problems {
			p.Line = lineNo
			d.Problems = append(d.Problems, p)
		}
		if !ok {
			continue
		}
		if prev, dup := ids[c.ID]; dup {
			d.Problems = append(d.Problems, yamlx.Problem{Line: lineNo, Field: "id", Message: "case id " + strconv.Quote(c.ID) + " is already used on line " + strconv.Itoa(prev)})
			continue
		}
		ids[c.ID] = lineNo
		out = append(out, c)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		d.Errorf(nil, "", "dataset has no cases")
		return nil, d.err()
	}
	return out, nil
}

// datasetLine decodes one JSON object; positions are on line 1.
func (d *decoder) datasetLine(line []byte) (Case, bool) {
	if !utf8.Valid(line) {
		d.Errorf(nil, "", "is not valid UTF-8")
		return Case{}, false
	}
	var v any
	if err := json.Unmarshal(line, &v); err != nil {
		p := yamlx.Problem{Message: "invalid JSON: " + err.Error()}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			p.Column = int(se.Offset)
		}
		d.Problems = append(d.Problems, p)
		return Case{}, false
	}
	root := d.Document(line, "dataset line")
	if root == nil {
		return Case{}, false
	}
	c := Case{Dimensions: []string{Accuracy}}
	var input, expected, check string
	var expectedNode, tolNode *yaml.Node
	var tolerance float64
	d.Object(root, "", yamlx.Fields{
		"id":    func(n *yaml.Node, f string) { c.ID = d.id(n, f) },
		"input": func(n *yaml.Node, f string) { input = d.text(n, f, MaxTextLen) },
		"expected": func(n *yaml.Node, f string) {
			expectedNode = n
			if d.Kind(n, f, yaml.ScalarNode, "a string or a number") {
				if n.Tag == "!!bool" {
					d.Errorf(n, f, "must be a string or a number")
					return
				}
				expected = n.Value
			}
		},
		"check": func(n *yaml.Node, f string) {
			if check = d.Str(n, f); n.Kind == yaml.ScalarNode {
				switch check {
				case CheckEquals, CheckContains, CheckRegex, CheckNumber:
				default:
					d.Errorf(n, f, "must be one of equals, contains, regex, number")
					check = ""
				}
			}
		},
		"tolerance": func(n *yaml.Node, f string) {
			tolNode = n
			if t, ok := d.Number(n, f); ok && t < 0 {
				d.Errorf(n, f, "must not be negative")
			} else {
				tolerance = t
			}
		},
	}, "id", "input", "expected", "check")
	if len(d.Problems) > 0 || check == "" || expectedNode == nil {
		return Case{}, false
	}
	ch := Check{Kind: check, Text: expected}
	switch check {
	case CheckEquals:
	case CheckContains:
		if expected == "" {
			d.Errorf(expectedNode, "expected", "must not be empty")
		} else {
			ch.re = d.regex(expectedNode, "expected", "(?i)"+regexp.QuoteMeta(expected))
		}
	case CheckRegex:
		if expected == "" {
			d.Errorf(expectedNode, "expected", "must not be empty")
		} else if len(expected) > maxRegexLen {
			d.Errorf(expectedNode, "expected", "is longer than %d bytes", maxRegexLen)
		} else {
			ch.re = d.regex(expectedNode, "expected", expected)
		}
	case CheckNumber:
		f, err := strconv.ParseFloat(expected, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.Errorf(expectedNode, "expected", "must be a finite number for the number check")
		}
		ch = Check{Kind: CheckNumber, Value: f, Tolerance: tolerance}
	}
	if tolNode != nil && check != CheckNumber {
		d.Errorf(tolNode, "tolerance", "applies only to the number check")
	}
	if len(d.Problems) > 0 {
		return Case{}, false
	}
	c.Setup = Setup{Turns: []string{input}}
	c.Checks = []Check{ch}
	return c, true
}
