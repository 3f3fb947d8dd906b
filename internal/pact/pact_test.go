package pact

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.errors from the current output")

func TestCompileGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*")
	if len(files) == 0 {
		t.Fatal("no good pacts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if !strings.HasPrefix(p.Digest(), "sha256:") || len(p.Digest()) != len("sha256:")+64 {
				t.Errorf("got digest %q, want sha256:<64 hex>", p.Digest())
			}
			// The canonical form compiles back to the same content.
			q, err := Compile(p.Canonical())
			if err != nil {
				t.Fatalf("Compile(Canonical()): %v\n%s", err, p.Canonical())
			}
			if !bytes.Equal(q.Canonical(), p.Canonical()) || q.Digest() != p.Digest() {
				t.Errorf("canonical form does not round-trip:\ngot  %s\nwant %s", q.Canonical(), p.Canonical())
			}
		})
	}
}

// TestCompileBad compiles each bad pact and compares every error, with its
// position, to the golden .errors file beside it.
func TestCompileBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	jsons, _ := filepath.Glob("testdata/bad/*.json")
	files = append(files, jsons...)
	if len(files) == 0 {
		t.Fatal("no bad pacts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(src)
			if err == nil {
				t.Fatalf("Compile succeeded (digest %s), want errors", p.Digest())
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("got error %T %v, want Errors", err, err)
			}
			if !errors.Is(err, probity.ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false, want true")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".errors"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (run go test -update after checking):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestDigestStability(t *testing.T) {
	base := `apiVersion: probity/v1
kind: Pact
id: d
agents: [a]
scope:
  severity: major
  tools:
    - name: issue_refund
      when: args.amount <= 100
  egressDomains: [acme.com]
commitments:
  - {id: fast, severity: minor, metric: latency_p95_ms, op: "<=", value: 2000, window: 24h}
`
	same := map[string]string{
		"reordered keys and flow style": `
kind: Pact
scope: {egressDomains: [ACME.com.], tools: [{when: "  args.amount <= 100 ", name: issue_refund}], severity: major}
commitments:
  - window: 1d
    value: 2000.0
    op: "<="
    metric: latency_p95_ms
    severity: minor
    id: fast
id: d
agents:
- a
apiVersion: "probity/v1"
`,
		"json": `{"apiVersion":"probity/v1","kind":"Pact","id":"d","agents":["a"],
 "scope":{"severity":"major","tools":[{"name":"issue_refund","when":"args.amount <= 100"}],"egressDomains":["acme.com"]},
 "commitments":[{"id":"fast","severity":"minor","metric":"latency_p95_ms","op":"<=","value":2e3,"window":"1440m"}]}`,
	}
	different := map[string]string{
		"refund limit": strings.Replace(base, "<= 100", "<= 101", 1),
		"severity":     strings.Replace(base, "severity: major", "severity: critical", 1),
		"agent":        strings.Replace(base, "agents: [a]", "agents: [a, b]", 1),
		"no egress":    strings.Replace(base, "  egressDomains: [acme.com]\n", "", 1),
		"empty egress": strings.Replace(base, "[acme.com]", "[]", 1),
		"window":       strings.Replace(base, "24h", "48h", 1),
	}
	want := mustCompile(t, base).Digest()
	for name, src := range same {
		if got := mustCompile(t, src).Digest(); got != want {
			t.Errorf("%s: got digest %s, want %s (same content)", name, got, want)
		}
	}
	seen := map[string]string{want: "base"}
	for name, src := range different {
		got := mustCompile(t, src).Digest()
		if prev, ok := seen[got]; ok {
			t.Errorf("%s: digest %s equals that of %s, want a different one", name, got, prev)
		}
		seen[got] = name
	}
}

func mustCompile(t testing.TB, src string) *Pact {
	t.Helper()
	p, err := Compile([]byte(src))
	if err != nil {
		t.Fatalf("Compile: %v\n%s", err, src)
	}
	return p
}

// toolPact returns a pact with one tool entry whose condition is when.
func toolPact(when string) string {
	return fmt.Sprintf("apiVersion: probity/v1\nkind: Pact\nid: t\nscope:\n  severity: major\n  tools:\n    - id: cond\n      name: tool\n      when: %q\n", when)
}

func TestCompileCost(t *testing.T) {
	for _, tc := range []struct {
		when string
		ok   bool
	}{
		{"args.amount <= 100", true},
		{"args.items.exists(i, i.amount > 100)", true},
		{"args.body.lowerAscii().contains('refund') && args.to.endsWith('@acme.com')", true},
		{"args.items.exists(i, args.body.contains(i))", false},
		{"args.to.endsWith('@acme.com') && session.count < 50", true},
		{"args.items.all(a, args.items.all(b, a != b))", false},
		{"args.items.map(a, args.items.map(b, [a, b])).size() > 0", false},
		{"[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, a + b > 0))", true},
	} {
		_, err := Compile([]byte(toolPact(tc.when)))
		if (err == nil) != tc.ok {
			t.Errorf("%s: got error %v, want ok=%v", tc.when, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "exceeds the limit") {
			t.Errorf("%s: got %v, want a cost error", tc.when, err)
		}
	}
}
