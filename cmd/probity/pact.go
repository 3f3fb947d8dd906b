package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/record"
)

func runPact(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity pact lint|apply|test|diff|evaluate [flags]\n" +
		"  lint FILE                      compile a pact offline and list every error\n" +
		"  apply FILE                     store the pact on the server (a new version when it changed)\n" +
		"  test FILE --records FILE.jsonl check records offline: which records break which clause\n" +
		"  diff ID [A [B]]                compare two versions of a pact on the server\n" +
		"  evaluate ID                    judge the pact's commitments now (exit 3 when one is breached)\n" +
		"Run 'probity pact <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "lint":
		return pactLint(args[1:], stdout, stderr)
	case "apply":
		return pactApply(ctx, args[1:], stdout, stderr)
	case "test":
		return pactTest(args[1:], stdout, stderr)
	case "diff":
		return pactDiff(ctx, args[1:], stdout, stderr)
	case "evaluate":
		return pactEvaluate(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("pact: unknown subcommand %q\n%s", args[0], use)
}

// argAndClient parses args for a command that takes exactly one argument and
// talks to the server: it returns the argument and the client.
func argAndClient(fs *flag.FlagSet, args []string, what string, af *apiFlags) (string, *client.Client, error) {
	pos, err := positional(fs, args, 1, 1, what)
	if err != nil {
		return "", nil, err
	}
	c, err := af.client()
	if err != nil {
		return "", nil, err
	}
	return pos[0], c, nil
}

// positional parses args, flags and arguments in any order, and returns
// the arguments; there must be between least and most of them.
func positional(fs *flag.FlagSet, args []string, least, most int, what string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) < least:
		return nil, usagef("missing %s", what)
	case len(pos) > most:
		return nil, usagef("unexpected arguments %q", pos[most:])
	}
	return pos, nil
}

// readPactFile reads a pact source from path, or from stdin for "-". It
// returns the name to show in messages.
func readPactFile(path string) (src []byte, name string, err error) {
	r, name := io.Reader(os.Stdin), "<stdin>"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		r, name = f, path
	}
	src, err = io.ReadAll(io.LimitReader(r, pact.MaxSourceLen+1))
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", name, err)
	}
	if len(src) > pact.MaxSourceLen {
		return nil, "", fmt.Errorf("reading %s: a pact is at most %d bytes", name, pact.MaxSourceLen)
	}
	return src, name, nil
}

// problem is one error in a file, at a 1-based line and column (0 when
// unknown); a negative column is not shown (records files have lines only).
type problem struct {
	line, column   int
	field, message string
}

// printProblems writes each problem as "FILE:line:column: field: message",
// as pact.Error reads after the file name: without the position when the
// line is unknown, without the field when there is none.
func printProblems(w io.Writer, name string, ps []problem) {
	for _, p := range ps {
		pos := printable(name)
		switch {
		case p.line > 0 && p.column >= 0:
			pos += fmt.Sprintf(":%d:%d", p.line, p.column)
		case p.line > 0:
			pos += fmt.Sprintf(":%d", p.line)
		}
		msg := printable(p.message)
		if p.field != "" {
			msg = printable(p.field) + ": " + msg
		}
		fmt.Fprintf(w, "%s: %s\n", pos, msg)
	}
}

// compileFile compiles the pact in path. A pact that does not compile has
// its problems printed to w and is an error.
func compileFile(w io.Writer, path string) (*pact.Pact, string, error) {
	src, name, err := readPactFile(path)
	if err != nil {
		return nil, "", err
	}
	p, err := pact.Compile(src)
	var errs pact.Errors
	if errors.As(err, &errs) {
		ps := make([]problem, len(errs))
		for i, e := range errs {
			ps[i] = problem{e.Line, e.Column, e.Field, e.Message}
		}
		printProblems(w, name, ps)
		return nil, "", fmt.Errorf("%s does not compile: %s", printable(name), count(len(errs), "problem"))
	}
	if err != nil {
		return nil, "", fmt.Errorf("compiling %s: %w", printable(name), err)
	}
	return p, name, nil
}

// count reads "1 problem", "3 problems".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func pactLint(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pact lint", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity pact lint FILE\n\n"+
			"Compiles the pact in FILE ('-' for stdin) offline and prints every error as\n"+
			"FILE:line:column: field: message (exit 1), or \"ok\" with the pact's id, digest\n"+
			"and number of clauses.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "pact FILE")
	if err != nil {
		return err
	}
	p, name, err := compileFile(stdout, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok: pact %s, %s, %s\n", printable(name), printable(p.ID),
		count(len(p.Clauses()), "clause"), p.Digest())
	return nil
}

// pactType is the media type of a pact source: JSON when it starts with
// "{", YAML otherwise (the server reads both the same way).
func pactType(src []byte) string {
	if bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(src, []byte("\uFEFF")), " \t\r\n"), []byte("{")) {
		return client.PactJSON
	}
	return client.PactYAML
}

func pactApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pact apply", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity pact apply FILE [flags]\n\n"+
			"Stores the pact in FILE ('-' for stdin) on the server: a new version when its\n"+
			"content changed, the same version when it did not. A pact the server rejects\n"+
			"has its errors printed as FILE:line:column: field: message (exit 1).")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "pact FILE")
	if err != nil {
		return err
	}
	src, name, err := readPactFile(pos[0])
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	v, created, err := c.ApplyPact(ctx, src, pactType(src))
	var ce *client.Error
	if errors.As(err, &ce) && len(ce.Details) > 0 {
		ps := make([]problem, len(ce.Details))
		for i, d := range ce.Details {
			ps[i] = problem{d.Line, d.Column, d.Field, d.Message}
		}
		printProblems(stdout, name, ps)
	}
	if err != nil {
		return af.callError("applying "+printable(name), err)
	}
	if af.json {
		return writeJSON(stdout, struct {
			Created bool `json:"created"`
			client.PactVersion
		}{created, v})
	}
	if created {
		fmt.Fprintf(stdout, "Created pact %s version %d, %s (ledger index %d).\n", printable(v.ID), v.Version, printable(v.Digest), v.LedgerIndex)
	} else {
		fmt.Fprintf(stdout, "Unchanged: pact %s is at version %d, %s.\n", printable(v.ID), v.Version, printable(v.Digest))
	}
	if len(v.Agents) > 0 {
		fmt.Fprintf(stdout, "Bound agents: %s.\n", listString(v.Agents))
	}
	return nil
}

func pactDiff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pact diff", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity pact diff ID [A [B]] [flags]\n\n"+
			"Compares versions A and B of the pact ID (their canonical JSON). B defaults to\n"+
			"the latest version and A to the version before B.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 3, "pact ID")
	if err != nil {
		return err
	}
	var versions [2]int
	for i, s := range pos[1:] {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return usagef("pact diff: version %q: want a version number, 1 or more", s)
		}
		versions[i] = n
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	d, err := c.PactDiff(ctx, pos[0], versions[0], versions[1])
	if err != nil {
		return af.callError("comparing versions of pact "+printable(pos[0]), err)
	}
	if af.json {
		return writeJSON(stdout, d)
	}
	fmt.Fprintf(stdout, "pact %s: version %d (%s) to version %d (%s)\n", printable(d.ID),
		d.From, printable(d.FromDigest), d.To, printable(d.ToDigest))
	if d.Diff == "" {
		fmt.Fprintln(stdout, "No differences.")
		return nil
	}
	for line := range strings.Lines(d.Diff) {
		fmt.Fprintln(stdout, printable(strings.TrimSuffix(line, "\n")))
	}
	return nil
}

func pactEvaluate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pact evaluate", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity pact evaluate ID [flags]\n\n"+
			"Judges the commitments of the pact ID now, over their windows, for every agent\n"+
			"bound to it, and records a violation for each breach not already reported within\n"+
			"its window. It needs a key with the eval scope.\n\n"+
			"Exit status: 0 when every commitment holds (or has no samples), 3 when one is\n"+
			"breached, so that a pipeline can stop on it; 1 on other errors.")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "pact ID", &af)
	if err != nil {
		return err
	}
	ev, err := c.EvaluateCommitments(ctx, id)
	if err != nil {
		return af.callError("evaluating the commitments of pact "+printable(id), err)
	}
	if af.json {
		if err := writeJSON(stdout, ev); err != nil {
			return err
		}
	} else if err := printEvaluation(stdout, id, ev); err != nil {
		return err
	}
	breached := 0
	for _, r := range ev.Results {
		if r.Breached {
			breached++
		}
	}
	if breached > 0 {
		return &codeError{exitBreached, fmt.Sprintf("pact %s: %s breached", printable(id), count(breached, "commitment"))}
	}
	return nil
}

// printEvaluation writes a commitment evaluation as a table, then why each
// breached commitment is breached.
func printEvaluation(w io.Writer, id string, ev client.CommitmentEvaluation) error {
	if len(ev.Results) == 0 {
		fmt.Fprintf(w, "pact %s: no commitments to judge (none, or no agent bound).\n", printable(id))
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tCLAUSE\tMETRIC\tOBSERVED\tOP VALUE\tWINDOW\tSAMPLES\tSTATUS")
	for _, r := range ev.Results {
		observed := "no samples"
		if r.Observed != nil {
			observed = number(*r.Observed)
		}
		status := "held"
		switch {
		case r.Breached && r.Violation != nil:
			status = "BREACHED → violation " + printable(r.Violation.ID) + " recorded"
		case r.Breached && r.ReportedAs != "":
			status = "BREACHED (reported as " + printable(r.ReportedAs) + ")"
		case r.Breached:
			status = "BREACHED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", orDash(r.AgentID), orDash(r.Clause), orDash(r.Metric),
			observed, printable(r.Op+" "+number(r.Value)), orDash(r.Window), r.Samples, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nEvaluated at %s.\n", ev.EvaluatedAt.UTC().Format(time.RFC3339))
	for _, r := range ev.Results {
		if r.Breached {
			fmt.Fprintf(w, "%s (%s): %s\n", printable(r.Clause), printable(r.AgentID), printable(r.Explanation))
		}
	}
	return nil
}

// number formats x with at most three decimals: 1834.5, 0.013, 2000.
func number(x float64) string {
	return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
}

// maxRecordLine bounds one line of a records file.
const maxRecordLine = 16 << 20

// testedRecord is one record of a records file and where it was.
type testedRecord struct {
	line int
	rec  *record.Record
}

// readRecords reads a JSON Lines file of records, strictly: unknown fields,
// trailing data and records that do not validate are problems. A record is
// validated at now, or at its own time when now is zero.
func readRecords(path string, now time.Time) ([]testedRecord, []problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var recs []testedRecord
	var ps []problem
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxRecordLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r record.Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			ps = append(ps, problem{line: n, column: -1, message: "not a record: " + err.Error()})
			continue
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			ps = append(ps, problem{line: n, column: -1, message: "not a record: data after the JSON object (one record a line)"})
			continue
		}
		at := now
		if at.IsZero() {
			at = r.Time
		}
		for _, fe := range r.Validate(at) {
			ps = append(ps, problem{line: n, column: -1, field: fe.Field, message: fe.Message})
		}
		recs = append(recs, testedRecord{n, &r})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return recs, ps, nil
}

// detector adapts the content detectors to what pact.Check calls: the kinds
// found in text among kinds.
func detector(d *detect.Detector) pact.Detector {
	return func(text string, kinds []string) []string {
		if len(kinds) == 0 {
			return nil
		}
		ks := make([]detect.Kind, len(kinds))
		for i, k := range kinds {
			ks[i] = detect.Kind(k)
		}
		var found []string
		for _, f := range d.Scan(text, ks...) {
			if !slices.Contains(found, string(f.Kind)) {
				found = append(found, string(f.Kind))
			}
		}
		return found
	}
}

// testViolation is a violation found by pact test, at the record that
// broke the clause.
type testViolation struct {
	Line     int    `json:"line"`
	RecordID string `json:"recordId"`
	pact.Violation
}

// clauseCount is how often one clause was broken. Commitments are judged
// over time windows, which pact test does not do: their Violations is null.
type clauseCount struct {
	Clause     string `json:"clause"`
	Kind       string `json:"kind"`
	Severity   string `json:"severity"`
	Violations *int   `json:"violations"`
}

// testReport is the outcome of pact test.
type testReport struct {
	Pact       string          `json:"pact"`
	Digest     string          `json:"digest"`
	Records    int             `json:"records"`
	Checked    int             `json:"checked"`
	Skipped    int             `json:"skipped"` // records of agents the pact does not bind
	Violations []testViolation `json:"violations"`
	Clauses    []clauseCount   `json:"clauses"`
}

// testPact checks recs in order against p, keeping one session per agent
// and session id. When p names agents, records of other agents are skipped.
func testPact(p *pact.Pact, recs []testedRecord, d pact.Detector) testReport {
	rep := testReport{Pact: p.ID, Digest: p.Digest(), Records: len(recs), Violations: []testViolation{}}
	type key struct{ agent, session string }
	sessions := map[key]*pact.Session{}
	for _, tr := range recs {
		r := tr.rec
		if len(p.Agents) > 0 && !slices.Contains(p.Agents, r.AgentID) {
			rep.Skipped++
			continue
		}
		rep.Checked++
		var sess *pact.Session
		if r.SessionID != "" {
			k := key{r.AgentID, r.SessionID}
			if sess = sessions[k]; sess == nil {
				sess = p.NewSession()
				sessions[k] = sess
			}
		}
		for _, v := range p.Check(r, sess, d) {
			rep.Violations = append(rep.Violations, testViolation{tr.line, r.ID, v})
		}
	}
	counts := map[string]int{}
	for _, v := range rep.Violations {
		counts[v.Clause]++
	}
	for _, c := range p.Clauses() {
		cc := clauseCount{Clause: c.ID, Kind: c.Kind, Severity: c.Severity}
		if c.Kind != "commitment" {
			n := counts[c.ID]
			cc.Violations = &n
		}
		delete(counts, c.ID)
		rep.Clauses = append(rep.Clauses, cc)
	}
	// A clause that Clauses does not list (none today) still gets its count.
	for _, v := range rep.Violations {
		if n, ok := counts[v.Clause]; ok {
			rep.Clauses = append(rep.Clauses, clauseCount{Clause: v.Clause, Kind: v.Kind, Severity: v.Severity, Violations: &n})
			delete(counts, v.Clause)
		}
	}
	return rep
}

func pactTest(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pact test", stderr)
	records := fs.String("records", "", "JSON Lines `file` of records to check, one record a line, in order (required)")
	nowFlag := fs.String("now", "", "validate records at this RFC 3339 `time` (default: each record's own time)")
	canaries := fs.String("canaries", "", "comma-separated org canary tokens for outputs clauses that detect canary")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity pact test FILE --records FILE.jsonl [flags]\n\n"+
			"Checks records offline against the pact in FILE, in file order, with one session\n"+
			"per agent and session id, and prints each violation and a count per clause.\n"+
			"Exit 1 when a record breaks a clause. When the pact names agents, records of\n"+
			"other agents are skipped. Commitments are judged over time windows on the\n"+
			"server and are not checked here.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "pact FILE")
	if err != nil {
		return err
	}
	if *records == "" {
		return usagef("pact test: --records is required")
	}
	var now time.Time
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			return usagef("--now: want an RFC 3339 time, such as 2025-06-01T12:00:00Z")
		}
	}
	det, err := detect.New(detect.Options{Canaries: splitList(*canaries)})
	if err != nil {
		return usagef("--canaries: %v", err)
	}
	p, _, err := compileFile(stdout, pos[0])
	if err != nil {
		return err
	}
	recs, ps, err := readRecords(*records, now)
	if err != nil {
		return err
	}
	if len(ps) > 0 {
		printProblems(stdout, *records, ps)
		return fmt.Errorf("%s: %s; nothing was checked", printable(*records), count(len(ps), "problem"))
	}
	rep := testPact(p, recs, detector(det))
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else if err := printReport(stdout, rep); err != nil {
		return err
	}
	if n := len(rep.Violations); n > 0 {
		return fmt.Errorf("%s in %s", count(n, "violation"), printable(*records))
	}
	return nil
}

// printReport writes the violations, then the count per clause.
func printReport(w io.Writer, rep testReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Violations) > 0 {
		fmt.Fprintln(tw, "LINE\tRECORD\tCLAUSE\tSEVERITY\tKIND\tEXPLANATION")
		for _, v := range rep.Violations {
			why := v.Explanation
			if len(v.RecordIDs) > 1 && !containsAll(why, v.RecordIDs) {
				why += " (evidence: " + strings.Join(v.RecordIDs, ", ") + ")"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Line, printable(v.RecordID), printable(v.Clause),
				printable(v.Severity), printable(v.Kind), printable(why))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "CLAUSE\tKIND\tSEVERITY\tVIOLATIONS")
	for _, c := range rep.Clauses {
		n := "not checked"
		if c.Violations != nil {
			n = strconv.Itoa(*c.Violations)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable(c.Clause), printable(c.Kind), printable(c.Severity), n)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\npact %s: %s in %s checked", printable(rep.Pact), count(len(rep.Violations), "violation"), count(rep.Checked, "record"))
	if rep.Skipped > 0 {
		fmt.Fprintf(w, " (%s of other agents skipped)", count(rep.Skipped, "record"))
	}
	fmt.Fprintln(w, ".")
	return nil
}

// containsAll reports whether every id appears in s.
func containsAll(s string, ids []string) bool {
	for _, id := range ids {
		if !strings.Contains(s, id) {
			return false
		}
	}
	return true
}
