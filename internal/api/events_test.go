package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

func event(id, agent, typ string, at time.Time, extra string) string {
	e := fmt.Sprintf(`{"id":%q,"agentId":%q,"sessionId":"s1","time":%q,"type":%q`, id, agent, at.Format(time.RFC3339Nano), typ)
	if extra != "" {
		e += "," + extra
	}
	return e + "}"
}

func batch(events ...string) string { return `{"events":[` + strings.Join(events, ",") + `]}` }

func TestEventsIngest(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	body := batch(
		event("e1", f.agentID, "user_input", at, `"content":"refund order 42"`),
		event("e2", f.agentID, "tool_call", at.Add(time.Second), `"tool":{"name":"refund","arguments":{"order":42}}`),
		event("e3", f.agentID, "tool_result", at.Add(2*time.Second), `"tool":{"name":"refund","result":"ok"},"latencyMs":12.5,"outcome":"success"`),
		event("e2", f.agentID, "tool_call", at.Add(time.Second), `"tool":{"name":"refund","arguments":{"order":42}}`), // same id in the batch
	)
	got := f.must(200, "POST", "/v1/events", f.ingest, body)
	if got["accepted"] != 3.0 || got["duplicates"] != 1.0 {
		t.Fatalf("first batch: got %v, want 3 accepted, 1 duplicate", got)
	}
	if v, ok := got["violations"].([]any); !ok || len(v) != 0 {
		t.Errorf("violations: got %v, want []", got["violations"])
	}
	// A retry of the same batch stores nothing twice.
	got = f.must(200, "POST", "/v1/events", f.ingest, body)
	if got["accepted"] != 0.0 || got["duplicates"] != 4.0 {
		t.Fatalf("retried batch: got %v, want 0 accepted, 4 duplicates", got)
	}

	// The same id with other content is a conflict: reported, not stored,
	// and the first record stands.
	forged := batch(event("e2", f.agentID, "tool_call", at.Add(time.Second), `"tool":{"name":"refund","arguments":{"order":43}}`))
	got = f.must(200, "POST", "/v1/events", f.ingest, forged)
	if got["accepted"] != 0.0 || got["duplicates"] != 0.0 || got["conflicts"] != 1.0 {
		t.Fatalf("reused id: got %v, want 1 conflict", got)
	}
	if ids, _ := got["conflictIds"].([]any); len(ids) != 1 || ids[0] != "e2" {
		t.Errorf("conflict ids: got %v, want [e2]", got["conflictIds"])
	}
	later := at.Add(time.Hour) // sorts after the others
	inBatch := batch(event("e9", f.agentID, "user_input", later, `"content":"a"`), event("e9", f.agentID, "user_input", later, `"content":"b"`))
	if got = f.must(200, "POST", "/v1/events", f.ingest, inBatch); got["accepted"] != 1.0 || got["conflicts"] != 1.0 {
		t.Errorf("reused id within a batch: got %v, want 1 accepted, 1 conflict", got)
	}

	recs := f.must(200, "GET", "/v1/agents/"+f.agentID+"/records", f.read, nil)["items"].([]any)
	if len(recs) != 4 {
		t.Fatalf("records: got %d, want 4", len(recs))
	}
	if last := recs[3].(map[string]any); last["id"] != "e9" || last["content"] != "a" {
		t.Errorf("the first e9 stands: got %v", last)
	}
	recs = recs[:3]
	var idx []float64
	for _, r := range recs {
		idx = append(idx, r.(map[string]any)["ledgerIndex"].(float64))
	}
	if idx[1] != idx[0]+1 || idx[2] != idx[1]+1 {
		t.Errorf("ledger indexes: got %v, want consecutive", idx)
	}
	r1 := recs[1].(map[string]any)
	if args, _ := json.Marshal(r1["tool"].(map[string]any)["arguments"]); string(args) != `{"order":42}` {
		t.Errorf("tool arguments: got %s", args)
	}
	if recs[2].(map[string]any)["latencyMs"] != 12.5 {
		t.Errorf("latency: got %v", recs[2].(map[string]any)["latencyMs"])
	}

	// Filters: type, session, time window, and paging.
	q := func(params string) []any {
		return f.must(200, "GET", "/v1/agents/"+f.agentID+"/records?"+params, f.read, nil)["items"].([]any)
	}
	if n := len(q("type=tool_call")); n != 1 {
		t.Errorf("type filter: got %d, want 1", n)
	}
	if n := len(q("session=other")); n != 0 {
		t.Errorf("session filter: got %d, want 0", n)
	}
	if n := len(q("from=" + url.QueryEscape(at.Add(time.Second).Format(time.RFC3339)) + "&to=" + url.QueryEscape(at.Add(2*time.Second).Format(time.RFC3339)))); n != 1 {
		t.Errorf("time window: got %d, want 1", n)
	}
	first := f.must(200, "GET", "/v1/agents/"+f.agentID+"/records?limit=2", f.read, nil)
	cur, _ := first["nextCursor"].(string)
	if len(first["items"].([]any)) != 2 || cur == "" {
		t.Fatalf("first page: got %v", first)
	}
	rest := f.must(200, "GET", "/v1/agents/"+f.agentID+"/records?limit=2&cursor="+cur, f.read, nil)
	if items := rest["items"].([]any); len(items) != 2 || items[0].(map[string]any)["id"] != "e3" || rest["nextCursor"] != nil {
		t.Errorf("second page: got %v", rest)
	}
	for _, bad := range []struct{ params, field string }{
		{"type=nap", "type"}, {"from=yesterday", "from"}, {"cursor=bm9wZQ", "cursor"},
	} {
		r := f.do("GET", "/v1/agents/"+f.agentID+"/records?"+bad.params, f.read, nil)
		if _, field := r.errorOf(t); r.status != 400 || field != bad.field {
			t.Errorf("%s: got %d field %q, want 400 %q", bad.params, r.status, field, bad.field)
		}
	}
}

// TestEventsAllOrNothing sends batches with invalid events: the answer lists
// every one of them and nothing is stored.
func TestEventsAllOrNothing(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	good := event("ok-1", f.agentID, "user_input", at, `"content":"hi"`)
	for _, tc := range []struct {
		name   string
		bad    string
		fields []string
	}{
		{"unknown agent", event("x", "ghost", "user_input", at, ""), []string{"agentId"}},
		{"another org's agent", event("x", f.otherAgent, "user_input", at, ""), []string{"agentId"}},
		{"no id", event("", f.agentID, "user_input", at, ""), []string{"id"}},
		{"bad type", event("x", f.agentID, "nap", at, ""), []string{"type"}},
		{"tool call without tool", event("x", f.agentID, "tool_call", at, ""), []string{"tool.name"}},
		{"time out of range", event("x", f.agentID, "user_input", time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), ""), []string{"time"}},
		{"time in the future", event("x", f.agentID, "user_input", time.Now().Add(72*time.Hour), ""), []string{"time"}},
		{"unknown field", event("x", f.agentID, "user_input", at, `"colour":"red"`), []string{"colour"}},
		{"wrong type", event("x", f.agentID, "user_input", at, `"latencyMs":"fast"`), []string{"latencyMs"}},
		{"bad outcome", event("x", f.agentID, "user_input", at, `"outcome":"meh"`), []string{"outcome"}},
		{"oversized content", event("x", f.agentID, "user_input", at, `"content":"`+strings.Repeat("a", 300<<10)+`"`), []string{"content"}},
		{"two problems", event("", "ghost", "nap", at, ""), []string{"id", "agentId", "type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := client{t, f.env.URL}
			r := cl.do("POST", "/v1/events", f.ingest, batch(good, tc.bad))
			if r.status != 400 {
				t.Fatalf("got %d, want 400: %s", r.status, r.body)
			}
			var e struct {
				Error struct {
					Details []struct {
						Index int
						Field string
					}
				}
			}
			json.Unmarshal(r.body, &e)
			var got []string
			for _, d := range e.Error.Details {
				if d.Index != 1 {
					t.Errorf("detail for event %d, want only event 1", d.Index)
				}
				got = append(got, d.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") && !sameSet(got, tc.fields) {
				t.Errorf("fields: got %v, want %v", got, tc.fields)
			}
		})
	}
	if recs := f.must(200, "GET", "/v1/agents/"+f.agentID+"/records", f.read, nil)["items"].([]any); len(recs) != 0 {
		t.Errorf("records after rejected batches: got %d, want 0", len(recs))
	}

	big := make([]string, 10001)
	for i := range big {
		big[i] = `{}`
	}
	if r := f.do("POST", "/v1/events", f.ingest, `{"events":[`+strings.Join(big, ",")+`]}`); r.status != 413 {
		t.Errorf("10,001 events: got %d, want 413", r.status)
	}
	if r := f.do("POST", "/v1/events", f.ingest, `{"events":[]}`); r.status != 400 {
		t.Errorf("empty batch: got %d, want 400", r.status)
	}
	huge := `{"events":[` + event("h", f.agentID, "user_input", at, `"content":"`+strings.Repeat("a", 11<<20)+`"`) + `]}`
	if r := f.do("POST", "/v1/events", f.ingest, huge); r.status != 413 {
		t.Errorf("11 MiB batch: got %d, want 413", r.status)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestInventoryMonitored: records in the last 24 hours make an agent
// monitored, which narrows its gap; older records do not.
func TestInventoryMonitored(t *testing.T) {
	f := newFixture(t)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "watched", "access": map[string]any{"production": true}})
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "stale", "access": map[string]any{"production": true}})
	now := time.Now().UTC()
	f.must(200, "POST", "/v1/events", f.ingest, batch(
		event("w1", "watched", "user_input", now.Add(-time.Hour), ""),
		event("s1", "stale", "user_input", now.Add(-48*time.Hour), "")))
	got := map[string]map[string]any{}
	for _, it := range f.must(200, "GET", "/v1/inventory", f.read, nil)["items"].([]any) {
		it := it.(map[string]any)
		got[it["agentId"].(string)] = it
	}
	w, s := got["watched"], got["stale"]
	if w["verification"].(map[string]any)["monitored24h"] != true || w["verified"] != 25.0 || w["gap"] != 15.0 {
		t.Errorf("watched: got verification %v verified %v gap %v, want monitored, 25, 15", w["verification"], w["verified"], w["gap"])
	}
	if s["verification"].(map[string]any)["monitored24h"] != false || s["gap"] != 20.0 {
		t.Errorf("stale: got verification %v gap %v, want not monitored, 20", s["verification"], s["gap"])
	}
}

// TestBadFiltersOnBothStores sends filters and cursors that no store can
// compare (NUL, invalid UTF-8, times out of range): each is a 400 naming
// the parameter, on SQLite and on PostgreSQL alike, never a 500.
func TestBadFiltersOnBothStores(t *testing.T) {
	for name, opts := range map[string][]apptest.Option{
		"sqlite":   nil,
		"postgres": {apptest.WithPostgres(pgtest.TempDSN(t))},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, opts...)
			for _, tc := range []struct{ path, field string }{
				{"/v1/agents/" + f.agentID + "/records?session=%00", "session"},
				{"/v1/agents/" + f.agentID + "/records?session=%ff", "session"},
				{"/v1/agents/" + f.agentID + "/records?cursor=" + cursorOf("-9000000000000000000/0"), "cursor"},
				{"/v1/audit?action=%00", "action"},
				{"/v1/audit?target=%ff", "target"},
				{"/v1/ledger/proof?recordId=%ff", "recordId"},
				{"/v1/agents?cursor=AA", "cursor"},
				{"/v1/api-keys?cursor=_w", "cursor"},
			} {
				r := f.do("GET", tc.path, f.admin, nil)
				if r.status != 400 {
					t.Errorf("%s: got %d, want 400: %s", tc.path, r.status, r.body)
					continue
				}
				if _, field := r.errorOf(t); field != tc.field {
					t.Errorf("%s: got field %q, want %q", tc.path, field, tc.field)
				}
			}
		})
	}
}

func cursorOf(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestPagesAreBoundedByBytes stores records of 200 KB: a page ends at about
// 4 MiB with a cursor, and following the cursors still yields every record.
func TestPagesAreBoundedByBytes(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	big := strings.Repeat("x", 200<<10)
	var evs []string
	for i := range 30 {
		evs = append(evs, event(fmt.Sprintf("big-%02d", i), f.agentID, "model_output", at.Add(time.Duration(i)*time.Second), `"content":"`+big+`"`))
	}
	f.must(200, "POST", "/v1/events", f.ingest, batch(evs...))
	seen, pages, cursor := 0, 0, ""
	for {
		path := "/v1/agents/" + f.agentID + "/records?limit=1000"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := f.do("GET", path, f.read, nil)
		if len(r.body) > 5<<20 {
			t.Fatalf("a page of %d bytes, want at most about 4 MiB", len(r.body))
		}
		page := r.json(t)
		seen += len(page["items"].([]any))
		pages++
		next, _ := page["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if seen != 30 || pages < 2 {
		t.Errorf("got %d records in %d pages, want 30 in several", seen, pages)
	}
	var rng struct{ Entries []json.RawMessage }
	json.Unmarshal(f.must200raw("GET", "/v1/ledger/entries?from=0&limit=1000", f.read), &rng)
	if n := len(rng.Entries); n == 0 || n >= 30 {
		t.Errorf("a range of large entries: got %d, want it cut short of 30 by size", n)
	}
}
