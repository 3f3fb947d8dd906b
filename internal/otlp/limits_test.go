package otlp_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/otlp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// The tests in this file check the limits that keep one export's cost
// linear in its size, by counting allocations and records, never by timing.

// partsSpan is an OpenInference LLM span whose output message is flattened
// into n part attributes.
func partsSpan(n int) *tracepb.Span {
	attrs := []*commonpb.KeyValue{str("openinference.span.kind", "LLM"), str("llm.output_messages.0.message.role", "assistant")}
	for i := range n {
		attrs = append(attrs, str(fmt.Sprintf("llm.output_messages.0.message.contents.%d.message_content.text", i), fmt.Sprintf("part %d of the answer", i)))
	}
	return newSpan(0, attrs...)
}

// TestMapManyAttributes checks that a span with 20,000 attributes costs
// what one with MaxAttributes costs: the rest are not read, and the records
// say so. Joining the parts one by one made the work quadratic.
func TestMapManyAttributes(t *testing.T) {
	req := request([]*commonpb.KeyValue{str("probity.agent.id", "bot")}, partsSpan(20_000))
	var recs int
	allocs := testing.AllocsPerRun(1, func() {
		out, rejected, msg := otlp.Map(req, now)
		if rejected != 0 || len(out) != 1 {
			t.Fatalf("got %d records, %d rejected (%s); want 1 model_output", len(out), rejected, msg)
		}
		if got, want := string(out[0].Attributes["otlp.truncated"]), `["span.attributes"]`; got != want {
			t.Errorf("got otlp.truncated %s, want %s", got, want)
		}
		if got, want := strings.Count(out[0].Content, "\n")+1, otlp.MaxAttributes-2; got != want {
			t.Errorf("got %d parts in the content, want %d", got, want)
		}
		recs = len(out)
	})
	if max := 20.0 * otlp.MaxAttributes; allocs > max {
		t.Errorf("got %.0f allocations for %d records, want at most %.0f", allocs, recs, max)
	}
}

// TestMapWideResource checks that resource and scope attributes are read
// once for all spans: the copied ones among them cost no allocation per
// span, and past MaxAttributes they are not read at all.
func TestMapWideResource(t *testing.T) {
	const spans = 200
	build := func(resource []*commonpb.KeyValue) *coltracepb.ExportTraceServiceRequest {
		var ss []*tracepb.Span
		for i := range spans {
			ss = append(ss, newSpan(i, str("gen_ai.operation.name", "invoke_agent")))
		}
		return request(append([]*commonpb.KeyValue{str("probity.agent.id", "bot")}, resource...), ss...)
	}
	// The same copied attributes, as strings and as arrays: marshalling an
	// array costs several allocations, so per span they would differ.
	var asStrings, asArrays []*commonpb.KeyValue
	for _, k := range []string{"service.name", "service.version", "gen_ai.system", "gen_ai.provider.name", "gen_ai.agent.version", "user.id", "enduser.id", "llm.provider"} {
		asStrings = append(asStrings, str(k, k+" value"))
		asArrays = append(asArrays, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{
			ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_StringValue{StringValue: k + " value"}}}}}}})
	}
	mapAllocs := func(req *coltracepb.ExportTraceServiceRequest) float64 {
		return testing.AllocsPerRun(2, func() {
			if recs, rejected, msg := otlp.Map(req, now); rejected != 0 || len(recs) != 2*spans {
				t.Fatalf("got %d records, %d rejected (%s); want %d", len(recs), rejected, msg, 2*spans)
			}
		})
	}
	plain, nested := mapAllocs(build(asStrings)), mapAllocs(build(asArrays))
	if perSpan := (nested - plain) / spans; perSpan > 0.5 {
		t.Errorf("copied resource attributes cost %.1f more allocations per span as arrays than as strings, want 0: marshalled once per scope", perSpan)
	}

	wide := []*commonpb.KeyValue{str("probity.agent.id", "bot")}
	for i := range 20_000 {
		wide = append(wide, str(fmt.Sprintf("k%d", i), "v"))
	}
	wide = append(wide, str("service.name", "not-read"))
	recs, rejected, _ := otlp.Map(request(wide, newSpan(0, str("gen_ai.operation.name", "invoke_agent"))), now)
	if rejected != 0 || len(recs) != 2 {
		t.Fatalf("got %d records, %d rejected; want 2", len(recs), rejected)
	}
	for _, r := range recs {
		if got, want := string(r.Attributes["otlp.truncated"]), `["resource.attributes"]`; got != want {
			t.Errorf("%s: got otlp.truncated %s, want %s", r.Type, got, want)
		}
		if _, ok := r.Attributes["service.name"]; ok {
			t.Errorf("%s: got service.name from past the %d resource attributes read", r.Type, otlp.MaxAttributes)
		}
	}
}

// TestMapMessageParts checks that a chat message keeps its first MaxParts
// parts and that the record says its content was cut.
func TestMapMessageParts(t *testing.T) {
	var parts []string
	for i := range otlp.MaxParts + 500 {
		parts = append(parts, fmt.Sprintf(`{"type":"text","content":"p%d"}`, i))
	}
	out := `[{"role":"assistant","parts":[` + strings.Join(parts, ",") + `]}]`
	recs, rejected, msg := otlp.Map(request([]*commonpb.KeyValue{str("probity.agent.id", "bot")},
		newSpan(0, str("gen_ai.operation.name", "chat"), str("gen_ai.output.messages", out))), now)
	if rejected != 0 || len(recs) != 1 {
		t.Fatalf("got %d records, %d rejected (%s); want 1", len(recs), rejected, msg)
	}
	if got := strings.Count(recs[0].Content, "\n") + 1; got != otlp.MaxParts {
		t.Errorf("got %d parts in the content, want %d", got, otlp.MaxParts)
	}
	if got, want := string(recs[0].Attributes["otlp.truncated"]), `["content"]`; got != want {
		t.Errorf("got otlp.truncated %s, want %s", got, want)
	}
}

// TestMapSpanLimit checks that spans past MaxSpans are rejected, counted and
// explained, and not mapped.
func TestMapSpanLimit(t *testing.T) {
	spans := make([]*tracepb.Span, otlp.MaxSpans+3)
	for i := range spans {
		spans[i] = newSpan(i, str("gen_ai.operation.name", "invoke_agent"))
	}
	half := len(spans) / 2
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("probity.agent.id", "bot")}},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans[:half]}, {}, {Spans: spans[half:]}}},
	}}
	recs, rejected, msg := otlp.Map(req, now)
	if rejected != 3 || len(recs) != 2*otlp.MaxSpans {
		t.Errorf("got %d records, %d rejected; want %d records, 3 rejected", len(recs), rejected, 2*otlp.MaxSpans)
	}
	if want := fmt.Sprintf("3 of %d spans rejected: 3 spans past the first %d", len(spans), otlp.MaxSpans); !strings.HasPrefix(msg, want) {
		t.Errorf("got message %q, want it to start %q", msg, want)
	}
}

// emptyValues is an export whose one attribute is an array of n empty
// values, two bytes each in protobuf, built on the wire so that the test
// does not allocate them.
func emptyValues(n int) []byte {
	wrap := func(num protowire.Number, b []byte, before ...byte) []byte {
		out := append([]byte(nil), before...)
		out = protowire.AppendTag(out, num, protowire.BytesType)
		return protowire.AppendBytes(out, b)
	}
	array := bytes.Repeat([]byte{0x0a, 0x00}, n)   // ArrayValue.values
	kv := wrap(2, wrap(5, array), 0x0a, 0x01, 'k') // KeyValue{key: "k", value: AnyValue{array_value}}
	return wrap(1, wrap(2, wrap(2, wrap(9, kv))))  // request.resource_spans.scope_spans.spans.attributes
}

// TestDecodeElementLimit checks that a body of more than MaxElements values
// is rejected before it is decoded, in protobuf and in JSON, and that one
// just under the limit is decoded.
func TestDecodeElementLimit(t *testing.T) {
	jsonValues := func(n int) []byte {
		return []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"arrayValue":{"values":[` +
			strings.Repeat("{},", n-1) + `{}]}}}]}]}]}]}`)
	}
	over := otlp.MaxElements + 1
	for _, tt := range []struct {
		name, contentType string
		body              []byte
	}{
		{"protobuf", otlp.ContentTypeProtobuf, emptyValues(over)},
		{"json", otlp.ContentTypeJSON, jsonValues(over)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(1, func() { _, err = otlp.Decode(tt.contentType, tt.body) })
			if !errors.Is(err, probity.ErrInvalid) || !strings.Contains(err.Error(), "elements") {
				t.Fatalf("got error %v, want an ErrInvalid about elements", err)
			}
			if allocs > 100 {
				t.Errorf("got %.0f allocations rejecting %d values, want at most 100", allocs, over)
			}
		})
	}
	const under = 1000
	for _, tt := range []struct {
		name, contentType string
		body              []byte
	}{
		{"protobuf under the limit", otlp.ContentTypeProtobuf, emptyValues(under)},
		{"json under the limit", otlp.ContentTypeJSON, jsonValues(under)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := otlp.Decode(tt.contentType, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(req.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0].GetAttributes()[0].GetValue().GetArrayValue().GetValues()); got != under {
				t.Errorf("got %d values, want %d", got, under)
			}
		})
	}
}

// BenchmarkMapHostile maps the exports that were slow before the limits:
// one span with 100,000 message-part attributes, and 2,000 spans under a
// resource of 20,000 attributes.
//
//	go test ./internal/otlp -run '^$' -bench MapHostile -benchmem
func BenchmarkMapHostile(b *testing.B) {
	agent := str("probity.agent.id", "bot")
	wide := []*commonpb.KeyValue{agent}
	for i := range 20_000 {
		wide = append(wide, str(fmt.Sprintf("k%d", i), "v"))
	}
	var spans []*tracepb.Span
	for i := range 2000 {
		spans = append(spans, newSpan(i, str("gen_ai.operation.name", "invoke_agent")))
	}
	for _, c := range []struct {
		name string
		req  *coltracepb.ExportTraceServiceRequest
	}{
		{"parts", request([]*commonpb.KeyValue{agent}, partsSpan(100_000))},
		{"wide_resource", request(wide, spans...)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if recs, _, _ := otlp.Map(c.req, now); len(recs) == 0 {
					b.Fatal("no records")
				}
			}
		})
	}
}

// BenchmarkDecodeTooMany rejects a body of just over MaxElements empty
// values: the cost of the pre-scan.
func BenchmarkDecodeTooMany(b *testing.B) {
	body := emptyValues(otlp.MaxElements + 1)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := otlp.Decode(otlp.ContentTypeProtobuf, body); err == nil {
			b.Fatal("decoded")
		}
	}
}
