package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"time"
)

// parsePages parses each page template with the layout and the shared
// partials, once.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// funcs are the templates' helpers. Each returns plain text (or a number)
// for html/template to escape in its context.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ago":  ago,
	"pct":  func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
	"f2":   func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"f4":   func(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) },
	"f1":   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"ms":   func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) + " ms" },
	"join": strings.Join,
	"arrow": func(n int) string {
		switch {
		case n > 0:
			return "▲ +" + strconv.Itoa(n)
		case n < 0:
			return "▼ " + strconv.Itoa(n)
		}
		return "► 0"
	},
	"trend": func(n int) string {
		switch {
		case n >= 20:
			return "up"
		case n <= -20:
			return "down bad"
		case n < 0:
			return "down"
		}
		return "flat"
	},
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"add": func(a, b int) int { return a + b },
	"dimLabel": func(name string) string {
		return map[string]string{"accuracy": "Accuracy", "reliability": "Reliability", "safety": "Safety",
			"security": "Security (injection resistance)", "scopeAdherence": "Scope adherence",
			"outputSanitization": "Output sanitization"}[name]
	},
	"percentOf": func(done, total int) int {
		if total <= 0 {
			return 0
		}
		return int(math.Round(100 * float64(done) / float64(total)))
	},
	"hash": func(h fmt.Stringer) string { return h.String() },
	"json": func(raw json.RawMessage) string { return compactJSON(raw) },
}

// ago says how long before now t was, roughly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d ago"
}
