// Package yamlx decodes YAML strictly over go.yaml.in/yaml/v3 nodes: a
// Decoder walks the node tree and collects every problem, each with its
// 1-based line and column and its field path ("cases[2].checks[0]"), instead
// of stopping at the first. JSON is read as YAML, which gives both the same
// positions.
//
// Strict means: one document, no aliases (so no document expands), no
// unknown or duplicate keys (an unknown key names the known ones), required
// keys present, and each value of the kind asked for. Callers write one
// function per field and convert Problems to their own error type.
package yamlx

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

	"go.yaml.in/yaml/v3"
)

// Problem is one problem in a source, at a 1-based line and column (0 when
// unknown), with the field path.
type Problem struct {
	Line, Column int
	Field        string
	Message      string
}

// Decoder collects the problems found while decoding one source.
type Decoder struct {
	Problems []Problem

	// RejectMerge reports a merge key ("<<") as a key that is not a
	// string; otherwise it is an unknown field like any other name.
	RejectMerge bool
	// TrimParser drops "yaml: " from a parser error that gives no line.
	TrimParser bool
}

// Errorf records a problem at n (at no position when n is nil).
func (d *Decoder) Errorf(n *yaml.Node, field, format string, args ...any) {
	p := Problem{Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.Problems = append(d.Problems, p)
}

// Sort puts the problems in source order, keeping the order of those at
// the same position.
func (d *Decoder) Sort() {
	sort.SliceStable(d.Problems, func(i, j int) bool {
		a, b := d.Problems[i], d.Problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Document parses src as one YAML (or JSON) document and returns its root,
// or nil when there is none. what names the document in problems ("a suite
// is one YAML document", "suite is empty").
func (d *Decoder) Document(src []byte, what string) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	err := dec.Decode(&doc)
	if err == nil {
		var next yaml.Node
		if dec.Decode(&next) == nil {
			d.Errorf(&next, "", "a %s is one YAML document; found another", what)
			return nil
		}
	}
	if err != nil && err != io.EOF {
		msg := err.Error()
		p := Problem{Message: msg}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
		} else if d.TrimParser {
			p.Message = strings.TrimPrefix(msg, "yaml: ")
		}
		d.Problems = append(d.Problems, p)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.Errorf(nil, "", "%s is empty", what)
		return nil
	}
	return doc.Content[0]
}

// Join returns the path of key inside parent.
func Join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// Index returns the path of item i of the list at field.
func Index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// Fields maps each key of an object to the function that decodes its value,
// given the value's node and field path.
type Fields map[string]func(n *yaml.Node, field string)

// Object decodes a mapping, calling fs[key] for each key. Unknown and
// duplicate keys are problems at the key; required keys that are absent are
// problems at the mapping. It reports whether n is a mapping.
func (d *Decoder) Object(n *yaml.Node, field string, fs Fields, required ...string) bool {
	if !d.Kind(n, field, yaml.MappingNode, "an object") {
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (d.RejectMerge && k.Tag == "!!merge") {
			d.Errorf(k, field, "keys must be strings")
			continue
		}
		f := Join(field, k.Value)
		fn, ok := fs[k.Value]
		switch {
		case !ok:
			d.Errorf(k, f, "unknown field%s", suggest(k.Value, fs))
		case seen[k.Value]:
			d.Errorf(k, f, "duplicate field")
		default:
			seen[k.Value] = true
			fn(v, f)
		}
	}
	for _, r := range required {
		if !seen[r] {
			d.Errorf(n, Join(field, r), "is required")
		}
	}
	return true
}

// suggest names the known key that key misspells in case only, or else
// every known key.
func suggest(key string, fs Fields) string {
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

// Kind checks n's kind, rejecting aliases so that no document expands; a
// null is not a scalar. what names the wanted value ("must be what").
func (d *Decoder) Kind(n *yaml.Node, field string, want yaml.Kind, what string) bool {
	if n.Kind == yaml.AliasNode {
		d.Errorf(n, field, "YAML aliases are not allowed")
		return false
	}
	if n.Kind != want || (want == yaml.ScalarNode && n.Tag == "!!null") {
		d.Errorf(n, field, "must be %s", what)
		return false
	}
	return true
}

// Str decodes a string: any scalar but null.
func (d *Decoder) Str(n *yaml.Node, field string) string {
	if !d.Kind(n, field, yaml.ScalarNode, "a string") {
		return ""
	}
	return n.Value
}

// Number decodes a finite int or float.
func (d *Decoder) Number(n *yaml.Node, field string) (float64, bool) {
	if !d.Kind(n, field, yaml.ScalarNode, "a number") {
		return 0, false
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || (n.Tag != "!!int" && n.Tag != "!!float") || math.IsNaN(v) || math.IsInf(v, 0) {
		d.Errorf(n, field, "must be a finite number")
		return 0, false
	}
	return v, true
}

// Seq decodes a list of at most max items, calling item for each.
func Seq[T any](d *Decoder, n *yaml.Node, field string, max int, item func(n *yaml.Node, field string) T) []T {
	if !d.Kind(n, field, yaml.SequenceNode, "a list") {
		return nil
	}
	if len(n.Content) > max {
		d.Errorf(n, field, "has more than %d items", max)
		return nil
	}
	out := make([]T, 0, len(n.Content))
	for i, c := range n.Content {
		out = append(out, item(c, Index(field, i)))
	}
	return out
}

// Lookup returns the value of key in mapping n, or n itself: the node to
// report a problem with key at.
func Lookup(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}
