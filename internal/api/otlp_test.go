package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/otlp"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/sqlite"
)

// errorSink collects what the OTel SDK reports through its error handler,
// which is where an exporter puts a partialSuccess.
type errorSink struct {
	mu   sync.Mutex
	errs []string
}

func (s *errorSink) Handle(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err.Error())
}

// TestOTLPExporterEndToEnd points the official OTel Go SDK exporter at the
// server, configured the way docs/otlp.md tells a user to, and finds the
// agent's tool call, its result and a model output among the records.
func TestOTLPExporterEndToEnd(t *testing.T) {
	f := newFixture(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f.env.URL+"/otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20"+f.ingest)
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	sink := &errorSink{}
	otel.SetErrorHandler(sink)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(ctx)
	tr := tp.Tracer("agent-under-test")

	ctx, agentSpan := tr.Start(ctx, "invoke_agent support", withAttrs(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.id", f.agentID),
		attribute.String("gen_ai.conversation.id", "conv-42")))
	_, tool := tr.Start(ctx, "execute_tool refund", withAttrs(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.agent.id", f.agentID),
		attribute.String("gen_ai.conversation.id", "conv-42"),
		attribute.String("gen_ai.tool.name", "refund"),
		attribute.String("gen_ai.tool.call.arguments", `{"order":42,"amount":"19.90"}`),
		attribute.String("gen_ai.tool.call.result", `{"status":"refunded"}`)))
	tool.End()
	_, chat := tr.Start(ctx, "chat model", withAttrs(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.agent.id", f.agentID),
		attribute.String("gen_ai.conversation.id", "conv-42"),
		attribute.String("gen_ai.response.model", "acme-large-2026-01"),
		attribute.String("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"text","content":"Your refund is on its way."}]}]`)))
	chat.End()
	_, ghost := tr.Start(ctx, "execute_tool wire", withAttrs(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.agent.id", "unregistered-bot"),
		attribute.String("gen_ai.tool.name", "wire")))
	ghost.SetStatus(codes.Error, "boom")
	ghost.End()
	agentSpan.End()
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("export: %v", err)
	}

	recs := f.must(200, "GET", "/v1/agents/"+f.agentID+"/records?session=conv-42", f.read, nil)["items"].([]any)
	byType := map[string]map[string]any{}
	for _, r := range recs {
		r := r.(map[string]any)
		byType[r["type"].(string)] = r
	}
	call := byType["tool_call"]
	if call == nil {
		t.Fatalf("no tool_call among %d records: %v", len(recs), recs)
	}
	if args, _ := json.Marshal(call["tool"].(map[string]any)["arguments"]); string(args) != `{"amount":"19.90","order":42}` {
		t.Errorf("tool call arguments: got %s", args)
	}
	if byType["tool_result"] == nil || byType["model_output"] == nil || byType["session_start"] == nil {
		t.Errorf("records by type: got %v, want tool_call, tool_result, model_output, session_start", keysOf(byType))
	}
	if m, _ := byType["model_output"]["model"].(map[string]any); m["version"] != "acme-large-2026-01" {
		t.Errorf("model version: got %v", byType["model_output"]["model"])
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !strings.Contains(strings.Join(sink.errs, "\n"), "unregistered-bot") {
		t.Errorf("the exporter was not told about the rejected span: %v", sink.errs)
	}
}

func withAttrs(kv ...attribute.KeyValue) trace.SpanStartOption { return trace.WithAttributes(kv...) }

func keysOf(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestOTLPRaw checks the receiver's answers to hand-made requests: JSON and
// gzip bodies, retries, and errors as google.rpc.Status.
func TestOTLPRaw(t *testing.T) {
	f := newFixture(t)
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"gen_ai.agent.id","value":{"stringValue":"` + f.agentID + `"}}]},
	 "scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"execute_tool lookup",
	  "startTimeUnixNano":"1764100000000000000","endTimeUnixNano":"1764100000250000000",
	  "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},
	   {"key":"gen_ai.tool.name","value":{"stringValue":"lookup"}},
	   {"key":"gen_ai.tool.call.arguments","value":{"stringValue":"{\"q\":\"x\"}"}}]}]}]}]}`
	for range 2 { // the second time is a retry: nothing new is stored
		r := f.do("POST", "/otlp/v1/traces", f.ingest, body)
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("JSON export: got %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	recs := f.must(200, "GET", "/v1/agents/"+f.agentID+"/records?type=tool_call", f.read, nil)["items"].([]any)
	if len(recs) != 1 {
		t.Fatalf("tool calls after an export and its retry: got %d, want 1", len(recs))
	}

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Replace(body, "EEE19B7EC3C1B174", "AAA19B7EC3C1B174", 1)))
	zw.Close()
	r := f.do("POST", "/otlp/v1/traces", f.ingest, gz.Bytes(), "Content-Encoding", "gzip")
	if r.status != 200 {
		t.Fatalf("gzip export: got %d %s", r.status, r.body)
	}

	for _, tc := range []struct {
		name, ct, enc, body string
		status              int
	}{
		{"broken protobuf", "application/x-protobuf", "", "\xff\xff\xff", 400},
		{"broken JSON", "application/json", "", `{"resourceSpans":[`, 400},
		{"wrong content type", "text/plain", "", body, 415},
		{"not gzip", "application/json", "gzip", body, 400},
		{"unknown encoding", "application/json", "br", body, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := client{t, f.env.URL}
			hdr := []string{"Content-Type", tc.ct}
			if tc.enc != "" {
				hdr = append(hdr, "Content-Encoding", tc.enc)
			}
			r := cl.do("POST", "/otlp/v1/traces", f.ingest, tc.body, hdr...)
			if r.status != tc.status {
				t.Fatalf("got %d, want %d: %s", r.status, tc.status, r.body)
			}
			var st rpcstatus.Status
			if tc.ct != "application/json" { // unknown types get protobuf, the OTLP default
				if err := proto.Unmarshal(r.body, &st); err != nil || st.Message == "" {
					t.Errorf("error body is not a google.rpc.Status: %v %q", err, r.body)
				}
			} else if !strings.Contains(string(r.body), `"message"`) {
				t.Errorf("error body: %s", r.body)
			}
		})
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes()
}

// emptyValues is an OTLP/protobuf export whose one attribute is an array of
// n empty values, two bytes each: a small gzip body that would decode to
// gigabytes of Go values.
func emptyValues(n int) []byte {
	wrap := func(num protowire.Number, b []byte, before ...byte) []byte {
		out := protowire.AppendTag(append([]byte(nil), before...), num, protowire.BytesType)
		return protowire.AppendBytes(out, b)
	}
	array := bytes.Repeat([]byte{0x0a, 0x00}, n)   // ArrayValue.values
	kv := wrap(2, wrap(5, array), 0x0a, 0x01, 'k') // KeyValue{key: "k", value: AnyValue{array_value}}
	return wrap(1, wrap(2, wrap(2, wrap(9, kv))))  // request.resource_spans.scope_spans.spans.attributes
}

// TestOTLPInflationLimits checks the bounds on what a small gzip body may
// become: 16 MiB of bytes, and otlp.MaxElements values.
func TestOTLPInflationLimits(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"inflates past 16 MiB", make([]byte, 16<<20+1), 413, "inflates to at most 16777216 bytes"},
		{"too many values", emptyValues(otlp.MaxElements + 1), 400, "elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := gzipped(t, tc.body)
			r := f.do("POST", "/otlp/v1/traces", f.ingest, body, "Content-Type", "application/x-protobuf", "Content-Encoding", "gzip")
			var st rpcstatus.Status
			if err := proto.Unmarshal(r.body, &st); err != nil {
				t.Fatalf("error body is not a google.rpc.Status: %v %q", err, r.body)
			}
			if r.status != tc.status || !strings.Contains(st.Message, tc.want) {
				t.Fatalf("%d-byte gzip body: got %d %q, want %d and a message with %q", len(body), r.status, st.Message, tc.status, tc.want)
			}
		})
	}
}

// TestOTLPLogsServerErrors checks that a 5xx answered to an exporter is
// logged with its route, and still answered as a google.rpc.Status.
func TestOTLPLogsServerErrors(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "otlp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := &failingStore{Store: db}
	var logs syncBuffer
	s, err := api.New(api.Options{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Config: api.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	key, err := app.CreateOrg(ctx, db, "acme")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	cl := client{t, srv.URL}
	if r := cl.do("POST", "/otlp/v1/traces", key, "{}"); r.status != 200 { // caches the key
		t.Fatalf("empty export: got %d %s", r.status, r.body)
	}
	st.fail.Store(true)

	body := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
	  "name":"invoke_agent","startTimeUnixNano":"` + strconv.FormatInt(time.Now().UnixNano(), 10) + `",
	  "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}},{"key":"gen_ai.agent.id","value":{"stringValue":"bot"}}]}]}]}]}`
	r := cl.do("POST", "/otlp/v1/traces", key, body)
	if r.status != 500 || !strings.Contains(string(r.body), `"code":13`) {
		t.Fatalf("got %d %s, want 500 and a google.rpc.Status with code 13", r.status, r.body)
	}
	if got := logs.String(); !strings.Contains(got, `route="POST /otlp/v1/traces"`) || !strings.Contains(got, "disk on fire") {
		t.Errorf("got logs %q, want an error with the route", got)
	}
}

// failingStore fails every View once fail is set.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

func (s *failingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	if s.fail.Load() {
		return errors.New("disk on fire")
	}
	return s.Store.View(ctx, fn)
}

// syncBuffer is a bytes.Buffer the server's goroutines may write to while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
