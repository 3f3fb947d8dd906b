package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Board report formats.
const (
	ReportJSON     = "json"
	ReportMarkdown = "md"
	ReportHTML     = "html"
)

// BoardReportOptions choose a board report's format and period. The period
// is the last Days days (30 when zero) up to To (now when zero), or From to
// To; it is at most 90 days.
type BoardReportOptions struct {
	Format   string // ReportJSON (the default), ReportMarkdown or ReportHTML
	Days     int
	From, To time.Time
}

func (o BoardReportOptions) query() url.Values {
	q := url.Values{}
	if o.Format != "" {
		q.Set("format", o.Format)
	}
	if o.Days != 0 {
		q.Set("days", strconv.Itoa(o.Days))
	}
	if !o.From.IsZero() {
		q.Set("from", o.From.UTC().Format(time.RFC3339Nano))
	}
	if !o.To.IsZero() {
		q.Set("to", o.To.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// BoardReport returns the org's board report (GET /v1/reports/board) as the
// server rendered it: JSON (the BoardReport schema of openapi.yaml),
// Markdown, or one self-contained HTML page. docs/report.md describes
// what it holds.
func (c *Client) BoardReport(ctx context.Context, opts BoardReportOptions) ([]byte, error) {
	accept := map[string]string{"": "application/json", ReportJSON: "application/json",
		ReportMarkdown: "text/markdown", ReportHTML: "text/html"}[opts.Format]
	if accept == "" {
		return nil, fmt.Errorf("board report: unknown format %q (want %s, %s or %s)", opts.Format, ReportJSON, ReportMarkdown, ReportHTML)
	}
	path := "/v1/reports/board"
	if q := opts.query(); len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.raw(ctx, path, accept)
}
