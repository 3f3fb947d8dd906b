package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/report"
)

func TestReportUsage(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report"}, exitUsage, "probity report board"},
		{[]string{"report", "quarterly"}, exitUsage, `unknown subcommand "quarterly"`},
		{[]string{"report", "board", "extra"}, exitUsage, "takes no arguments"},
		{[]string{"report", "board", "--format", "docx"}, exitUsage, "--format must be md, html, json or pdf"},
		{[]string{"report", "board", "--format", "pdf"}, exitUsage, "--format pdf needs --out FILE"},
		{[]string{"report", "board", "--json", "--format", "md"}, exitUsage, "disagree"},
		{[]string{"report", "board", "--days", "7", "--from", "2026-01-01T00:00:00Z"}, exitUsage, "not both"},
		{[]string{"report", "board", "--to", "tomorrow"}, exitUsage, "--to: want an RFC 3339 time"},
		{[]string{"report", "board", "-h"}, exitOK, "PROBITY_CHROMIUM"},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %q: got exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// TestReportBoard writes the report in every format, to stdout and to
// files, for a server with agents, one of them evaluated.
func TestReportBoard(t *testing.T) {
	evalServer(t)
	ok(t, "eval", "run", "--agent", "gullible-bot", "--suite", "injection-indirect", "--wait")
	dir := t.TempDir()

	md := ok(t, "report", "board")
	if !strings.HasPrefix(md, "# Behavioral security report: default\n") || !strings.Contains(md, "## EU AI Act") {
		t.Errorf("markdown on stdout:\n%s", md)
	}

	for _, tc := range []struct {
		flags  []string
		file   string
		format string
		check  func([]byte) bool
	}{
		{nil, "r.md", "md", func(b []byte) bool { return bytes.HasPrefix(b, []byte("# Behavioral security report")) }},
		{nil, "r.html", "html", func(b []byte) bool { return bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) }},
		{[]string{"--format", "html"}, "report.txt", "html", func(b []byte) bool { return bytes.Contains(b, []byte("</html>")) }},
		{[]string{"--days", "7"}, "r.json", "json", func(b []byte) bool {
			var rep struct {
				Agents []struct{ ID string }
				Period struct{ Days float64 }
			}
			return json.Unmarshal(b, &rep) == nil && len(rep.Agents) == 4 && rep.Period.Days == 7
		}},
	} {
		path := filepath.Join(dir, tc.file)
		args := append([]string{"report", "board", "--out", path}, tc.flags...)
		out := ok(t, args...)
		if want := "Wrote the board report (" + tc.format + ") to " + path + ".\n"; out != want {
			t.Errorf("probity %q: got %q, want %q", args, out, want)
		}
		b, err := os.ReadFile(path)
		if err != nil || !tc.check(b) {
			t.Errorf("probity %q wrote %.200q (%v)", args, b, err)
		}
	}

	var rep struct{ Agents []struct{ ID string } }
	if err := json.Unmarshal([]byte(ok(t, "report", "board", "--json")), &rep); err != nil || len(rep.Agents) != 4 {
		t.Errorf("--json: %+v %v", rep, err)
	}
	if r := cli(t, "report", "board", "--from", "2020-01-01T00:00:00Z"); r.code != exitError || !strings.Contains(r.stderr, "at most 90 days") {
		t.Errorf("a period of years: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestReportPDF prints the report with headless Chromium where one is
// installed (CI installs Debian's chromium, and there a missing one is a
// failure), and checks the clear error where none is.
func TestReportPDF(t *testing.T) {
	evalServer(t)
	dir := t.TempDir()

	t.Run("no chromium", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		pdf := filepath.Join(dir, "none.pdf")
		r := cli(t, "report", "board", "--out", pdf)
		if r.code != exitError || !strings.Contains(r.stderr, "apt-get install chromium") || !strings.Contains(r.stderr, "--format html") {
			t.Errorf("got exit %d, stderr %q; want 1 and what to install", r.code, r.stderr)
		}
		if _, err := os.Stat(pdf); err == nil {
			t.Errorf("%s was written", pdf)
		}
		t.Setenv("PROBITY_CHROMIUM", filepath.Join(dir, "no-such-chromium"))
		if r := cli(t, "report", "board", "--out", pdf); r.code != exitError || !strings.Contains(r.stderr, "PROBITY_CHROMIUM") {
			t.Errorf("a PROBITY_CHROMIUM that does not exist: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("chromium", func(t *testing.T) {
		if _, err := report.FindChromium(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI needs Chromium for this test: %v", err)
			}
			t.Skipf("no Chromium here: %v", err)
		}
		pdf := filepath.Join(dir, "board.pdf")
		ok(t, "report", "board", "--out", pdf)
		b, err := os.ReadFile(pdf)
		if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) || len(b) < 5000 {
			t.Fatalf("%s: %d bytes starting %.20q (%v), want a PDF", pdf, len(b), b, err)
		}
	})
}
