package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/probity-dev/probity/ledger"
)

const yamlType = "application/yaml"

// supportPact is a small pact for the fixture's agent; extra is appended.
func supportPact(extra string) string {
	return `apiVersion: probity/v1
kind: Pact
id: support-pact
agents: [support-bot]
scope:
  severity: major
  tools:
    - name: lookup_order
    - id: refund-limit
      name: issue_refund
      when: args.amount <= 100
` + extra
}

type pactAnswer struct {
	ID          string
	Version     int
	Digest      string
	Agents      []string
	CreatedAt   string
	LedgerIndex int64
	Source      string
	Canonical   json.RawMessage
}

func (f *fixture) postPact(want int, key, contentType, src string) pactAnswer {
	f.t.Helper()
	r := f.do("POST", "/v1/pacts", key, src, "Content-Type", contentType)
	if r.status != want {
		f.t.Fatalf("POST /v1/pacts: got status %d, want %d: %s", r.status, want, r.body)
	}
	var p pactAnswer
	if err := json.Unmarshal(r.body, &p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) getPact(path string) pactAnswer {
	f.t.Helper()
	var p pactAnswer
	if err := json.Unmarshal(f.must200raw("GET", path, f.read), &p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func TestPactVersions(t *testing.T) {
	f := newFixture(t)
	v1 := f.postPact(201, f.admin, yamlType, supportPact(""))
	if v1.ID != "support-pact" || v1.Version != 1 || !strings.HasPrefix(v1.Digest, "sha256:") ||
		!reflect.DeepEqual(v1.Agents, []string{"support-bot"}) || v1.CreatedAt == "" {
		t.Fatalf("first version: got %+v", v1)
	}

	// The same content, reformatted and as JSON, is the same version.
	again := f.postPact(200, f.admin, "application/x-yaml", "# a comment\n"+supportPact(""))
	if again.Version != 1 || again.Digest != v1.Digest || again.LedgerIndex != v1.LedgerIndex {
		t.Errorf("same content again: got %+v, want version 1 as stored", again)
	}
	canon := f.getPact("/v1/pacts/support-pact").Canonical
	asJSON := f.postPact(200, f.admin, "application/json", string(canon))
	if asJSON.Version != 1 {
		t.Errorf("same content as JSON: got version %d, want 1", asJSON.Version)
	}

	// Changed content is version 2, and a ledger leaf.
	v2 := f.postPact(201, f.admin, "text/yaml", supportPact("commitments:\n  - id: fast\n    metric: latency_p95_ms\n    op: \"<=\"\n    value: 2000\n    window: 24h\n    severity: minor\n"))
	if v2.Version != 2 || v2.Digest == v1.Digest || v2.LedgerIndex <= v1.LedgerIndex {
		t.Fatalf("changed content: got %+v, want version 2 with a new digest and a later leaf", v2)
	}
	var keys struct{ Ledger struct{ VerifierKey string } }
	json.Unmarshal(f.must200raw("GET", "/v1/keys", f.read), &keys)
	cp, err := ledger.OpenCheckpoint(f.must200raw("GET", "/v1/ledger/checkpoint", f.read), keys.Ledger.VerifierKey)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	var proof ledger.InclusionProof
	json.Unmarshal(f.must200raw("GET", fmt.Sprintf("/v1/ledger/proof?index=%d", v2.LedgerIndex), f.read), &proof)
	entry := f.must200raw("GET", fmt.Sprintf("/v1/ledger/entries/%d", v2.LedgerIndex), f.read)
	if err := ledger.VerifyInclusion(proof, entry, cp); err != nil {
		t.Errorf("inclusion of pact version 2: %v", err)
	}
	var leaf struct {
		Kind string
		Pact struct {
			ID        string
			Version   int
			Digest    string
			Agents    []string
			Canonical json.RawMessage
		}
	}
	if err := json.Unmarshal(entry, &leaf); err != nil {
		t.Fatal(err)
	}
	got := f.getPact("/v1/pacts/support-pact/versions/2")
	if leaf.Kind != "pact" || leaf.Pact.ID != "support-pact" || leaf.Pact.Version != 2 || leaf.Pact.Digest != v2.Digest ||
		!reflect.DeepEqual(leaf.Pact.Agents, []string{"support-bot"}) || !jsonEqual(t, leaf.Pact.Canonical, got.Canonical) {
		t.Errorf("leaf %d: got %s, want pact version 2 with its canonical form %s", v2.LedgerIndex, entry, got.Canonical)
	}
	// The leaf holds the exact bytes the digest covers.
	if sum := sha256.Sum256(leaf.Pact.Canonical); "sha256:"+hex.EncodeToString(sum[:]) != v2.Digest {
		t.Errorf("digest of the leaf's canonical bytes: got sha256:%x, want %s", sum, v2.Digest)
	}

	// Reads: latest, each version with its source, the list.
	latest := f.getPact("/v1/pacts/support-pact")
	if latest.Version != 2 || latest.Digest != v2.Digest || !strings.Contains(latest.Source, "latency_p95_ms") {
		t.Errorf("latest: got version %d digest %s source %q, want version 2 with its source", latest.Version, latest.Digest, latest.Source)
	}
	first := f.getPact("/v1/pacts/support-pact/versions/1")
	if first.Version != 1 || first.Digest != v1.Digest || first.Source != supportPact("") {
		t.Errorf("version 1: got %+v, want the first version and its source as posted", first)
	}
	var list struct{ Items []pactAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/pacts", f.read), &list)
	if len(list.Items) != 1 || list.Items[0].Version != 2 || list.Items[0].Source != "" {
		t.Errorf("list: got %+v, want the latest version only, without source", list.Items)
	}

	// The diff shows the added commitment only.
	var d struct {
		From, To             int
		FromDigest, ToDigest string
		Diff                 string
	}
	json.Unmarshal(f.must200raw("GET", "/v1/pacts/support-pact/diff", f.read), &d)
	if d.From != 1 || d.To != 2 || d.FromDigest != v1.Digest || d.ToDigest != v2.Digest {
		t.Errorf("default diff: got from %d to %d, want 1 to 2", d.From, d.To)
	}
	if !strings.Contains(d.Diff, `+   "commitments": [`) || changedBeyondBraces(d.Diff, "- ") {
		t.Errorf("diff 1→2: got\n%s\nwant added lines for the commitment, nothing removed but a brace", d.Diff)
	}
	json.Unmarshal(f.must200raw("GET", "/v1/pacts/support-pact/diff?from=2&to=1", f.read), &d)
	if !strings.Contains(d.Diff, `-   "commitments": [`) || changedBeyondBraces(d.Diff, "+ ") {
		t.Errorf("diff 2→1: got\n%s\nwant removed lines for the commitment, nothing added but a brace", d.Diff)
	}
	json.Unmarshal(f.must200raw("GET", "/v1/pacts/support-pact/diff?from=2&to=2", f.read), &d)
	if d.Diff != "" {
		t.Errorf("diff of a version with itself: got %q, want empty", d.Diff)
	}

	// The audit log has both versions.
	var audit struct {
		Items []struct{ Action, Target string }
	}
	json.Unmarshal(f.must200raw("GET", "/v1/audit?limit=1000", f.read), &audit)
	var actions []string
	for _, e := range audit.Items {
		if e.Target == "pact:support-pact" {
			actions = append(actions, e.Action)
		}
	}
	if want := []string{"pact.create", "pact.version"}; !reflect.DeepEqual(actions, want) {
		t.Errorf("audit actions on the pact: got %v, want %v", actions, want)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// changedBeyondBraces reports whether diff has a line marked mark other
// than a closing brace (whose comma comes and goes with a following field).
func changedBeyondBraces(diff, mark string) bool {
	for _, l := range strings.Split(diff, "\n") {
		if rest, ok := strings.CutPrefix(l, mark); ok && strings.TrimRight(strings.TrimSpace(rest), ",") != "}" {
			return true
		}
	}
	return false
}

func TestPactBindings(t *testing.T) {
	f := newFixture(t)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "billing-bot"})
	f.postPact(201, f.admin, yamlType, supportPact(""))

	// The inventory sees the binding.
	for _, it := range f.must(200, "GET", "/v1/inventory", f.read, nil)["items"].([]any) {
		it := it.(map[string]any)
		bound := it["verification"].(map[string]any)["pactBound"]
		if want := it["agentId"] == "support-bot"; bound != want {
			t.Errorf("inventory %s: pactBound %v, want %v", it["agentId"], bound, want)
		}
	}

	// Another pact may not take support-bot while support-pact holds it.
	other := "apiVersion: probity/v1\nkind: Pact\nid: other-pact\nagents: [billing-bot, support-bot]\n"
	r := f.do("POST", "/v1/pacts", f.admin, other, "Content-Type", yamlType)
	if r.status != 409 {
		t.Fatalf("second pact naming a bound agent: got %d, want 409: %s", r.status, r.body)
	}
	if code, _ := r.errorOf(t); code != "conflict" || !strings.Contains(string(r.body), "support-bot") || !strings.Contains(string(r.body), "support-pact") {
		t.Errorf("409: got %s, want it to name support-bot and support-pact", r.body)
	}
	if r := f.do("GET", "/v1/pacts/other-pact", f.read, nil); r.status != 404 {
		t.Errorf("the rejected pact: got %d, want 404 (nothing stored)", r.status)
	}

	// A new version of support-pact that names billing-bot instead frees support-bot.
	moved := strings.Replace(supportPact(""), "agents: [support-bot]", "agents: [billing-bot]", 1)
	if v := f.postPact(201, f.admin, yamlType, moved); v.Version != 2 || !reflect.DeepEqual(v.Agents, []string{"billing-bot"}) {
		t.Errorf("rebinding: got %+v", v)
	}
	only := "apiVersion: probity/v1\nkind: Pact\nid: other-pact\nagents: [support-bot]\n"
	f.postPact(201, f.admin, yamlType, only)

	// Unknown agents, in this org or only in another, are 422 naming them.
	for _, agent := range []string{"nobody", f.otherAgent} {
		r := f.do("POST", "/v1/pacts", f.admin, "apiVersion: probity/v1\nkind: Pact\nid: third\nagents: ["+agent+"]\n", "Content-Type", yamlType)
		if r.status != 422 || !strings.Contains(string(r.body), agent) {
			t.Errorf("pact naming unknown agent %s: got %d %s, want 422 naming it", agent, r.status, r.body)
		}
	}
}

func TestPactCompileErrors(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	src := "apiVersion: probity/v1\nkind: Pact\nid: Bad_ID\nscope:\n  severity: major\n  tools:\n    - name: issue_refund\n      when: args.amount <= limit\n"
	r := f.do("POST", "/v1/pacts", f.admin, src, "Content-Type", yamlType)
	if r.status != 422 {
		t.Fatalf("got status %d, want 422: %s", r.status, r.body)
	}
	var e struct {
		Error struct {
			Code    string
			Details []struct {
				Line, Column   int
				Field, Message string
			}
		}
	}
	json.Unmarshal(r.body, &e)
	if e.Error.Code != "unprocessable" || len(e.Error.Details) != 2 {
		t.Fatalf("got %s, want code unprocessable with 2 details", r.body)
	}
	for i, want := range []struct {
		line  int
		field string
	}{{3, "id"}, {8, "scope.tools[0].when"}} {
		d := e.Error.Details[i]
		if d.Line != want.line || d.Column == 0 || d.Field != want.field || d.Message == "" {
			t.Errorf("detail %d: got %+v, want line %d with a column, field %s and a message", i, d, want.line, want.field)
		}
	}
	if after := f.snapshot(); after != before {
		t.Errorf("a pact that does not compile changed state")
	}
}

// TestPactBadInput covers the body cases the bad-input table leaves to it.
func TestPactBadInput(t *testing.T) {
	f := newFixture(t)
	good, err := os.ReadFile("../pact/testdata/good/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	before := f.snapshot()
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"empty body", " ", yamlType, 422, "unprocessable"},
		{"not YAML", "{id: [", yamlType, 422, "unprocessable"},
		{"not JSON", `{"id":`, "application/json", 422, "unprocessable"},
		{"wrong content type", string(good), "text/plain", 415, "unsupported_media_type"},
		{"oversized body", "# " + strings.Repeat("x", 1<<20) + "\n" + string(good), yamlType, 413, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do("POST", "/v1/pacts", f.admin, tc.body, "Content-Type", tc.contentType)
			if r.status != tc.status {
				t.Fatalf("got status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if code, _ := r.errorOf(t); code != tc.code {
				t.Errorf("got code %q, want %q", code, tc.code)
			}
		})
	}
	if after := f.snapshot(); after != before {
		t.Errorf("bad pacts changed state")
	}

	// Another org's pact is not found, and versions and diffs of a known
	// pact are checked.
	f.postPact(201, f.otherAdmin, yamlType, "apiVersion: probity/v1\nkind: Pact\nid: theirs\n")
	f.postPact(201, f.admin, yamlType, string(good))
	for _, tc := range []struct {
		path   string
		status int
		field  string
	}{
		{"/v1/pacts/theirs", 404, ""},
		{"/v1/pacts/theirs/versions/1", 404, ""},
		{"/v1/pacts/theirs/diff", 404, ""},
		{"/v1/pacts/minimal/versions/2", 404, ""},
		{"/v1/pacts/minimal/versions/0", 400, "n"},
		{"/v1/pacts/minimal/versions/x", 400, "n"},
		{"/v1/pacts/minimal/diff?from=1&to=2", 404, ""},
		{"/v1/pacts/minimal/diff?from=-1", 400, "from"},
		{"/v1/pacts/minimal/diff?to=x", 400, "to"},
	} {
		r := f.do("GET", tc.path, f.read, nil)
		if r.status != tc.status {
			t.Errorf("%s: got %d, want %d: %s", tc.path, r.status, tc.status, r.body)
			continue
		}
		if _, field := r.errorOf(t); field != tc.field {
			t.Errorf("%s: got field %q, want %q", tc.path, field, tc.field)
		}
	}
	var list struct{ Items []pactAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/pacts", f.read), &list)
	if len(list.Items) != 1 || list.Items[0].ID != "minimal" {
		t.Errorf("list: got %+v, want only this org's pact", list.Items)
	}
}
