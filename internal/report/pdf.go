package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/probity-dev/probity"
)

// chromiumNames are the programs FindChromium looks for on PATH.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// FindChromium returns the program PROBITY_CHROMIUM names, else the first
// of chromiumNames on PATH, or an error that says what to install.
func FindChromium() (string, error) {
	if p := os.Getenv("PROBITY_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("PROBITY_CHROMIUM is %q, which is not a program that can be run: %v", printableLines(p), err)
		}
		return path, nil
	}
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", errors.New("a PDF is printed with headless Chromium, and none was found: looked for " +
		strings.Join(chromiumNames, ", ") + " on PATH and PROBITY_CHROMIUM is not set. Install Chromium " +
		"(Debian and Ubuntu: apt-get install chromium; macOS: brew install --cask chromium) or point " +
		"PROBITY_CHROMIUM at a Chrome or Chromium binary, or take the HTML report (--format html) and print it from a browser")
}

// pdfTimeout bounds one print.
const pdfTimeout = 2 * time.Minute

// PrintPDF prints an HTML page to PDF with headless Chromium, in a fresh
// profile in a temporary directory that is removed afterwards. The page
// loads nothing from anywhere (the report is self-contained, and its
// Content-Security-Policy forbids fetching).
func PrintPDF(ctx context.Context, chromium string, page []byte) ([]byte, error) {
	dir, err := os.MkdirTemp("", "probity-report-")
	if err != nil {
		return nil, fmt.Errorf("printing the PDF: %w", err)
	}
	defer os.RemoveAll(dir)
	html, pdf := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(html, page, 0o600); err != nil {
		return nil, fmt.Errorf("printing the PDF: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, pdfTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--no-pdf-header-footer",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--print-to-pdf="+pdf,
		(&url.URL{Scheme: "file", Path: html}).String())
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	b, err := os.ReadFile(pdf)
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("printing the PDF with %s: gave up after %s", chromium, pdfTimeout)
	case err != nil || !bytes.HasPrefix(b, []byte("%PDF-")):
		why := "it wrote no PDF"
		if runErr != nil {
			why = runErr.Error()
		}
		return nil, fmt.Errorf("printing the PDF with %s: %s; its output ends:\n%s", chromium, why, printableLines(tail(output.String(), 2000)))
	}
	return b, nil
}

// tail is the last n bytes of s, from a line start when there is one.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// printableLines replaces characters that could mislead a terminal,
// keeping line breaks and tabs.
func printableLines(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && probity.Unsafe(r) {
			return '?'
		}
		return r
	}, s)
}
