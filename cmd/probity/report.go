package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/report"
)

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity report board [--out FILE] [--format md|html|json|pdf] [--days N | --from T [--to T]] [flags]\n" +
		"Run 'probity report board -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "board":
		return reportBoard(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("report: unknown subcommand %q\n%s", args[0], use)
}

// reportExtensions gives the format of an --out file by its extension.
var reportExtensions = map[string]string{
	".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json", ".pdf": "pdf",
}

func reportBoard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report board", stderr)
	var af apiFlags
	af.register(fs)
	out := fs.String("out", "", "write the report to `file` instead of stdout (required for pdf)")
	format := fs.String("format", "", "md, html, json or pdf (default: from the extension of --out, else md; --json means json)")
	days := fs.Int("days", 0, "the period: the last `N` days up to --to (default 30, at most 90)")
	from := fs.String("from", "", "start of the period, an RFC 3339 `time` (instead of --days)")
	to := fs.String("to", "", "end of the period, an RFC 3339 `time` (default now)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity report board [--out FILE] [--format md|html|json|pdf] [--days N | --from T [--to T]] [flags]\n\n"+
			"Fetches the board report (GET /v1/reports/board): the fleet's behavioral security summary for a\n"+
			"board or audit committee, with each agent's score and key risks, the incidents of the period,\n"+
			"the 30-day programme, the evidence mapped to the EU AI Act and to the OWASP Top 10 for LLM\n"+
			"applications, and the remaining gaps with their owners (docs/report.md).\n\n"+
			"pdf prints the HTML report with headless Chromium: the first of chromium, chromium-browser,\n"+
			"google-chrome on PATH, or the program PROBITY_CHROMIUM names.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("report board takes no arguments, got %q (the file goes in --out)", fs.Args())
	}
	f, err := reportFormat(*format, *out, af.json)
	if err != nil {
		return err
	}
	opts := client.BoardReportOptions{Format: f, Days: *days}
	if f == "pdf" {
		opts.Format = client.ReportHTML
	}
	if *days < 0 {
		return usagef("--days must be positive")
	}
	if *days != 0 && *from != "" {
		return usagef("give --days or --from, not both")
	}
	for _, t := range []struct {
		name, text string
		into       *time.Time
	}{{"--from", *from, &opts.From}, {"--to", *to, &opts.To}} {
		if t.text == "" {
			continue
		}
		if *t.into, err = time.Parse(time.RFC3339Nano, t.text); err != nil {
			return usagef("%s: want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", t.name, t.text)
		}
	}
	var chromium string
	if f == "pdf" {
		// Find the printer before asking the server for anything.
		if chromium, err = report.FindChromium(); err != nil {
			return err
		}
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	body, err := c.BoardReport(ctx, opts)
	if err != nil {
		return af.callError("getting the board report", err)
	}
	if f == "pdf" {
		if body, err = report.PrintPDF(ctx, chromium, body); err != nil {
			return err
		}
	}
	if *out == "" {
		// The text comes from the server: nothing in it may drive the
		// terminal.
		_, err := io.WriteString(stdout, printableLines(string(body)))
		return err
	}
	if err := writeFileAtomic(*out, body); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote the board report (%s) to %s.\n", f, printable(*out))
	return nil
}

// reportFormat is the format asked for: --format, else --json, else the
// extension of --out, else md.
func reportFormat(format, out string, asJSON bool) (string, error) {
	switch {
	case format != "" && asJSON && format != "json":
		return "", usagef("--json and --format %s disagree", format)
	case format == "" && asJSON:
		format = "json"
	case format == "":
		format = reportExtensions[strings.ToLower(filepath.Ext(out))]
		if format == "" {
			format = "md"
		}
	}
	switch format {
	case "md", "html", "json":
	case "pdf":
		if out == "" {
			return "", usagef("--format pdf needs --out FILE: a PDF is not written to a terminal")
		}
	default:
		return "", usagef("--format must be md, html, json or pdf, got %q", format)
	}
	return format, nil
}

// printableLines is printable, keeping line breaks and tabs.
func printableLines(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && probity.Unsafe(r) {
			return '?'
		}
		return r
	}, s)
}
