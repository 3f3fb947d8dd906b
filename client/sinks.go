package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sink kinds and formats.
const (
	SinkWebhook   = "webhook"    // JSON or OCSF over HTTP POST, signed
	SinkSyslog    = "syslog"     // RFC 5424 carrying CEF, over UDP, TCP or TLS
	SinkSplunkHEC = "splunk_hec" // Splunk HTTP Event Collector, JSON or OCSF

	FormatJSON = "json"
	FormatOCSF = "ocsf" // OCSF Detection Finding (class_uid 2004)
	FormatCEF  = "cef"
)

// SinkInput defines a sink. Kind says which fields apply: URL (and Secret)
// for a webhook; Network, Address, Facility for syslog; URL, Token, Index,
// Source, SourceType for Splunk HEC. CAPEM and InsecureSkipVerify apply to
// TLS (an https URL or the tls network). Empty MinSeverity takes every
// severity, empty EventTypes every type.
type SinkInput struct {
	Name               string   `json:"name,omitempty"`
	Kind               string   `json:"kind"`
	Format             string   `json:"format,omitempty"`
	URL                string   `json:"url,omitempty"`
	Network            string   `json:"network,omitempty"`
	Address            string   `json:"address,omitempty"`
	Facility           string   `json:"facility,omitempty"`
	Hostname           string   `json:"hostname,omitempty"`
	Index              string   `json:"index,omitempty"`
	Source             string   `json:"source,omitempty"`
	SourceType         string   `json:"sourceType,omitempty"`
	CAPEM              string   `json:"caPem,omitempty"`
	InsecureSkipVerify bool     `json:"insecureSkipVerify,omitempty"`
	Secret             string   `json:"secret,omitempty"` // webhook; the server makes one when empty
	Token              string   `json:"token,omitempty"`  // splunk_hec
	MinSeverity        string   `json:"minSeverity,omitempty"`
	EventTypes         []string `json:"eventTypes,omitempty"`
}

// Sink is a sink as the server keeps it: never its secret or token.
type Sink struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name,omitempty"`
	Kind               string    `json:"kind"`
	Format             string    `json:"format"`
	URL                string    `json:"url,omitempty"`
	Network            string    `json:"network,omitempty"`
	Address            string    `json:"address,omitempty"`
	Facility           string    `json:"facility,omitempty"`
	Hostname           string    `json:"hostname,omitempty"`
	Index              string    `json:"index,omitempty"`
	Source             string    `json:"source,omitempty"`
	SourceType         string    `json:"sourceType,omitempty"`
	CAPEM              string    `json:"caPem,omitempty"`
	InsecureSkipVerify bool      `json:"insecureSkipVerify,omitempty"`
	MinSeverity        string    `json:"minSeverity"`
	EventTypes         []string  `json:"eventTypes"`
	CreatedAt          time.Time `json:"createdAt"`
	CreatedBy          string    `json:"createdBy,omitempty"`
}

// Delivery is one event on its way to one sink, with every try.
type Delivery struct {
	ID             string            `json:"id"` // the Probity-Delivery header, the same on every try and replay
	SinkID         string            `json:"sinkId"`
	EventID        string            `json:"eventId"`
	EventType      string            `json:"eventType"`
	Severity       string            `json:"severity"`
	AgentID        string            `json:"agentId,omitempty"`
	EventTime      time.Time         `json:"eventTime"`
	Status         string            `json:"status"`   // pending, sent or dead
	Attempts       int               `json:"attempts"` // since it was queued or last replayed
	NextAttemptAt  *time.Time        `json:"nextAttemptAt,omitempty"`
	LastAttemptAt  *time.Time        `json:"lastAttemptAt,omitempty"`
	LastStatusCode int               `json:"lastStatusCode,omitempty"`
	LastError      string            `json:"lastError,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
	SentAt         *time.Time        `json:"sentAt,omitempty"`
	Log            []DeliveryAttempt `json:"log"`
	Event          json.RawMessage   `json:"event"`
}

// DeliveryAttempt is one try of a delivery.
type DeliveryAttempt struct {
	Seq        int       `json:"seq"`
	Time       time.Time `json:"time"`
	DurationMs float64   `json:"durationMs"`
	StatusCode int       `json:"statusCode,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// DeliveryFilter selects a sink's deliveries, newest first: Status is
// pending, sent, dead or empty for all.
type DeliveryFilter struct {
	Status string
	ListOptions
}

func sinkPath(id string) string { return "/v1/sinks/" + segment(id) }

// CreateSink adds a sink. It returns the sink and, for a webhook, its
// signing secret, which the server shows this once.
func (c *Client) CreateSink(ctx context.Context, in SinkInput) (Sink, string, error) {
	var out struct {
		Sink
		Secret string `json:"secret"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/sinks", nil, in, &out)
	return out.Sink, out.Secret, err
}

// ListSinks returns a page of the org's sinks, by id.
func (c *Client) ListSinks(ctx context.Context, opts ListOptions) (Page[Sink], error) {
	var out Page[Sink]
	err := c.do(ctx, http.MethodGet, "/v1/sinks", opts.query(), nil, &out)
	return out, err
}

// GetSink returns the sink id.
func (c *Client) GetSink(ctx context.Context, id string) (Sink, error) {
	var out Sink
	err := c.do(ctx, http.MethodGet, sinkPath(id), nil, nil, &out)
	return out, err
}

// DeleteSink removes the sink id with its deliveries.
func (c *Client) DeleteSink(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, sinkPath(id), nil, nil, nil)
}

// ListDeliveries returns a page of the sink's deliveries that f selects.
func (c *Client) ListDeliveries(ctx context.Context, sinkID string, f DeliveryFilter) (Page[Delivery], error) {
	q := f.ListOptions.query()
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	var out Page[Delivery]
	err := c.do(ctx, http.MethodGet, sinkPath(sinkID)+"/deliveries", q, nil, &out)
	return out, err
}

// ReplayDeliveries queues the named deliveries of the sink (each sent or
// dead) again, and returns how many it queued.
func (c *Client) ReplayDeliveries(ctx context.Context, sinkID string, deliveryIDs []string) (int, error) {
	return c.replay(ctx, sinkID, map[string]any{"deliveryIds": deliveryIDs})
}

// ReplayDeadLetters queues every dead delivery of the sink again, and
// returns how many it queued.
func (c *Client) ReplayDeadLetters(ctx context.Context, sinkID string) (int, error) {
	return c.replay(ctx, sinkID, map[string]any{"dead": true})
}

func (c *Client) replay(ctx context.Context, sinkID string, body any) (int, error) {
	var out struct {
		Replayed int `json:"replayed"`
	}
	err := c.do(ctx, http.MethodPost, sinkPath(sinkID)+"/replay", nil, body, &out)
	return out.Replayed, err
}

// ErrBadSignature is a webhook request whose Probity-Signature does not
// verify.
var ErrBadSignature = errors.New("bad webhook signature")

// VerifyWebhook is what a webhook receiver does with a request: it checks
// the Probity-Signature header (t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the sink's secret>) against the raw body, and that t
// is within tolerance of now, so that a captured request cannot be
// replayed later. Deduplicate on the Probity-Delivery header: a delivery
// is sent at least once.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix>,v1=<hex>", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %d, %s from now", ErrBadSignature, sec, d.Round(time.Second))
	}
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%s.", ts)
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}
