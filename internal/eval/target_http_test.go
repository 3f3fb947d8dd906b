package eval_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/eval"
)

// fakeAgent serves fn for each request, numbered from 1, with the raw body.
func fakeAgent(t *testing.T, fn func(n int, w http.ResponseWriter, r *http.Request, body []byte)) string {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fn(int(n.Add(1)), w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/chat"
}

func turns(ts ...string) *eval.Case {
	return &eval.Case{ID: "c", Setup: eval.Setup{System: "not sent", Turns: ts}}
}

func TestHTTPTarget(t *testing.T) {
	var got []map[string]any
	var headers []http.Header
	url := fakeAgent(t, func(n int, w http.ResponseWriter, r *http.Request, body []byte) {
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request %d is not JSON: %v: %s", n, err, body)
		}
		got, headers = append(got, req), append(headers, r.Header)
		in, _ := req["messages"].([]any)[0].(map[string]any)["content"].(string)
		fmt.Fprintf(w, `{"data":{"answers":[{"text":%q}]}}`, "echo: "+in)
	})
	target, err := eval.NewHTTP(eval.HTTPConfig{
		URL:     url,
		Body:    `{"messages":[{"role":"user","content":"{{input}}"}],"stream":false}`,
		Output:  "/data/answers/0/text",
		Headers: map[string]string{"Authorization": "Bearer k", "X-Agent": "a1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tricky := "say \"hi\"\nthen </script><script>alert(1)</script> & \\ done \u2028 é"
	tr, err := target.Run(t.Context(), turns("first turn", tricky))
	if err != nil {
		t.Fatal(err)
	}
	// Each turn is its own request, without history, and comes back intact.
	if len(got) != 2 {
		t.Fatalf("got %d requests, want 2", len(got))
	}
	for i, want := range []string{"first turn", tricky} {
		msgs := got[i]["messages"].([]any)
		if c := msgs[0].(map[string]any)["content"]; len(msgs) != 1 || c != want {
			t.Errorf("request %d: got messages %v, want one user turn %q", i, msgs, want)
		}
		if got[i]["stream"] != false {
			t.Errorf("request %d: got %v, want the template's other fields kept", i, got[i])
		}
		if h := headers[i]; h.Get("Authorization") != "Bearer k" || h.Get("X-Agent") != "a1" || h.Get("Content-Type") != "application/json" {
			t.Errorf("request %d headers: %v", i, h)
		}
	}
	wantMsgs := []eval.Message{
		{Role: "user", Content: "first turn"}, {Role: "assistant", Content: "echo: first turn"},
		{Role: "user", Content: tricky}, {Role: "assistant", Content: "echo: " + tricky},
	}
	if fmt.Sprint(tr.Messages) != fmt.Sprint(wantMsgs) {
		t.Errorf("messages: got %q, want %q", tr.Messages, wantMsgs)
	}
	if want := "echo: first turn\necho: " + tricky; tr.Output != want || tr.LatencyMs <= 0 {
		t.Errorf("output: got %q (latency %v), want %q", tr.Output, tr.LatencyMs, want)
	}
}

// The raw body never carries the input's markup unescaped.
func TestHTTPTargetEscapesInput(t *testing.T) {
	var raw string
	url := fakeAgent(t, func(_ int, w http.ResponseWriter, _ *http.Request, body []byte) {
		raw = string(body)
		fmt.Fprint(w, `{"output":"ok"}`)
	})
	target, err := eval.NewHTTP(eval.HTTPConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := target.Run(t.Context(), turns("a \"quote\"\n</script>")); err != nil {
		t.Fatal(err)
	}
	if want := `{"input":"a \"quote\"\n\u003c/script\u003e"}`; raw != want {
		t.Errorf("body: got %s, want %s", raw, want)
	}
}

func TestHTTPTargetOutput(t *testing.T) {
	for _, tc := range []struct {
		name, pointer, answer string
		want                  string // the output, or the error's text
		err                   bool
	}{
		{"string", "/output", `{"output":"hello"}`, "hello", false},
		{"escaped pointer", "/a~1b/m~0n", `{"a/b":{"m~n":"deep"}}`, "deep", false},
		{"array index", "/choices/1", `{"choices":["x","y"]}`, "y", false},
		{"number kept as JSON", "/n", `{"n":1.50}`, "1.50", false},
		{"object kept as JSON", "/o", `{"o":{"k":[1,true]}}`, `{"k":[1,true]}`, false},
		{"missing", "/output", `{"answer":"hello"}`, "nothing at /output", true},
		{"through a string", "/output/x", `{"output":"hello"}`, "nothing at /output/x", true},
		{"index out of range", "/choices/2", `{"choices":["x","y"]}`, "nothing at /choices/2", true},
		{"leading zero", "/choices/01", `{"choices":["x","y"]}`, "nothing at /choices/01", true},
		{"null", "/output", `{"output":null}`, "null at /output", true},
		{"not JSON", "/output", `<html>oops</html>`, "not JSON", true},
		{"two values", "/output", `{"output":"a"} {"output":"b"}`, "not one JSON value", true},
		{"empty", "/output", ``, "not JSON", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := fakeAgent(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) { fmt.Fprint(w, tc.answer) })
			target, err := eval.NewHTTP(eval.HTTPConfig{URL: url, Output: tc.pointer})
			if err != nil {
				t.Fatal(err)
			}
			tr, err := target.Run(t.Context(), turns("x"))
			switch {
			case tc.err && (!errors.Is(err, eval.ErrTarget) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want ErrTarget mentioning %q", err, tc.want)
			case !tc.err && (err != nil || tr.Output != tc.want):
				t.Errorf("got %v, %q, want %q", err, tr.Output, tc.want)
			}
		})
	}
}

func TestHTTPTargetRetries(t *testing.T) {
	url := fakeAgent(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		switch n {
		case 1, 2:
			w.WriteHeader(503)
		case 3:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		default:
			fmt.Fprint(w, `{"output":"finally"}`)
		}
	})
	target, _ := eval.NewHTTP(eval.HTTPConfig{URL: url, Retries: 3})
	tr, err := target.Run(t.Context(), turns("x"))
	if err != nil || tr.Output != "finally" {
		t.Errorf("after retries: got %v, %+v", err, tr)
	}

	for _, tc := range []struct {
		name string
		fn   func(n int, w http.ResponseWriter, r *http.Request, body []byte)
		want string
		n    int // requests the target makes
	}{
		{"always 502", func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(502) }, "status 502", 2},
		{"400 is not retried", func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(400) }, "status 400", 1},
		{"garbage is not retried", func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) { fmt.Fprint(w, "oops") }, "not JSON", 1},
		{"hangs", func(int, http.ResponseWriter, *http.Request, []byte) { time.Sleep(300 * time.Millisecond) }, "deadline", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			url := fakeAgent(t, func(i int, w http.ResponseWriter, r *http.Request, body []byte) {
				n.Add(1)
				tc.fn(i, w, r, body)
			})
			target, _ := eval.NewHTTP(eval.HTTPConfig{URL: url, Retries: 1, Timeout: 200 * time.Millisecond})
			_, err := target.Run(t.Context(), turns("x"))
			if !errors.Is(err, eval.ErrTarget) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrTarget mentioning %q", err, tc.want)
			}
			if int(n.Load()) != tc.n {
				t.Errorf("got %d requests, want %d", n.Load(), tc.n)
			}
			// Through Run, such a case is an error, never a pass.
			c := turns("x")
			c.Checks = mustChecks(t, "- not_contains: anything")
			res, _ := eval.Run(t.Context(), target, []eval.Item{{Suite: "s", Case: c}}, eval.RunOptions{})
			if res[0].Grade.Status != eval.StatusError || res[0].Error == "" {
				t.Errorf("graded %s (error %q), want error", res[0].Grade.Status, res[0].Error)
			}
		})
	}
}

// Cases the target cannot play faithfully are errors before any request.
func TestHTTPTargetRefusesToolsAndCanaries(t *testing.T) {
	var n atomic.Int64
	url := fakeAgent(t, func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		n.Add(1)
		fmt.Fprint(w, `{"output":"ok"}`)
	})
	target, _ := eval.NewHTTP(eval.HTTPConfig{URL: url})
	withTools := &suite(t, toolSuite).Cases[0]
	withCanary := turns("x")
	withCanary.Setup.Canaries = []string{"CANARY-123"}
	for _, c := range []*eval.Case{withTools, withCanary} {
		if _, err := target.Run(t.Context(), c); !errors.Is(err, eval.ErrTarget) {
			t.Errorf("%+v: got %v, want ErrTarget", c.Setup, err)
		}
	}
	if n.Load() != 0 {
		t.Errorf("got %d requests, want none", n.Load())
	}
}

func TestNewHTTPValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  eval.HTTPConfig
		want string // "" for valid
	}{
		{"defaults", eval.HTTPConfig{URL: "http://a/chat"}, ""},
		{"nested", eval.HTTPConfig{URL: "https://a", Body: `{"a":[{"b":"pre {{input}} post"}],"n":1}`}, ""},
		{"bare string body", eval.HTTPConfig{URL: "https://a", Body: `"{{input}}"`}, ""},
		{"no scheme", eval.HTTPConfig{URL: "a.example/chat"}, "http:// or https://"},
		{"no placeholder", eval.HTTPConfig{URL: "http://a", Body: `{"input":"x"}`}, "found none"},
		{"twice", eval.HTTPConfig{URL: "http://a", Body: `{"a":"{{input}}","b":"{{input}}"}`}, "2 times"},
		{"outside a string", eval.HTTPConfig{URL: "http://a", Body: `{"input":{{input}}}`}, "inside a JSON string"},
		{"after an escaped quote", eval.HTTPConfig{URL: "http://a", Body: `{"input":"a\"",{{input}}}`}, "inside a JSON string"},
		{"after a backslash", eval.HTTPConfig{URL: "http://a", Body: `{"input":"\{{input}}"}`}, "not valid JSON"},
		{"invalid JSON", eval.HTTPConfig{URL: "http://a", Body: `{"input":"{{input}}",}`}, "not valid JSON"},
		{"pointer without slash", eval.HTTPConfig{URL: "http://a", Output: "output"}, "starting with /"},
		{"bad pointer escape", eval.HTTPConfig{URL: "http://a", Output: "/a~2"}, "'~' must be followed"},
		{"bad header", eval.HTTPConfig{URL: "http://a", Headers: map[string]string{"X Bad": "v"}}, "not a header name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eval.NewHTTP(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// mustChecks parses a YAML list of checks through a one-case suite.
func mustChecks(t *testing.T, checks string) []eval.Check {
	t.Helper()
	src := "apiVersion: probity/v1\nkind: Suite\nid: s\ndimensions: [accuracy]\ncases:\n  - id: c\n    setup: {turns: [x]}\n    checks:\n" +
		indent(checks, "      ")
	return suite(t, src).Cases[0].Checks
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
