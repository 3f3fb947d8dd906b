package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"sync"

	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/otlp"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/store"
)

// maxOTLPDecompressed bounds a gzip body once inflated, so that a small
// compressed body cannot expand without limit. otlp.Decode bounds what the
// inflated bytes decode to.
const maxOTLPDecompressed = 16 << 20

// otlpDecodes holds a slot for each OTLP export being inflated, decoded and
// mapped, the steps whose memory grows with the export: at most two per CPU
// at once. A request that finds them all taken waits for one as long as its
// context lives, rather than being told 503: each step is bounded
// (maxOTLPDecompressed, otlp.MaxElements, otlp.MaxSpans), so the wait is
// short, and an exporter that gives up retries as it would after a 503.
// The body is read before the slot is taken, so a slow client does not hold
// one. It is package-level, not a Server field, because only this file may
// change here; one process runs one server.
var otlpDecodes = sync.OnceValue(func() chan struct{} {
	return make(chan struct{}, 2*runtime.GOMAXPROCS(0))
})

// acquireDecode takes a slot of otlpDecodes, waiting for one until ctx is
// done; release gives it back.
func acquireDecode(ctx context.Context) (release func(), err error) {
	sem := otlpDecodes()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to decode an OTLP export: %w", ctx.Err())
	}
}

// postTraces is the OTLP/HTTP traces receiver: protobuf or JSON, optionally
// gzip. Spans about agents become records (internal/otlp documents how);
// spans of unknown agents, or that cannot be mapped, are rejected and
// reported in partialSuccess, the rest are stored like POST /v1/events.
func (s *Server) postTraces(w http.ResponseWriter, r *http.Request, c *call) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	asJSON := ct == "application/json"
	if err := s.traces(w, r, c, ct, asJSON); err != nil {
		if code, _ := status(err); code >= 500 {
			s.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeOTLPError(w, err, asJSON)
	}
	return nil
}

func (s *Server) traces(w http.ResponseWriter, r *http.Request, c *call, ct string, asJSON bool) error {
	if ct != "application/x-protobuf" && ct != "application/json" {
		return clientError(errUnsupported, "Content-Type must be application/x-protobuf or application/json, got %q", r.Header.Get("Content-Type"))
	}
	enc := strings.ToLower(r.Header.Get("Content-Encoding"))
	if enc != "" && enc != "identity" && enc != "gzip" {
		return clientError(errUnsupported, "Content-Encoding %q is not supported (use gzip or none)", enc)
	}
	raw, err := readBody(r.Body) // capped by the route's body limit
	if err != nil {
		return err
	}
	release, err := acquireDecode(r.Context())
	if err != nil {
		return err
	}
	recs, rejected, msg, err := s.decodeTraces(ct, enc, raw)
	release()
	if err != nil {
		return err
	}
	recs, dropped, dropMsg, err := s.knownAgents(r, c.org, recs)
	if err != nil {
		return err
	}
	rejected += dropped
	if msg == "" {
		msg = dropMsg
	} else if dropMsg != "" {
		msg += "; " + dropMsg
	}
	for start := 0; start < len(recs); start += maxBatchEvents {
		part := recs[start:min(start+maxBatchEvents, len(recs))]
		if _, err := s.ingest(r.Context(), c.org, part, nil); err != nil {
			return err
		}
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if rejected > 0 {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: rejected, ErrorMessage: msg}
	}
	return writeProto(w, http.StatusOK, resp, asJSON)
}

// decodeTraces inflates, decodes and maps one export.
func (s *Server) decodeTraces(ct, enc string, raw []byte) ([]record.Record, int64, string, error) {
	if enc == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, 0, "", probity.Invalid("", "Content-Encoding is gzip but the body is not: %v", err)
		}
		defer zr.Close()
		if raw, err = readBody(io.LimitReader(zr, maxOTLPDecompressed+1)); err != nil {
			return nil, 0, "", err
		}
		if len(raw) > maxOTLPDecompressed {
			return nil, 0, "", clientError(errTooLarge, "an export inflates to at most %d bytes", maxOTLPDecompressed)
		}
	}
	req, err := otlp.Decode(ct, raw)
	if err != nil {
		return nil, 0, "", probity.Invalid("", "%v", err)
	}
	recs, rejected, msg := otlp.Map(req, s.now())
	return recs, rejected, msg, nil
}

// knownAgents drops the records of agents the org has not registered and
// counts their spans as rejected.
func (s *Server) knownAgents(r *http.Request, org string, recs []record.Record) ([]record.Record, int64, string, error) {
	known := map[string]bool{}
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		for i := range recs {
			id := recs[i].AgentID
			if _, done := known[id]; done {
				continue
			}
			_, err := tx.GetAgent(r.Context(), org, id)
			if err != nil && !errors.Is(err, probity.ErrNotFound) {
				return err
			}
			known[id] = err == nil
		}
		return nil
	})
	if err != nil {
		return nil, 0, "", err
	}
	kept := recs[:0:0]
	spans := map[string]bool{}
	var unknown []string
	for _, rec := range recs {
		if known[rec.AgentID] {
			kept = append(kept, rec)
			continue
		}
		spans[spanOf(rec.ID)] = true
		if len(unknown) < maxReasonsShown && !contains(unknown, rec.AgentID) {
			unknown = append(unknown, rec.AgentID)
		}
	}
	if len(spans) == 0 {
		return kept, 0, "", nil
	}
	return kept, int64(len(spans)), fmt.Sprintf("%d spans of unregistered agents (%s): register them first (POST /v1/agents)",
		len(spans), strings.Join(unknown, ", ")), nil
}

const maxReasonsShown = 3

// spanOf returns the trace and span part of an OTLP record id
// ("otlp:<trace>:<span>:<kind>").
func spanOf(id string) string {
	if i := strings.LastIndexByte(id, ':'); i > 0 {
		return id[:i]
	}
	return id
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeProto(w http.ResponseWriter, code int, m proto.Message, asJSON bool) error {
	var b []byte
	var err error
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		b, err = protojson.Marshal(m)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, err = proto.Marshal(m)
	}
	if err != nil {
		return fmt.Errorf("encoding OTLP response: %w", err)
	}
	w.WriteHeader(code)
	w.Write(b)
	return nil
}

// writeOTLPError answers as OTLP/HTTP asks: the status code, and a
// google.rpc.Status in the request's encoding.
func writeOTLPError(w http.ResponseWriter, err error, asJSON bool) {
	code, body := status(err)
	msg := body.Message
	if body.Field != "" {
		msg = body.Field + ": " + msg
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeProto(w, code, &rpcstatus.Status{Code: int32(grpcCode(code)), Message: msg}, asJSON)
}

// grpcCode maps an HTTP status to the google.rpc.Code an OTLP client reads.
func grpcCode(httpStatus int) int {
	switch httpStatus {
	case 400, 413, 415:
		return 3 // INVALID_ARGUMENT
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 5 // NOT_FOUND
	case 429:
		return 8 // RESOURCE_EXHAUSTED
	}
	return 13 // INTERNAL
}
