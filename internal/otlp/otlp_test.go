package otlp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/otlp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// now is when the test requests are mapped: a few hours after their spans.
var now = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)

// outcome is what a golden file holds: Decode's error, or what Map made.
type outcome struct {
	Error    string            `json:"error,omitempty"`
	Rejected int64             `json:"rejected"`
	Message  string            `json:"message,omitempty"`
	Records  []json.RawMessage `json:"records"`
}

// run decodes body and maps it, checking on the way that every record
// validates and has canonical bytes, which are what the golden file shows.
func run(t testing.TB, contentType string, body []byte) []byte {
	t.Helper()
	var out outcome
	req, err := otlp.Decode(contentType, body)
	if err != nil {
		if !errors.Is(err, probity.ErrInvalid) {
			t.Errorf("Decode error %v is not ErrInvalid", err)
		}
		// protobuf-go varies the space after "proto:" from build to build,
		// to keep callers from matching its messages.
		out.Error = strings.ReplaceAll(err.Error(), "\u00a0", " ")
	} else {
		recs, rejected, msg := otlp.Map(req, now)
		out.Rejected, out.Message = rejected, msg
		out.Records = []json.RawMessage{}
		for _, r := range recs {
			if errs := r.Validate(now); len(errs) > 0 {
				t.Errorf("record %s: got validation errors %v, want none", r.ID, errs)
			}
			c, err := r.Canonical()
			if err != nil {
				t.Fatalf("record %s: Canonical: %v", r.ID, err)
			}
			out.Records = append(out.Records, c)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func requestFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/requests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test requests: %v", err)
	}
	return files
}

// TestGolden maps each request in testdata/requests and compares the result
// with testdata/golden. Run with -update to rewrite the golden files.
func TestGolden(t *testing.T) {
	for _, file := range requestFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, otlp.ContentTypeJSON, body)
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestProtobufRoundTrip encodes each decodable test request as protobuf and
// checks that Decode reads back the same request, which maps to the same
// records.
func TestProtobufRoundTrip(t *testing.T) {
	for _, file := range requestFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			req, err := otlp.Decode(otlp.ContentTypeJSON, body)
			if err != nil {
				t.Skip("not a valid request")
			}
			pb, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			back, err := otlp.Decode(otlp.ContentTypeProtobuf, pb)
			if err != nil {
				t.Fatalf("Decode(protobuf): %v", err)
			}
			if !proto.Equal(req, back) {
				t.Errorf("got %v, want %v", back, req)
			}
			if got, want := run(t, otlp.ContentTypeProtobuf, pb), run(t, otlp.ContentTypeJSON, body); !bytes.Equal(got, want) {
				t.Errorf("protobuf maps to\n%s\nJSON to\n%s", got, want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	oneSpan := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}`
	pb, err := proto.Marshal(mustDecode(t, otlp.ContentTypeJSON, oneSpan))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, contentType, body string
		spans                   int
		err                     error // nil, ErrContentType or ErrInvalid
	}{
		{"json", "application/json", oneSpan, 1, nil},
		{"json with parameters", "Application/JSON; charset=utf-8", oneSpan, 1, nil},
		{"protobuf", "application/x-protobuf", string(pb), 1, nil},
		{"empty json body", "application/json", " \n", 0, nil},
		{"empty object", "application/json", "{}", 0, nil},
		{"empty protobuf body", "application/x-protobuf", "", 0, nil},
		{"unknown fields ignored", "application/json", `{"resourceSpans":[{"futureField":1,"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","newThing":{"a":1}}]}]}],"x":2}`, 1, nil},
		{"proto field names", "application/json", `{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174"}]}]}]}`, 1, nil},
		{"text/plain", "text/plain", oneSpan, 0, otlp.ErrContentType},
		{"no content type", "", oneSpan, 0, otlp.ErrContentType},
		{"gRPC", "application/grpc", string(pb), 0, otlp.ErrContentType},
		{"protobuf mislabelled as JSON", "application/json", string(pb), 0, probity.ErrInvalid},
		{"JSON mislabelled as protobuf", "application/x-protobuf", oneSpan, 0, probity.ErrInvalid},
		{"trailing data", "application/json", "{} {}", 0, probity.ErrInvalid},
		{"not an object", "application/json", "[1,2]", 0, probity.ErrInvalid},
		{"enum by name", "application/json", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SERVER"}]}]}]}`, 1, nil},
		{"bad field type", "application/json", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":true}]}]}]}`, 0, probity.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := otlp.Decode(tt.contentType, []byte(tt.body))
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("got error %v, want %v", err, tt.err)
			case err != nil && !errors.Is(err, probity.ErrInvalid):
				t.Fatalf("got error %v, want an ErrInvalid", err)
			case err == nil:
				if got := countSpans(req); got != tt.spans {
					t.Errorf("got %d spans, want %d", got, tt.spans)
				}
			}
		})
	}
}

func TestDecodeIDs(t *testing.T) {
	const traceHex, spanHex = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
	for _, tt := range []struct{ name, trace, span string }{
		{"lower-case hex", traceHex, spanHex},
		{"upper-case hex", strings.ToUpper(traceHex), strings.ToUpper(spanHex)},
		{"base64", "W47/95gDgQPSabYzgT/GDA==", "7uGbfsPBsXQ="},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := mustDecode(t, otlp.ContentTypeJSON, `{"resourceSpans":[{"scopeSpans":[{"spans":[{
				"traceId":"`+tt.trace+`","spanId":"`+tt.span+`","parentSpanId":"`+tt.span+`",
				"links":[{"traceId":"`+tt.trace+`","spanId":"`+tt.span+`"}]}]}]}]}`)
			sp := req.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0]
			for _, got := range []struct {
				field string
				b     []byte
				want  string
			}{
				{"traceId", sp.GetTraceId(), traceHex},
				{"spanId", sp.GetSpanId(), spanHex},
				{"parentSpanId", sp.GetParentSpanId(), spanHex},
				{"links[0].traceId", sp.GetLinks()[0].GetTraceId(), traceHex},
				{"links[0].spanId", sp.GetLinks()[0].GetSpanId(), spanHex},
			} {
				if h := hexOf(got.b); h != got.want {
					t.Errorf("%s: got %s, want %s", got.field, h, got.want)
				}
			}
		})
	}
}

// TestDecodeIDsOnlyInIDFields checks that text that looks like an id field
// inside an attribute value is not rewritten.
func TestDecodeIDsOnlyInIDFields(t *testing.T) {
	const inner = `{"traceId": "00ff", "spanId":"ab"}`
	body, err := json.Marshal(map[string]any{"resourceSpans": []any{map[string]any{"scopeSpans": []any{map[string]any{"spans": []any{
		map[string]any{"attributes": []any{map[string]any{"key": "traceId", "value": map[string]any{"stringValue": inner}}}},
	}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	req := mustDecode(t, otlp.ContentTypeJSON, string(body))
	if got := req.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0].GetAttributes()[0].GetValue().GetStringValue(); got != inner {
		t.Errorf("got %q, want %q", got, inner)
	}
}

func mustDecode(t testing.TB, contentType, body string) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	req, err := otlp.Decode(contentType, []byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return req
}

func countSpans(req *coltracepb.ExportTraceServiceRequest) int {
	n := 0
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	return n
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
