package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/report"
)

// reportPage is the data of the board report page.
type reportPage struct {
	layout
	Days     int
	PDFError string // why a PDF cannot be printed here, when it cannot
}

// reports shows the board report's downloads: the period and the formats.
func (d *Dashboard) reports(w http.ResponseWriter, r *http.Request, v *viewer) error {
	p := reportPage{layout: d.frame(v, "Board report", "reports"), Days: 30}
	if _, err := report.FindChromium(); err != nil {
		p.PDFError = err.Error()
	}
	return d.render(w, r, http.StatusOK, "reports.html", p)
}

// pdfSlot admits one PDF print at a time.
var pdfSlot = make(chan struct{}, 1)

// reportTypes are the board report's formats and how each is served.
var reportTypes = map[string]struct{ contentType, ext string }{
	"html": {"text/html; charset=utf-8", "html"},
	"md":   {"text/markdown; charset=utf-8", "md"},
	"json": {"application/json", "json"},
	"pdf":  {"application/pdf", "pdf"},
}

// boardReport downloads the board report (GET /v1/reports/board) in the
// format asked for; a PDF is the HTML report printed by headless Chromium.
func (d *Dashboard) boardReport(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "html"
	}
	typ, ok := reportTypes[format]
	if !ok {
		return probity.Invalid("format", "must be html, md, json or pdf")
	}
	days := 30
	if s := q.Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 90 {
			return probity.Invalid("days", "must be a whole number of days from 1 to 90")
		}
		days = n
	}
	chromium := ""
	if format == "pdf" {
		var err error
		if chromium, err = report.FindChromium(); err != nil {
			return &pageError{http.StatusServiceUnavailable, err.Error()}
		}
	}
	apiFormat := format
	if format == "pdf" {
		apiFormat = "html"
	}
	var body []byte
	err := d.api.Do(r.Context(), v.key, "GET /v1/reports/board", nil,
		url.Values{"format": {apiFormat}, "days": {strconv.Itoa(days)}}, nil, &body)
	if err != nil {
		return err
	}
	if format == "pdf" {
		// A print starts a browser: one at a time per server.
		select {
		case pdfSlot <- struct{}{}:
			defer func() { <-pdfSlot }()
		default:
			return &pageError{http.StatusTooManyRequests, "another board report is being printed to PDF: try again in a moment"}
		}
		if body, err = report.PrintPDF(r.Context(), chromium, body); err != nil {
			return err
		}
	}
	name := "probity-board-report-" + d.now().UTC().Format(time.DateOnly) + "." + typ.ext
	w.Header().Set("Content-Type", typ.contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Write(body)
	return nil
}
