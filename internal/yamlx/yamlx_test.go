package yamlx

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// point decodes src as {name: string, size: number, tags: [string]} with name
// required and returns what it found and every problem as
// "line:column field: message".
func point(t *testing.T, d *Decoder, src string) (name string, size float64, tags []string, probs []string) {
	t.Helper()
	root := d.Document([]byte(src), "point")
	if root != nil {
		d.Object(root, "", Fields{
			"name": func(n *yaml.Node, f string) { name = d.Str(n, f) },
			"size": func(n *yaml.Node, f string) { size, _ = d.Number(n, f) },
			"tags": func(n *yaml.Node, f string) { tags = Seq(d, n, f, 2, d.Str) },
		}, "name")
	}
	d.Sort()
	for _, p := range d.Problems {
		probs = append(probs, fmt.Sprintf("%d:%d %s: %s", p.Line, p.Column, p.Field, p.Message))
	}
	return name, size, tags, probs
}

func TestDecoder(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		dec  Decoder
		want []string
	}{
		{"valid", "name: a\nsize: 2\ntags: [x, y]\n", Decoder{}, nil},
		{"unknown key, case only", "name: a\nSize: 2\n", Decoder{},
			[]string{`2:1 Size: unknown field (did you mean "size"?)`}},
		{"unknown key", "name: a\ncolour: red\n", Decoder{},
			[]string{"2:1 colour: unknown field (known: name, size, tags)"}},
		{"duplicate key", "name: a\nname: b\n", Decoder{},
			[]string{"2:1 name: duplicate field"}},
		{"required key", "size: 1\n", Decoder{},
			[]string{"1:1 name: is required"}},
		{"alias", "name: &n a\ntags: [*n]\n", Decoder{},
			[]string{"2:8 tags[0]: YAML aliases are not allowed"}},
		{"wrong kind", "name: [a]\nsize: x\ntags: {a: b}\n", Decoder{}, []string{
			"1:7 name: must be a string",
			"2:7 size: must be a finite number",
			"3:7 tags: must be a list",
		}},
		{"null is not a string", "name: ~\nsize: .inf\n", Decoder{}, []string{
			"1:7 name: must be a string",
			"2:7 size: must be a finite number",
		}},
		{"not an object", "- name\n", Decoder{}, []string{"1:1 : must be an object"}},
		{"too many items", "name: a\ntags: [x, y, z]\n", Decoder{}, []string{"2:7 tags: has more than 2 items"}},
		{"non-string key", "name: a\n[x]: 1\n", Decoder{}, []string{"2:1 : keys must be strings"}},
		{"merge key is unknown", "name: a\n<<: {size: 1}\n", Decoder{},
			[]string{"2:1 <<: unknown field (known: name, size, tags)"}},
		{"merge key rejected", "name: a\n<<: {size: 1}\n", Decoder{RejectMerge: true},
			[]string{"2:1 : keys must be strings"}},
		{"empty", "", Decoder{}, []string{"0:0 : point is empty"}},
		{"two documents", "name: a\n---\nname: b\n", Decoder{},
			[]string{"2:1 : a point is one YAML document; found another"}},
		{"syntax error", "name: a\n  size: 1\n", Decoder{},
			[]string{"2:0 : mapping values are not allowed in this context"}},
		{"parser error without a line", "name: \x01\n", Decoder{},
			[]string{"0:0 : yaml: control characters are not allowed"}},
		{"parser error without a line, trimmed", "name: \x01\n", Decoder{TrimParser: true},
			[]string{"0:0 : control characters are not allowed"}},
		{"unknown anchor", "tags: [1, *x]\nname: [a]\nbad: 1\n", Decoder{}, []string{
			"0:0 : yaml: unknown anchor 'x' referenced",
		}},
		{"every problem, in source order", "tags: [&x 1, *x]\nname: [a]\nbad: 1\n", Decoder{}, []string{
			"1:14 tags[1]: YAML aliases are not allowed",
			"2:7 name: must be a string",
			"3:1 bad: unknown field (known: name, size, tags)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.dec
			_, _, _, got := point(t, &d, tc.src)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestDecoderValues(t *testing.T) {
	var d Decoder
	name, size, tags, probs := point(t, &d, `{"name": "a", "size": 2.5, "tags": ["x"]}`)
	if len(probs) > 0 {
		t.Fatalf("got problems %q, want none", probs)
	}
	if name != "a" || size != 2.5 || !slices.Equal(tags, []string{"x"}) {
		t.Errorf("got %q %v %q, want \"a\" 2.5 [\"x\"]", name, size, tags)
	}
}

func TestErrorfWithoutNode(t *testing.T) {
	var d Decoder
	d.Errorf(nil, "cases", "has %d", 3)
	want := []Problem{{Field: "cases", Message: "has 3"}}
	if !slices.Equal(d.Problems, want) {
		t.Errorf("got %+v, want %+v", d.Problems, want)
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Join("", "id"), "id"},
		{Join("cases[2]", "id"), "cases[2].id"},
		{Index("cases", 2), "cases[2]"},
		{Index(Join("setup", "turns"), 0), "setup.turns[0]"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\nb:\n  - x\n"), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	if n := Lookup(root, "b"); n.Kind != yaml.SequenceNode || n.Line != 3 {
		t.Errorf("got kind %v at line %d, want a list at line 3", n.Kind, n.Line)
	}
	if n := Lookup(root, "c"); n != root {
		t.Errorf("got %v for a missing key, want the mapping itself", n)
	}
	seq := Lookup(root, "b")
	if n := Lookup(seq, "x"); n != seq {
		t.Errorf("got %v in a list, want the list itself", n)
	}
}
