package web_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/internal/web"
)

const wantCSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// TestSessions: without a session every page redirects to sign-in (with
// where it was going); a bad key or a forged form is refused; a good key
// gets an HttpOnly, SameSite=Strict cookie and goes where it was going;
// signing out ends the session.
func TestSessions(t *testing.T) {
	f := newFleet(t)
	b := newBrowser(t, f.env.URL)
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/", "/signin"},
		{"GET", "/agents/support-bot", "/signin?next=%2Fagents%2Fsupport-bot"},
		{"GET", "/evals", "/signin?next=%2Fevals"},
		{"GET", "/ledger?index=0", "/signin?next=%2Fledger%3Findex%3D0"},
		{"POST", "/agents/docs-bot/suspend", "/signin"},
	} {
		var p page
		if tc.method == "GET" {
			p = b.get(tc.path)
		} else {
			p = b.post(tc.path, url.Values{"reason": {"no session"}})
		}
		if p.status != http.StatusSeeOther || p.header.Get("Location") != tc.want {
			t.Errorf("%s %s without a session: got %d to %q, want 303 to %q", tc.method, tc.path, p.status, p.header.Get("Location"), tc.want)
		}
	}
	if a, _ := f.admin.GetAgent(context.Background(), "docs-bot"); a.Status != probity.StatusActive {
		t.Fatalf("a POST without a session changed the agent: %s", a.Status)
	}

	// The sign-in form's token must come back with the form.
	if p := b.post("/signin", url.Values{"token": {"forged"}, "key": {f.adminKey}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: got %d, want 403", p.status)
	}
	for _, tc := range []struct{ key, want string }{
		{"", "key: is required"},
		{"not-a-key", "key: not an API key"},
		{probity.KeyPrefix + strings.Repeat("A", probity.KeyLen-len(probity.KeyPrefix)), "key: unknown API key"},
		{f.ingest, "key: this key lacks the read scope"},
	} {
		p := b.signin(tc.key)
		if p.status < 400 || !strings.Contains(p.body, tc.want) {
			t.Errorf("sign-in with %q: got %d, want an error saying %q", tc.key, p.status, tc.want)
		}
		if strings.Contains(p.body, tc.key) && tc.key != "" {
			t.Errorf("sign-in with %q: the page repeats the key", tc.key)
		}
	}

	// Sign in on the way to an agent page: back there after.
	form := b.get("/signin?next=" + url.QueryEscape("/agents/support-bot"))
	token := tokenField.FindStringSubmatch(form.body)[1]
	p := b.post("/signin", url.Values{"token": {token}, "key": {f.adminKey}, "next": {"/agents/support-bot"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/agents/support-bot" {
		t.Fatalf("sign-in: got %d to %q, want 303 to /agents/support-bot", p.status, p.header.Get("Location"))
	}
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "probity_session=") {
			cookie = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") || strings.Contains(cookie, f.adminKey) {
		t.Errorf("session cookie over plain HTTP: %q (want no Secure, and never the key)", cookie)
	}
	home := b.get("/")
	if home.status != 200 || !strings.Contains(home.body, `href="/agents/support-bot"`) || !strings.Contains(home.body, `href="/agents/docs-bot"`) {
		t.Fatalf("fleet after sign-in: %d", home.status)
	}
	for h, want := range map[string]string{"Content-Security-Policy": wantCSP, "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := home.header.Get(h); got != want {
			t.Errorf("header %s: got %q, want %q", h, got, want)
		}
	}
	// An open redirect is not possible through next.
	form = b.get("/signin")
	token = tokenField.FindStringSubmatch(form.body)[1]
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
		p := b.post("/signin", url.Values{"token": {token}, "key": {f.adminKey}, "next": {next}})
		if loc := p.header.Get("Location"); loc != "/" {
			t.Errorf("sign-in with next %q: redirected to %q, want /", next, loc)
		}
		form = b.get("/signin")
		token = tokenField.FindStringSubmatch(form.body)[1]
	}

	// Sign out needs the token too, then the session is gone.
	if p := b.post("/signout", nil); p.status != http.StatusForbidden {
		t.Errorf("sign-out without the csrf token: got %d, want 403", p.status)
	}
	if p := b.post("/signout", url.Values{"csrf": {b.csrf()}}); p.status != http.StatusSeeOther {
		t.Errorf("sign-out: got %d, want 303", p.status)
	}
	if p := b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("fleet after sign-out: got %d, want 303 to sign-in", p.status)
	}
}

// TestSecureCookie: over TLS, or behind a proxy that terminated TLS, the
// cookies are Secure.
func TestSecureCookie(t *testing.T) {
	env := apptest.Start(t)
	d, err := web.New(web.Options{API: env.API()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(d)
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)
	b.c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	p := b.signin(env.AdminKey)
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign-in over TLS: %d %s", p.status, p.body)
	}
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "probity_session=") {
			cookie = c
		}
	}
	if !strings.Contains(cookie, "Secure") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Errorf("session cookie over TLS: %q, want Secure, HttpOnly, SameSite=Strict", cookie)
	}

	// Behind a TLS-terminating proxy that says so, too.
	req, _ := http.NewRequest("GET", env.URL+"/signin", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	p = newBrowser(t, env.URL).do(req)
	if c := p.header.Get("Set-Cookie"); !strings.HasPrefix(c, "probity_signin=") || !strings.Contains(c, "Secure") {
		t.Errorf("sign-in cookie behind a TLS proxy: %q, want Secure", c)
	}
}

// TestSuspendAndCSRF: a form without the session's token is refused and
// changes nothing; suspension needs a reason and reactivation a root
// cause, each named when missing; both land in the audit log.
func TestSuspendAndCSRF(t *testing.T) { stores(t, testSuspendAndCSRF) }

func testSuspendAndCSRF(t *testing.T, opts ...apptest.Option) {
	f := newFleet(t, opts...)
	ctx := context.Background()
	b := signedIn(t, f.env.URL, f.adminKey)
	status := func() string {
		a, err := f.admin.GetAgent(ctx, "docs-bot")
		if err != nil {
			t.Fatal(err)
		}
		return a.Status
	}
	for _, form := range []url.Values{
		{"reason": {"no token"}},
		{"reason": {"wrong token"}, "csrf": {"x" + b.csrf()}},
	} {
		if p := b.post("/agents/docs-bot/suspend", form); p.status != http.StatusForbidden || !strings.Contains(p.body, "security token") {
			t.Errorf("suspend %v: got %d, want 403 naming the token", form, p.status)
		}
	}
	// Another browser's valid token is not this session's.
	other := signedIn(t, f.env.URL, f.adminKey)
	if p := b.post("/agents/docs-bot/suspend", url.Values{"reason": {"x"}, "csrf": {other.csrf()}}); p.status != http.StatusForbidden {
		t.Errorf("suspend with another session's token: got %d, want 403", p.status)
	}
	if got := status(); got != probity.StatusActive {
		t.Fatalf("refused forms changed the agent: %s", got)
	}

	csrf := b.csrf()
	p := b.post("/agents/docs-bot/suspend", url.Values{"csrf": {csrf}, "reason": {"  "}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "<b>reason</b>") || !strings.Contains(p.body, `href="/agents/docs-bot"`) {
		t.Errorf("suspend without a reason: got %d, want 400 naming reason with a link back", p.status)
	}
	p = b.post("/agents/docs-bot/suspend", url.Values{"csrf": {csrf}, "reason": {"exfiltration attempt <script>alert(1)</script>"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/agents/docs-bot" {
		t.Fatalf("suspend: got %d to %q, want 303 to the agent", p.status, p.header.Get("Location"))
	}
	if got := status(); got != probity.StatusSuspended {
		t.Fatalf("after suspend: status %s", got)
	}
	page := b.get("/agents/docs-bot")
	for _, want := range []string{"Suspended docs-bot.", `id="reactivate-form"`, "exfiltration attempt &lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("agent page after suspend lacks %q", want)
		}
	}
	if strings.Contains(page.body, `id="suspend-form"`) {
		t.Error("a suspended agent still offers the suspend form")
	}
	p = b.post("/agents/docs-bot/reactivate", url.Values{"csrf": {csrf}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "<b>rootCause</b>") {
		t.Errorf("reactivate without a root cause: got %d, want 400 naming rootCause", p.status)
	}
	if got := status(); got != probity.StatusSuspended {
		t.Fatalf("a refused reactivation changed the agent: %s", got)
	}
	p = b.post("/agents/docs-bot/reactivate", url.Values{"csrf": {csrf}, "rootCause": {"the fetch tool now strips instructions"}})
	if p.status != http.StatusSeeOther || status() != probity.StatusActive {
		t.Fatalf("reactivate: got %d, status %s", p.status, status())
	}
	audit, err := f.admin.Audit(ctx, client.AuditOptions{Target: "agent:docs-bot"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); !strings.HasSuffix(got, "agent.suspend,agent.reactivate") {
		t.Errorf("audit log of docs-bot: %s, want it to end with agent.suspend,agent.reactivate", got)
	}
}

// TestRevokedKeyEndsSession: a key revoked after sign-in ends its session
// at the next request.
func TestRevokedKeyEndsSession(t *testing.T) {
	f := newFleet(t)
	b := signedIn(t, f.env.URL, f.readKey)
	if p := b.get("/"); p.status != 200 {
		t.Fatalf("fleet with a read key: %d", p.status)
	}
	if _, err := f.admin.RevokeKey(context.Background(), f.readID); err != nil {
		t.Fatal(err)
	}
	p := b.get("/agents/support-bot")
	loc, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || loc.Path != "/signin" {
		t.Fatalf("after revocation: got %d to %q, want 303 to sign-in", p.status, p.header.Get("Location"))
	}
	if p := b.get(loc.RequestURI()); !strings.Contains(p.body, "revoked") {
		t.Errorf("the sign-in page after revocation does not say the key was revoked")
	}
	if p := b.get("/signin?msg=" + url.QueryEscape("Call IT at 555-0100")); strings.Contains(p.body, "555-0100") {
		t.Errorf("a link put its own words on the sign-in page")
	}
	if p := b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("the ended session still works: %d", p.status)
	}
	if p := b.signin(f.readKey); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "revoked") {
		t.Errorf("signing in again with the revoked key: got %d, want 401 saying revoked", p.status)
	}
}

// TestReadOnlyKey: a read key sees no write buttons and its POSTs are
// refused even with a valid token.
func TestReadOnlyKey(t *testing.T) {
	f := newFleet(t)
	b := signedIn(t, f.env.URL, f.readKey)
	p := b.get("/agents/support-bot")
	if p.status != 200 {
		t.Fatalf("agent page: %d", p.status)
	}
	p.body += b.get("/agents/docs-bot").body
	for _, form := range []string{`action="/agents/support-bot/suspend"`, `action="/agents/support-bot/reactivate"`, `action="/agents/docs-bot/suspend"`} {
		if strings.Contains(p.body, form) {
			t.Errorf("a read-only key is shown %s", form)
		}
	}
	if !strings.Contains(p.body, "read-only") || !strings.Contains(p.body, "/agents/support-bot/attestation") {
		t.Error("the read-only page does not say read-only or lacks the attestation download")
	}
	p = b.post("/agents/docs-bot/suspend", url.Values{"csrf": {b.csrf()}, "reason": {"read key"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "admin") {
		t.Errorf("suspend with a read key: got %d, want 403 naming the admin scope", p.status)
	}
	if a, _ := f.admin.GetAgent(context.Background(), "docs-bot"); a.Status != probity.StatusActive {
		t.Errorf("a read key's POST changed the agent: %s", a.Status)
	}
	inc := b.get("/incidents/" + f.incident)
	if inc.status != 200 || strings.Contains(inc.body, `id="resolve-form"`) || strings.Contains(inc.body, `id="acknowledge-form"`) {
		t.Errorf("a read-only key's incident page: %d, with write forms", inc.status)
	}
	p = b.post("/incidents/"+f.incident+"/resolve", url.Values{"csrf": {b.csrf()}, "rootCause": {"read key"}})
	if p.status != http.StatusForbidden {
		t.Errorf("resolve with a read key: got %d, want 403", p.status)
	}
	// The attestation downloads as a file and verifies.
	att := b.get("/agents/support-bot/attestation")
	if att.status != 200 || !strings.Contains(att.header.Get("Content-Disposition"), `attachment; filename="attestation-support-bot.json"`) {
		t.Fatalf("attestation: %d %q", att.status, att.header.Get("Content-Disposition"))
	}
	var env struct{ PayloadType string }
	if err := json.Unmarshal([]byte(att.body), &env); err != nil || env.PayloadType != "application/vnd.in-toto+json" {
		t.Errorf("attestation body: %v %+v", err, env)
	}
}

// TestEscaping: agent-produced text (model output, tool arguments and
// results, agent names and descriptions) reaches every page as text:
// the payloads appear escaped and never as markup.
func TestEscaping(t *testing.T) {
	f := newFleet(t)
	b := signedIn(t, f.env.URL, f.adminKey)
	pages := map[string]page{}
	for _, path := range []string{"/", "/agents/support-bot?rwin=all", "/agents/support-bot/session?id=s-xss", "/agents/support-bot/session?id=s-inj",
		"/ledger?record=x-2"} {
		p := b.get(path)
		if p.status != 200 {
			t.Fatalf("GET %s: %d", path, p.status)
		}
		pages[path] = p
	}
	raw := regexp.MustCompile(`(?i)<script>window|<img src=x|<[^>]*\sonerror=|<b>bot</b>`)
	for path, p := range pages {
		if m := raw.FindString(p.body); m != "" {
			t.Errorf("GET %s renders %q as markup", path, m)
		}
	}
	session := pages["/agents/support-bot/session?id=s-xss"].body
	for _, want := range []string{"&lt;script&gt;window.__pwned", "&lt;img src=x onerror=", "lookup_order"} {
		if !strings.Contains(session, want) {
			t.Errorf("the session page does not show %q as text", want)
		}
	}
	if agent := pages["/agents/support-bot?rwin=all"].body; !strings.Contains(agent, "Support &lt;b&gt;bot&lt;/b&gt;") {
		t.Error("the agent page does not show the agent's name as text")
	}
	// The injected page and the influenced call are marked in their session.
	inj := pages["/agents/support-bot/session?id=s-inj"].body
	for _, want := range []string{"injection detected in this result", "injection-influenced call", "exfil@attacker-mail.example"} {
		if !strings.Contains(inj, want) {
			t.Errorf("the injected session's page lacks %q", want)
		}
	}
	// A violation's evidence leads to the record in its session.
	p := b.get("/records/i-4")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/agents/support-bot/session?id=s-inj#rec-") {
		t.Errorf("record i-4: got %d to %q, want its session", p.status, p.header.Get("Location"))
	}
	if p := b.get("/records/nope"); p.status != http.StatusNotFound {
		t.Errorf("an unknown record: got %d, want 404", p.status)
	}
}

// TestNoTrustedMarkup: no code of the dashboard turns a string into
// trusted markup, script, URL or style, so escaping cannot be bypassed.
func TestNoTrustedMarkup(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	trusted := regexp.MustCompile(`template\.(HTML|HTMLAttr|JS|JSStr|URL|CSS|Srcset)\b`)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := trusted.Find(b); m != nil {
			t.Errorf("%s uses %s", name, m)
		}
	}
	tmpls, _ := filepath.Glob("templates/*.html")
	if len(tmpls) < 5 {
		t.Fatalf("found %d templates", len(tmpls))
	}
	for _, name := range tmpls {
		b, _ := os.ReadFile(name)
		if regexp.MustCompile(`(?i)<script>|\son[a-z]+=|javascript:|style=`).Match(b) {
			t.Errorf("%s holds inline script, an event handler attribute or an inline style (the CSP forbids them)", name)
		}
	}
}

// TestFleetQuery: filters, sorts and pages come from the query string;
// a bad parameter is a 400 naming it.
func TestFleetQuery(t *testing.T) {
	f := newFleet(t)
	b := signedIn(t, f.env.URL, f.readKey)
	rows := regexp.MustCompile(`class="agent-link">([^<]+)<`)
	agents := func(path string) []string {
		p := b.get(path)
		if p.status != 200 {
			t.Fatalf("GET %s: %d %s", path, p.status, p.body)
		}
		var out []string
		for _, m := range rows.FindAllStringSubmatch(p.body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/", "support-bot,docs-bot"}, // widest gap first: support-bot has production and financial access
		{"/?owner=docs-team", "docs-bot"},
		{"/?risk=high", "support-bot"},
		{"/?risk=low", "docs-bot"},
		{"/?q=SUPPORT", "support-bot"},
		{"/?sort=agent", "docs-bot,support-bot"},
		{"/?sort=agent&dir=desc", "support-bot,docs-bot"},
		{"/?status=suspended", "support-bot"},
		{"/?status=active", "docs-bot"},
		{"/?sort=agent&per=25&page=9", "docs-bot,support-bot"}, // past the end: the last page
	} {
		if got := strings.Join(agents(tc.path), ","); got != tc.want {
			t.Errorf("GET %s: got %q, want %q", tc.path, got, tc.want)
		}
	}
	for _, tc := range []struct{ query, field string }{
		{"risk=extreme", "risk"}, {"tier=mithril", "tier"}, {"status=gone", "status"}, {"sort=name", "sort"},
		{"dir=up", "dir"}, {"page=0", "page"}, {"per=7", "per"}, {"owner=%01", "owner"},
	} {
		p := b.get("/?" + tc.query)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "<b>"+tc.field+"</b>") {
			t.Errorf("GET /?%s: got %d, want 400 naming %s", tc.query, p.status, tc.field)
		}
	}
	if p := b.get("/agents/Not_An_ID"); p.status != http.StatusBadRequest {
		t.Errorf("an invalid agent id: got %d, want 400", p.status)
	}
	if p := b.get("/agents/ghost"); p.status != http.StatusNotFound {
		t.Errorf("an unknown agent: got %d, want 404", p.status)
	}
	if p := b.get("/agents/support-bot?days=3"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "<b>days</b>") {
		t.Errorf("a bad chart span: got %d, want 400 naming days", p.status)
	}
}

// TestAgentPage: the score with its chart, dimensions with evidence,
// badges with criteria, the pact and its violations, and records.
func TestAgentPage(t *testing.T) {
	f := newFleet(t)
	b := signedIn(t, f.env.URL, f.adminKey)
	p := b.get("/agents/support-bot?rwin=all")
	if p.status != 200 {
		t.Fatalf("agent page: %d %s", p.status, p.body)
	}
	for _, want := range []string{
		`<svg viewBox="0 0 760 240"`, `class="line s-composite"`, `class="line s-security"`, // the charts
		"Scope adherence", "injection-free", "injection cases (need", // dimensions and badge criteria
		"support-agent", "sha256:", "no-email-after-fetch", "never in one session: fetch_url → send_email", // the pact
		"confirmed injection", `href="/records/i-4"`, // its violations, with evidence
		"s-inj", "i-3", // records
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("agent page lacks %q", want)
		}
	}
	// A model update is marked on the time axis.
	if _, err := f.admin.UpdateAgent(context.Background(), "support-bot", map[string]any{"model": map[string]any{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/agents/support-bot"); !strings.Contains(p.body, `class="marker"`) || !strings.Contains(p.body, "model 2") {
		t.Error("the chart does not mark the model update")
	}
	// Records page with a cursor.
	p = b.get("/agents/support-bot?rwin=all&rtype=tool_call")
	if n := strings.Count(p.body, `<td>tool_call</td>`); n != 3 {
		t.Errorf("tool calls listed: %d, want 3", n)
	}
	if p := b.get("/agents/support-bot?rcursor=bogus"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "cursor") {
		t.Errorf("a bad records cursor: got %d, want 400 naming cursor", p.status)
	}
}

// TestEvalPages: runs with their progress, a run's pass rates with
// intervals and its cases with transcripts, and the progress the page's
// script polls.
func TestEvalPages(t *testing.T) {
	f := newFleet(t)
	run := f.gullibleRun(t, "injection-indirect")
	b := signedIn(t, f.env.URL, f.readKey)
	p := b.get("/evals")
	if p.status != 200 || !strings.Contains(p.body, `href="/evals/`+run.ID+`"`) || !strings.Contains(p.body, `data-progress="/evals/`+run.ID+`/progress"`) {
		t.Fatalf("evals page: %d", p.status)
	}
	p = b.get("/evals/" + run.ID)
	if p.status != 200 {
		t.Fatalf("run page: %d %s", p.status, p.body)
	}
	for _, want := range []string{"injection-indirect", "pass rate", "attack success", "Security (injection resistance)", `class="transcript"`, "<progress max=\"" + strconv.Itoa(run.Progress.Total) + "\""} {
		if !strings.Contains(p.body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	if n := strings.Count(p.body, `<li class="case case-`); n != 25 {
		t.Errorf("cases on the first page: %d, want 25", n)
	}
	next := regexp.MustCompile(`href="(/evals/[^"]+\?cursor=[^"]+)">More cases`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatal("no link to more cases")
	}
	if p := b.get(strings.ReplaceAll(next[1], "&amp;", "&")); p.status != 200 || strings.Count(p.body, `<li class="case case-`) == 0 {
		t.Errorf("the next page of cases: %d", p.status)
	}
	var prog struct {
		ID, Status  string
		Done, Total int
	}
	p = b.get("/evals/" + run.ID + "/progress")
	if err := json.Unmarshal([]byte(p.body), &prog); err != nil || prog.Status != "completed" || prog.Done != prog.Total || prog.Total != run.Progress.Total {
		t.Errorf("progress: %v %+v", err, prog)
	}
	p = b.get("/agents/gullible-bot")
	if p.status != 200 || !strings.Contains(p.body, `href="/evals/`+run.ID+`"`) || !strings.Contains(p.body, "%]") {
		t.Errorf("the agent page does not list the run with its pass rate and interval: %d", p.status)
	}
	for _, path := range []string{"/evals?agent=Bad_Id", "/evals/ev_nope", "/evals?cursor=!!"} {
		if p := b.get(path); p.status < 400 || p.status >= 500 {
			t.Errorf("GET %s: got %d, want a 4xx", path, p.status)
		}
	}
}

// TestIncidents: the queue by severity and age, an incident explaining
// itself with links to its evidence, and its lifecycle through the forms:
// acknowledge, resolve (root cause required), then the agent the playbook
// suspended is reactivated with its own root cause.
func TestIncidents(t *testing.T) { stores(t, testIncidents) }

func testIncidents(t *testing.T, opts ...apptest.Option) {
	f := newFleet(t, opts...)
	ctx := context.Background()
	b := signedIn(t, f.env.URL, f.adminKey)
	fleetPage := b.get("/")
	if !regexp.MustCompile(`(?s)href="/incidents\?agent=support-bot".{0,80}1 critical`).MatchString(fleetPage.body) {
		t.Error("the fleet does not show support-bot's open critical incident")
	}
	q := b.get("/incidents")
	if q.status != 200 || !strings.Contains(q.body, `href="/incidents/`+f.incident+`"`) || !strings.Contains(q.body, "confirmed-injection") {
		t.Fatalf("the queue: %d", q.status)
	}
	agent := b.get("/agents/support-bot")
	if !strings.Contains(agent.body, "Active incidents") || !strings.Contains(agent.body, `href="/incidents/`+f.incident+`"`) {
		t.Error("the agent page does not list its active incident")
	}
	p := b.get("/incidents/" + f.incident)
	for _, want := range []string{"confirmed injection-influenced action", "confirmed-injection", "any tool call influenced by injected content",
		`href="/records/i-4"`, `href="/records/i-3"`, "the tool result it carried tokens from", "suspend", `id="acknowledge-form"`, `id="resolve-form"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the incident page lacks %q", want)
		}
	}
	csrf := b.csrf()
	if p := b.post("/incidents/"+f.incident+"/resolve", url.Values{"csrf": {csrf}, "rootCause": {" "}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "<b>rootCause</b>") {
		t.Errorf("resolve without a root cause: got %d, want 400 naming rootCause", p.status)
	}
	if p := b.post("/incidents/"+f.incident+"/resolve", url.Values{"rootCause": {"no token"}}); p.status != http.StatusForbidden {
		t.Errorf("resolve without the csrf token: got %d, want 403", p.status)
	}
	if p := b.post("/incidents/"+f.incident+"/acknowledge", url.Values{"csrf": {csrf}, "note": {"on it"}}); p.status != http.StatusSeeOther {
		t.Fatalf("acknowledge: got %d", p.status)
	}
	if in, _ := f.admin.GetIncident(ctx, f.incident); in.Status != "acknowledged" {
		t.Fatalf("after acknowledging: %s", in.Status)
	}
	if p := b.post("/incidents/"+f.incident+"/acknowledge", url.Values{"csrf": {csrf}}); p.status != http.StatusConflict {
		t.Errorf("acknowledging twice: got %d, want 409", p.status)
	}
	cause := "fetch_url results reached the model unfiltered <script>alert(1)</script>"
	if p := b.post("/incidents/"+f.incident+"/resolve", url.Values{"csrf": {csrf}, "rootCause": {cause}}); p.status != http.StatusSeeOther {
		t.Fatalf("resolve: got %d", p.status)
	}
	p = b.get("/incidents/" + f.incident)
	if !strings.Contains(p.body, "unfiltered &lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(p.body, "still suspended") ||
		strings.Contains(p.body, `id="resolve-form"`) {
		t.Error("the resolved incident's page: no escaped root cause, no reactivation hint, or still a resolve form")
	}
	if in, _ := f.admin.GetIncident(ctx, f.incident); in.Status != "resolved" || in.RootCause != cause {
		t.Fatalf("after resolving: %s %q", in.Status, in.RootCause)
	}
	if p := b.post("/agents/support-bot/reactivate", url.Values{"csrf": {csrf}, "rootCause": {"fetched pages are now stripped of instructions"}}); p.status != http.StatusSeeOther {
		t.Fatalf("reactivate: got %d %s", p.status, p.body)
	}
	if a, _ := f.admin.GetAgent(ctx, "support-bot"); a.Status != probity.StatusActive {
		t.Errorf("support-bot after reactivation: %s", a.Status)
	}
	if p := b.get("/incidents"); strings.Contains(p.body, `href="/incidents/`+f.incident+`"`) {
		t.Error("the resolved incident is still in the active queue")
	}
	if p := b.get("/incidents?status=resolved"); !strings.Contains(p.body, `href="/incidents/`+f.incident+`"`) {
		t.Error("the resolved incident is not in the history")
	}
	for _, tc := range []struct{ path, field string }{
		{"/incidents?status=gone", "status"}, {"/incidents?severity=low", "severity"}, {"/incidents?rule=nope", "rule"},
		{"/incidents?agent=Bad_Id", "agent"}, {"/incidents/Bad_Id", "id"},
	} {
		if p := b.get(tc.path); p.status != http.StatusBadRequest || !strings.Contains(p.body, "<b>"+tc.field+"</b>") {
			t.Errorf("GET %s: got %d, want 400 naming %s", tc.path, p.status, tc.field)
		}
	}
	if p := b.get("/incidents/inc_999999"); p.status != http.StatusNotFound || b.get("/incidents/nope").status != http.StatusNotFound {
		t.Errorf("an unknown incident: got %d, want 404", p.status)
	}
}

// TestLedgerPage: the checkpoint verifies, and an entry's inclusion proof
// is checked on the server; a key that did not sign it fails visibly.
func TestLedgerPage(t *testing.T) {
	f := newFleet(t)
	b := signedIn(t, f.env.URL, f.readKey)
	for _, path := range []string{"/ledger?record=i-3", "/ledger?index=0"} {
		p := b.get(path)
		if p.status != 200 || !strings.Contains(p.body, "Signature verified") || !strings.Contains(p.body, `class="verdict good" id="verdict"`) {
			t.Errorf("GET %s: got %d without a verified proof", path, p.status)
		}
	}
	if p := b.get("/ledger?record=i-3"); !strings.Contains(p.body, "attacker-mail.example") {
		t.Error("the ledger page does not show the entry")
	}
	other := "probity/other+12345678+AZ4wsU+1rJEY8z0Ng3T8cYP6aZ9mHnVzQqvuuBiEdv1F" // some other Ed25519 note key
	p := b.get("/ledger?index=0&key=" + url.QueryEscape(other))
	if p.status != 200 || !strings.Contains(p.body, "Not verified") || strings.Contains(p.body, "Signature verified") {
		t.Errorf("a foreign verifier key: got %d, want the check to fail visibly", p.status)
	}
	for _, q := range []string{"index=-1", "index=99999999", "index=1&record=i-3", "index=x"} {
		if p := b.get("/ledger?" + q); p.status != http.StatusBadRequest || !strings.Contains(p.body, "<b>index</b>") {
			t.Errorf("GET /ledger?%s: got %d, want 400 naming index", q, p.status)
		}
	}
	if p := b.get("/ledger?record=nope"); p.status != http.StatusNotFound {
		t.Errorf("an unknown record: got %d, want 404", p.status)
	}
}

// TestRouting: the API keeps its paths beside the dashboard; static files
// are served; an unknown page is an HTML 404.
func TestRouting(t *testing.T) {
	env := apptest.Start(t)
	b := newBrowser(t, env.URL)
	if p := b.get("/healthz"); p.status != 200 || !strings.Contains(p.body, `"ok"`) {
		t.Errorf("/healthz: %d %s", p.status, p.body)
	}
	if p := b.get("/v1/agents"); p.status != 401 || !strings.Contains(p.header.Get("Content-Type"), "json") {
		t.Errorf("/v1/agents without a key: %d %s", p.status, p.header.Get("Content-Type"))
	}
	if p := b.get("/v1/nope"); p.status != 404 || !strings.Contains(p.body, `"not_found"`) {
		t.Errorf("/v1/nope: %d %s", p.status, p.body)
	}
	if p := b.get("/static/style.css"); p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") {
		t.Errorf("style.css: %d %s", p.status, p.header.Get("Content-Type"))
	}
	if p := b.get("/static/app.js"); p.status != 200 || !strings.Contains(p.header.Get("Content-Type"), "javascript") {
		t.Errorf("app.js: %d %s", p.status, p.header.Get("Content-Type"))
	}
	if p := b.get("/static/"); p.status != 404 {
		t.Errorf("the static directory: got %d, want 404", p.status)
	}
	if p := b.get("/nope"); p.status != 404 || !strings.Contains(p.header.Get("Content-Type"), "text/html") || p.header.Get("Content-Security-Policy") != wantCSP {
		t.Errorf("/nope: %d %s", p.status, p.header.Get("Content-Type"))
	}
}

func stores(t *testing.T, test func(t *testing.T, opts ...apptest.Option)) {
	t.Run("sqlite", func(t *testing.T) { test(t) })
	t.Run("postgres", func(t *testing.T) { test(t, apptest.WithPostgres(pgtest.TempDSN(t))) })
}

// TestBoardReportDownloads: the board report page offers every format, and
// each downloads as an attachment with the report's content; a PDF is a
// real PDF where Chromium is installed (CI installs it); a bad format or
// period is a 400 naming it.
func TestBoardReportDownloads(t *testing.T) {
	f := newFleet(t)
	b := signedIn(t, f.env.URL, f.readKey)
	if p := b.get("/reports"); p.status != 200 || !strings.Contains(p.body, `href="/reports/board?format=html"`) {
		t.Fatalf("GET /reports: %d\n%s", p.status, p.body)
	}
	for format, want := range map[string]string{"html": "Article 12", "md": "Article 12", "json": `"euAiAct"`} {
		p := b.get("/reports/board?format=" + format + "&days=7")
		if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment; filename=\"probity-board-report-") ||
			!strings.Contains(p.body, want) || !strings.Contains(p.body, "support-bot") {
			t.Errorf("the %s report: %d %q, %d bytes", format, p.status, p.header.Get("Content-Disposition"), len(p.body))
		}
	}
	p := b.get("/reports/board?format=pdf")
	switch {
	case p.status == 200:
		if !strings.HasPrefix(p.body, "%PDF-") || p.header.Get("Content-Type") != "application/pdf" {
			t.Errorf("the PDF report: %q, starts %q", p.header.Get("Content-Type"), p.body[:min(len(p.body), 8)])
		}
	case p.status == http.StatusServiceUnavailable && !inCI():
		t.Logf("no Chromium here: %s", p.body)
	default:
		t.Errorf("the PDF report: got %d", p.status)
	}
	for _, q := range []string{"format=docx", "days=0", "days=x"} {
		if p := b.get("/reports/board?" + q); p.status != http.StatusBadRequest {
			t.Errorf("GET /reports/board?%s: got %d, want 400", q, p.status)
		}
	}
}

// TestSessionsOutliveRestarts: sessions are kept in the store, so a
// restart signs nobody out, a second server on the same PostgreSQL
// database knows them too, and signing out ends them on every server.
func TestSessionsOutliveRestarts(t *testing.T) {
	t.Run("sqlite restart", func(t *testing.T) {
		env := apptest.Start(t)
		b := signedIn(t, env.URL, env.AdminKey)
		if err := env.Server.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		again := apptest.Start(t, apptest.WithDataDir(env.DataDir))
		b.base = again.URL
		if p := b.get("/"); p.status != 200 || !strings.Contains(p.body, "Fleet") {
			t.Fatalf("after a restart: got %d, want the fleet", p.status)
		}
	})
	t.Run("postgres replicas", func(t *testing.T) {
		dsn := pgtest.TempDSN(t)
		one := apptest.Start(t, apptest.WithPostgres(dsn))
		two := apptest.Start(t, apptest.WithPostgres(dsn))
		b := signedIn(t, one.URL, one.AdminKey)
		b.base = two.URL
		if p := b.get("/"); p.status != 200 {
			t.Fatalf("the session on the other replica: got %d, want 200", p.status)
		}
		token := b.csrf()
		if p := b.post("/signout", url.Values{"csrf": {token}}); p.status != http.StatusSeeOther {
			t.Fatalf("signing out on the other replica: %d", p.status)
		}
		b.base = one.URL
		if p := b.get("/"); p.status != http.StatusSeeOther {
			t.Errorf("after signing out on the other replica: got %d, want a redirect to sign-in", p.status)
		}
	})
}
