package report

import (
	_ "embed"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/probity-dev/probity/internal/score"
)

//go:embed report.html.tmpl
var htmlSource string

// page is compiled once; html/template escapes every value for the
// context it lands in.
var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"stamp": stamp,
	"day":   day,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return stamp(t)
	},
	"days":       trimFloat,
	"join":       joinOr,
	"dash":       orDash,
	"severities": severities,
	"mttr":       mttr,
	"control":    controlStatus,
	"dims":       score.DimensionNames,
	"dimLabel":   dimensionLabel,
	"dim":        func(d score.Dimensions, name string) float64 { return d.Get(name) },
	"printable":  printableText,
	"trim":       func(s string) string { return strings.TrimRight(s, "\n") },
}).Parse(htmlSource))

// CSP is the Content-Security-Policy the HTML report carries, in a meta
// element and, from the API, as a header: no script, no outside host, only
// its own inline styles.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

// HTML writes the report as one self-contained page: inline styles for the
// screen and for print, no script, nothing fetched from anywhere.
func HTML(w io.Writer, r Report) error {
	return page.Execute(w, struct {
		Report
		CSP string
	}{r, CSP})
}
