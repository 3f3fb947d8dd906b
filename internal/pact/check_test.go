package pact

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/record"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// fakeDetect stands in for internal/detect: it finds a kind when the text
// contains that kind's marker.
func fakeDetect(text string, kinds []string) []string {
	markers := map[string]string{"xss": "<script", "secrets": "AKIA", "pii": "555-0100", "sql": "' OR 1=1", "shell": "; rm -rf"}
	var found []string
	for _, k := range kinds {
		if m, ok := markers[k]; ok && strings.Contains(text, m) {
			found = append(found, k)
		}
	}
	return found
}

type recs struct {
	n    int
	sess string
}

func (r *recs) next(typ string) *record.Record {
	r.n++
	return &record.Record{ID: fmt.Sprintf("r%d", r.n), AgentID: "support-bot", SessionID: r.sess, Time: t0.Add(time.Duration(r.n) * time.Second), Type: typ}
}

func (r *recs) call(tool, args string) *record.Record {
	rec := r.next(record.ToolCall)
	rec.Tool = &record.Tool{Name: tool, Arguments: json.RawMessage(args)}
	return rec
}

func (r *recs) output(content string) *record.Record {
	rec := r.next(record.ModelOutput)
	rec.Content = content
	return rec
}

func (r *recs) data(class string) *record.Record {
	rec := r.next(record.DataAccess)
	rec.Data = &record.Data{Class: class, Resource: "crm://contacts/1"}
	return rec
}

func supportPact(t testing.TB) *Pact {
	t.Helper()
	src, err := os.ReadFile("testdata/good/support-agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// brief is a violation reduced to what the tables compare.
func brief(vs []Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s/%s/%s/%s", v.Clause, v.Kind, v.Severity, strings.Join(v.RecordIDs, ","))
	}
	return out
}

func TestCheckSupportAgent(t *testing.T) {
	p := supportPact(t)
	for _, tc := range []struct {
		name string
		// steps builds the session's records; Check runs on each and the
		// violations of all of them are compared.
		steps func(r *recs) []*record.Record
		want  []string
	}{
		{"allowed calls", func(r *recs) []*record.Record {
			return []*record.Record{
				r.call("search_kb", `{"query":"reset password"}`),
				r.call("lookup_order", `{"order_id":"AB-123456"}`),
				r.call("issue_refund", `{"amount":100,"currency":"EUR"}`),
				r.call("send_email", `{"to":"jane@acme.com","body":"Refund issued; see https://help.acme.com/refunds"}`),
				r.output("Your refund of 100 EUR is on its way."),
				r.data("customer_contact"),
			}
		}, nil},
		{"tool out of scope", func(r *recs) []*record.Record {
			return []*record.Record{r.call("delete_account", `{"user":"42"}`)}
		}, []string{"scope.tools/scope_tool/major/r1"}},
		{"refund over the limit", func(r *recs) []*record.Record {
			return []*record.Record{r.call("issue_refund", `{"amount":100.5}`)}
		}, []string{"refund-limit/scope_when/critical/r1"}},
		{"refund without an amount", func(r *recs) []*record.Record {
			return []*record.Record{r.call("issue_refund", `{"reason":"late"}`)}
		}, []string{"refund-limit/evaluation_error/critical/r1"}},
		{"refund with a string amount", func(r *recs) []*record.Record {
			return []*record.Record{r.call("issue_refund", `{"amount":"100"}`)}
		}, []string{"refund-limit/evaluation_error/critical/r1"}},
		{"order id malformed", func(r *recs) []*record.Record {
			return []*record.Record{r.call("lookup_order", `{"order_id":"12"}`), r.call("lookup_order", `"AB-123456"`)}
		}, []string{"scope.tools.lookup_order/scope_when/major/r1", "scope.tools.lookup_order/scope_when/major/r2"}},
		{"session count condition", func(r *recs) []*record.Record {
			var out []*record.Record
			for range 6 {
				out = append(out, r.call("send_email", `{"to":"a@acme.com"}`))
			}
			return out
		}, []string{"scope.tools.send_email/scope_when/major/r6"}},
		{"e-mail outside the company after a fetch", func(r *recs) []*record.Record {
			return []*record.Record{
				r.call("send_email", `{"to":"eve@evil.example"}`), // before any fetch: only egress
				r.call("fetch_url", `{"url":"https://docs.acme.com/faq"}`),
				r.call("search_kb", `{"query":"x"}`),
				r.call("send_email", `{"to":"bob@acme.com"}`),
				r.call("send_email", `{"to":"eve@evil.example"}`),
				r.call("send_email", `{"to":"mallory@evil.example"}`),
			}
		}, []string{
			"scope.egressDomains/egress/major/r1",
			"scope.egressDomains/egress/major/r5", "no-email-after-fetch/forbidden_sequence/critical/r2,r5",
			"scope.egressDomains/egress/major/r6", "no-email-after-fetch/forbidden_sequence/critical/r2,r6",
		}},
		{"egress in nested arguments", func(r *recs) []*record.Record {
			return []*record.Record{
				r.call("fetch_url", `{"url":"https://en.wikipedia.org/wiki/Refund"}`),
				r.call("search_kb", `{"query":"see www.evil.example or mail x@acme.com","filters":[{"site":"help.zendesk.com"},{"site":"report.pdf"},{"site":"10.0.0.7"}]}`),
				r.call("fetch_url", `{"url":"https://acme.com.evil.example/"}`),
				r.call("fetch_url", `{"url":"https://user:pw@ACME.com:8443/x"}`),
			}
		}, []string{
			"scope.egressDomains/egress/major/r1",
			"scope.egressDomains/egress/major/r2", "scope.egressDomains/egress/major/r2",
			"scope.egressDomains/egress/major/r3",
		}},
		{"data classes", func(r *recs) []*record.Record {
			return []*record.Record{r.data("order_history"), r.data("payment_card"), r.data("")}
		}, []string{"scope.dataClasses/data_class/major/r2"}},
		{"outputs", func(r *recs) []*record.Record {
			return []*record.Record{
				r.output(`Click <script>alert(1)</script>`),
				r.output("Your key is AKIAXXXX, call 555-0100"),
				r.output("All good."),
			}
		}, []string{"no-markup/output/major/r1", "no-leaks/output/critical/r2", "no-leaks/output/critical/r2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recs{sess: "s1"}
			sess := p.NewSession()
			var got []string
			for _, rec := range tc.steps(r) {
				got = append(got, brief(p.Check(rec, sess, fakeDetect))...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got violations\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestCheckExplanations(t *testing.T) {
	p := supportPact(t)
	r := &recs{sess: "s"}
	sess := p.NewSession()
	p.Check(r.call("fetch_url", `{"url":"https://acme.com"}`), sess, nil)
	vs := p.Check(r.call("send_email", `{"to":"eve@evil.example"}`), sess, nil)
	var got []string
	for _, v := range vs {
		got = append(got, v.Explanation)
	}
	want := []string{
		`call of "send_email" reaches evil.example (email at args.to), outside the allowed domains`,
		`after reading a web page, never e-mail outside the company: records r1, r2`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCheckClauses(t *testing.T) {
	// One small pact per clause kind, with records that pass and break it.
	const head = "apiVersion: probity/v1\nkind: Pact\nid: t\n"
	for _, tc := range []struct {
		name, pact string
		recs       func(r *recs) []*record.Record
		want       []string
	}{
		{"no scope allows everything", "", func(r *recs) []*record.Record {
			return []*record.Record{r.call("anything", `{"url":"http://evil.example"}`), r.data("secret")}
		}, nil},
		{"empty tools allow none", "scope:\n  severity: info\n  tools: []\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("a", `{}`)}
		}, []string{"scope.tools/scope_tool/info/r1"}},
		{"empty egress allows none", "scope:\n  severity: minor\n  egressDomains: []\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("a", `{"q":"no hosts here, version 1.2.3"}`), r.call("a", `{"host":"db.internal.example"}`)}
		}, []string{"scope.egressDomains/egress/minor/r2"}},
		{"wildcard excludes apex", "scope:\n  severity: minor\n  egressDomains: ['*.acme.com']\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("a", `{"u":"https://a.b.acme.com"}`), r.call("a", `{"u":"https://acme.com"}`), r.call("a", `{"u":"https://notacme.com"}`)}
		}, []string{"scope.egressDomains/egress/minor/r2", "scope.egressDomains/egress/minor/r3"}},
		{"two entries for one tool", "scope:\n  severity: major\n  tools:\n    - {id: small, name: pay, when: args.n < 10, severity: minor}\n    - {id: huge, name: pay, when: args.n < 1000, severity: critical}\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("pay", `{"n":5}`), r.call("pay", `{"n":50}`), r.call("pay", `{"n":5000}`)}
		}, []string{"small/scope_when/minor/r2", "small/scope_when/minor/r3", "huge/scope_when/critical/r3"}},
		{"event and agent variables", "scope:\n  severity: major\n  tools:\n    - {name: a, when: \"agent.id == 'support-bot' && event.type == 'tool_call' && event.tool == 'a' && event.sessionId == 's1'\"}\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("a", `{}`)}
		}, nil},
		{"session tools variable", "scope:\n  severity: major\n  tools:\n    - {name: a}\n    - {name: b, when: \"'a' in session.tools && session.count >= 1\"}\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("b", `{}`), r.call("a", `{}`), r.call("b", `{}`)}
		}, []string{"scope.tools.b/scope_when/major/r1"}},
		{"three-step sequence with conditions", "forbid:\n  - id: exfil\n    severity: critical\n    sequence:\n      - {tool: read_file, when: \"args.path.startsWith('/secrets')\"}\n      - {tool: encode}\n      - {tool: http_post}\n", func(r *recs) []*record.Record {
			return []*record.Record{
				r.call("http_post", `{}`),
				r.call("read_file", `{"path":"/tmp/x"}`),
				r.call("encode", `{}`),
				r.call("read_file", `{"path":"/secrets/key"}`),
				r.call("http_post", `{}`),
				r.call("encode", `{}`),
				r.call("read_file", `{"path":"/secrets/other"}`),
				r.call("http_post", `{}`),
				r.call("http_post", `{}`),
			}
		}, []string{"exfil/forbidden_sequence/critical/r4,r6,r8", "exfil/forbidden_sequence/critical/r4,r6,r9"}},
		{"single-step forbid", "forbid:\n  - {id: no-shell, severity: major, sequence: [{tool: shell}]}\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("shell", `"ls"`), r.call("shell", `"pwd"`)}
		}, []string{"no-shell/forbidden_sequence/major/r1", "no-shell/forbidden_sequence/major/r2"}},
		{"step condition error", "forbid:\n  - {id: f, severity: minor, sequence: [{tool: a, when: args.x > 1}, {tool: b}]}\n", func(r *recs) []*record.Record {
			return []*record.Record{r.call("a", `{}`), r.call("b", `{}`)}
		}, []string{"f/evaluation_error/minor/r1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, head+tc.pact)
			r := &recs{sess: "s1"}
			sess := p.NewSession()
			var got []string
			for _, rec := range tc.recs(r) {
				got = append(got, brief(p.Check(rec, sess, fakeDetect))...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got violations\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestClauses(t *testing.T) {
	p := supportPact(t)
	var got []string
	for _, c := range p.Clauses() {
		got = append(got, c.ID+"/"+c.Kind+"/"+c.Severity)
	}
	want := []string{
		"scope.tools/scope/major", "scope.tools.lookup_order/scope/major", "refund-limit/scope/critical", "scope.tools.send_email/scope/major",
		"scope.dataClasses/scope/major", "scope.egressDomains/scope/major", "no-email-after-fetch/forbid/critical",
		"no-markup/output/major", "no-leaks/output/critical", "fast/commitment/minor", "reliable/commitment/major", "safe/commitment/critical",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCheckZeroSessionAndOddDetector(t *testing.T) {
	p := supportPact(t)
	r := &recs{sess: "s"}
	var sess Session // not from NewSession
	p.Check(r.call("fetch_url", `{"url":"https://acme.com"}`), &sess, nil)
	got := brief(p.Check(r.call("send_email", `{"to":"x@evil.example"}`), &sess, nil))
	if want := []string{"scope.egressDomains/egress/major/r2", "no-email-after-fetch/forbidden_sequence/critical/r1,r2"}; !slices.Equal(got, want) {
		t.Errorf("zero Session: got %v, want %v", got, want)
	}
	var zero Session
	zero.Observe(r.call("a", `{}`)) // no pact yet: counts only
	if zero.Count() != 1 {
		t.Errorf("got count %d, want 1", zero.Count())
	}
	// A detector that reports kinds nobody asked for, or twice, is filtered.
	odd := func(string, []string) []string { return []string{"sql", "xss", "xss"} }
	got = brief(p.Check(r.output("x"), nil, odd))
	if want := []string{"no-markup/output/major/r4"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCheckWithoutSession(t *testing.T) {
	p := supportPact(t)
	r := &recs{}
	for _, rec := range []*record.Record{r.call("fetch_url", `{"url":"https://acme.com"}`), r.call("send_email", `{"to":"x@evil.example"}`)} {
		for _, v := range p.Check(rec, nil, nil) {
			if v.Kind == KindForbiddenSequence {
				t.Errorf("got %v without a session, want no sequence violations", v)
			}
		}
	}
	// A tool call without a tool and a model output without a detector are skipped.
	if vs := p.Check(&record.Record{ID: "x", Type: record.ToolCall}, nil, nil); vs != nil {
		t.Errorf("got %v for a tool call without a tool, want none", vs)
	}
	if vs := p.Check(r.output("<script>"), nil, nil); vs != nil {
		t.Errorf("got %v without a detector, want none", vs)
	}
}

// TestReplay checks that observing a session's stored records rebuilds the
// state Check left, so detection survives a restart mid-session.
func TestReplay(t *testing.T) {
	p := supportPact(t)
	r := &recs{sess: "s1"}
	day := []*record.Record{
		r.call("search_kb", `{"query":"refund policy"}`),
		r.output("Let me check."),
		r.call("fetch_url", `{"url":"https://status.acme.com"}`),
		r.data("order_history"),
		r.call("send_email", `{"to":"bob@acme.com"}`),
		r.call("issue_refund", `{"amount":20}`),
		r.call("issue_refund", `{}`),
	}
	live := p.NewSession()
	for _, rec := range day {
		p.Check(rec, live, fakeDetect)
	}
	replayed := p.NewSession()
	for _, rec := range day {
		replayed.Observe(rec)
	}
	if !replayed.Equal(live) {
		t.Fatalf("replayed state %+v differs from live state %+v", replayed, live)
	}
	// After the "restart", the sequence begun before it still fires.
	got := brief(p.Check(r.call("send_email", `{"to":"eve@evil.example"}`), replayed, nil))
	want := []string{"scope.egressDomains/egress/major/r8", "no-email-after-fetch/forbidden_sequence/critical/r3,r8"}
	if !slices.Equal(got, want) {
		t.Errorf("after replay got %v, want %v", got, want)
	}
	if replayed.Count() != 6 {
		t.Errorf("got count %d, want 6", replayed.Count())
	}
	// Clone is independent.
	c := replayed.Clone()
	p.Check(r.call("search_kb", `{}`), c, nil)
	if c.Equal(replayed) || c.Count() != replayed.Count()+1 {
		t.Errorf("Clone shares state with its original")
	}
}

func TestSessionBound(t *testing.T) {
	p := mustCompile(t, "apiVersion: probity/v1\nkind: Pact\nid: t\nforbid:\n  - {id: f, severity: minor, sequence: [{tool: a}, {tool: b}, {tool: c}]}\n")
	r := &recs{sess: "s"}
	sess := p.NewSession()
	for i := range 10 * MaxSessionTools {
		p.Check(r.call(fmt.Sprintf("tool%d", i%(2*MaxSessionTools)), `{}`), sess, nil)
		p.Check(r.call("a", `{}`), sess, nil)
	}
	if len(sess.tools) != MaxSessionTools || len(sess.counts) != MaxSessionTools {
		t.Errorf("got %d tools and %d counts, want at most %d", len(sess.tools), len(sess.counts), MaxSessionTools)
	}
	if len(sess.progress[0]) != 1 {
		t.Errorf("got %d progress ids, want 1 (the first a)", len(sess.progress[0]))
	}
	if sess.Count() != 20*MaxSessionTools {
		t.Errorf("got count %d, want %d", sess.Count(), 20*MaxSessionTools)
	}
}

func TestSessionFromOtherVersion(t *testing.T) {
	v1 := mustCompile(t, "apiVersion: probity/v1\nkind: Pact\nid: t\nforbid:\n  - {id: f, severity: minor, sequence: [{tool: a}, {tool: b}]}\n")
	v2 := mustCompile(t, "apiVersion: probity/v1\nkind: Pact\nid: t\nforbid:\n  - {id: f, severity: major, sequence: [{tool: a}, {tool: b}]}\n  - {id: g, severity: minor, sequence: [{tool: c}]}\n")
	r := &recs{sess: "s"}
	sess := v1.NewSession()
	v1.Check(r.call("a", `{}`), sess, nil)
	if vs := v2.Check(r.call("b", `{}`), sess, nil); len(vs) != 0 {
		t.Errorf("got %v, want none: a new version restarts sequences", brief(vs))
	}
	if got := brief(v2.Check(r.call("c", `{}`), sess, nil)); !slices.Equal(got, []string{"g/forbidden_sequence/minor/r3"}) {
		t.Errorf("got %v", got)
	}
	if sess.Count() != 3 {
		t.Errorf("got count %d, want 3 (counts survive a version change)", sess.Count())
	}
}

// TestEvaluationCost checks that a record too large for the compile-time
// estimate is not evaluated, and that a runtime cost limit stops an
// evaluation; both become evaluation_error violations, quickly.
func TestEvaluationCost(t *testing.T) {
	p := mustCompile(t, toolPact("args.items.exists(i, i > 100) == false"))
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range 40_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('1')
	}
	b.WriteString(`]}`)
	r := &recs{sess: "s"}
	start := time.Now()
	vs := p.Check(r.call("tool", b.String()), p.NewSession(), nil)
	if len(vs) != 1 || vs[0].Kind != KindEvaluationError || !strings.Contains(vs[0].Explanation, "args.items is a list of 40000 items") {
		t.Fatalf("got %+v, want one evaluation_error about the list size", vs)
	}
	t.Logf("stopped after %v: %s", time.Since(start), vs[0].Explanation)

	// A lowered limit stops a small evaluation too.
	cheap, err := compile([]byte(toolPact("args.items.all(a, args.items.all(b, a == a))")), limits{cost: 100})
	if err != nil {
		t.Fatal(err)
	}
	vs = cheap.Check(r.call("tool", `{"items":[1,2,3,4,5,6,7,8,9,10,11,12]}`), nil, nil)
	if len(vs) != 1 || vs[0].Kind != KindEvaluationError {
		t.Fatalf("got %+v, want one evaluation_error", vs)
	}
}

// TestCheckConcurrent checks one compiled pact from many goroutines, each
// with its own session (run with -race).
func TestCheckConcurrent(t *testing.T) {
	p := supportPact(t)
	done := make(chan []string)
	for g := range 8 {
		go func() {
			r := &recs{sess: fmt.Sprint(g)}
			sess := p.NewSession()
			var got []string
			for range 20 {
				got = append(got, brief(p.Check(r.call("fetch_url", `{"url":"https://acme.com"}`), sess, fakeDetect))...)
				got = append(got, brief(p.Check(r.call("issue_refund", `{"amount":500}`), sess, fakeDetect))...)
			}
			done <- got
		}()
	}
	for range 8 {
		if got := <-done; len(got) != 20 {
			t.Errorf("got %d violations, want 20", len(got))
		}
	}
}
