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
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/client"
)

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity events send FILE.jsonl [flags]\n" +
		"  send FILE.jsonl   send records, one JSON object a line, and show the violations they committed\n" +
		"Run 'probity events <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "send":
		return eventsSend(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("events: unknown subcommand %q\n%s", args[0], use)
}

// lineEvent is one record of an events file, as its line had it.
type lineEvent struct {
	line int
	raw  json.RawMessage
}

// Bounds of what events send lists: bad lines before it gives up, and
// conflicting ids over all batches.
const (
	maxEventProblems = 100
	maxConflictIDs   = 10
)

// readEvents reads a JSON Lines file of records, or stdin for "-", and
// returns the name to show in messages. Blank lines are skipped; a line that
// is not a JSON object is a problem. Records are checked by the server.
func readEvents(path string) ([]lineEvent, []problem, string, error) {
	r, name := io.Reader(os.Stdin), "<stdin>"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, "", err
		}
		defer f.Close()
		r, name = f, path
	}
	var evs []lineEvent
	var ps []problem
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRecordLine)
	for n := 1; sc.Scan() && len(ps) < maxEventProblems; n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if line[0] != '{' {
			ps = append(ps, problem{line: n, column: -1, message: "not a JSON object (one record a line)"})
			continue
		}
		if err := json.Unmarshal(line, &obj); err != nil {
			ps = append(ps, problem{line: n, column: -1, message: "not JSON: " + err.Error()})
			continue
		}
		evs = append(evs, lineEvent{n, bytes.Clone(line)})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, "", fmt.Errorf("reading %s: %w", printable(name), err)
	}
	return evs, ps, name, nil
}

// batches splits evs into runs of at most size events whose request body
// stays within client.MaxBatchBytes (an event too large on its own is a
// batch of one, which the server refuses).
func batches(evs []lineEvent, size int) [][]lineEvent {
	const overhead = len(`{"events":[]}`)
	var out [][]lineEvent
	for start := 0; start < len(evs); {
		end, n := start, overhead
		for end < len(evs) && end-start < size && (end == start || n+len(evs[end].raw)+1 <= client.MaxBatchBytes) {
			n += len(evs[end].raw) + 1
			end++
		}
		out = append(out, evs[start:end])
		start = end
	}
	return out
}

// sendReport is what events send did, over every batch sent.
type sendReport struct {
	File    string `json:"file"`
	Events  int    `json:"events"` // in the file
	Sent    int    `json:"sent"`   // in batches the server took
	Batches int    `json:"batches"`
	client.IngestResult

	lastLine int // of the last event sent
}

func eventsSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("events send", stderr)
	var af apiFlags
	af.register(fs)
	size := fs.Int("batch", 1000, fmt.Sprintf("events per request, 1 to %d", client.MaxBatchEvents))
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity events send FILE.jsonl [flags]\n\n"+
			"Sends the records in FILE ('-' for stdin), one JSON object a line (blank lines\n"+
			"are skipped), in file order, in batches. A line that is not JSON stops it before\n"+
			"anything is sent. Then it prints how many records were accepted, duplicates\n"+
			"(already stored) and conflicts (an id stored with other content), and every\n"+
			"violation the records committed against their agents' pacts.\n\n"+
			"A batch the server rejects has each problem printed as FILE:line: field: message\n"+
			"(exit 1); nothing of that batch is stored, and the batches before it stay stored.\n"+
			"Sending a file again is safe: its records count as duplicates.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "events FILE")
	if err != nil {
		return err
	}
	if *size < 1 || *size > client.MaxBatchEvents {
		return usagef("--batch must be between 1 and %d", client.MaxBatchEvents)
	}
	evs, ps, name, err := readEvents(pos[0])
	if err != nil {
		return err
	}
	if len(ps) > 0 {
		printProblems(stderr, name, ps)
		return fmt.Errorf("%s: %s; nothing was sent", printable(name), count(len(ps), "problem"))
	}
	if len(evs) == 0 {
		return fmt.Errorf("%s: no records; nothing was sent", printable(name))
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	bs := batches(evs, *size)
	rep := sendReport{File: name, Events: len(evs), IngestResult: client.IngestResult{Violations: []client.Violation{}}}
	for i, b := range bs {
		raws := make([]json.RawMessage, len(b))
		for j, ev := range b {
			raws[j] = ev.raw
		}
		res, err := c.SendEvents(ctx, raws)
		if err != nil {
			return sendFailed(&af, stdout, stderr, rep, b, len(bs), err)
		}
		rep.Batches++
		rep.Sent += len(b)
		rep.lastLine = b[len(b)-1].line
		rep.Accepted += res.Accepted
		rep.Duplicates += res.Duplicates
		rep.Conflicts += res.Conflicts
		for _, id := range res.ConflictIDs {
			if len(rep.ConflictIDs) < maxConflictIDs {
				rep.ConflictIDs = append(rep.ConflictIDs, id)
			}
		}
		rep.Violations = append(rep.Violations, res.Violations...)
		if len(bs) > 1 {
			fmt.Fprintf(stderr, "sent %d/%d events (batch %d of %d)\n", rep.Sent, rep.Events, i+1, len(bs))
		}
	}
	return printSent(stdout, af.json, rep)
}

// sendFailed reports a batch that failed: the server's problems with the
// file line of each event, and what the batches before it stored.
func sendFailed(af *apiFlags, stdout, stderr io.Writer, rep sendReport, b []lineEvent, nbatches int, err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusBadRequest && len(ce.Details) > 0 {
		ps := make([]problem, len(ce.Details))
		for i, d := range ce.Details {
			line := 0
			if d.Index >= 0 && d.Index < len(b) {
				line = b[d.Index].line
			}
			ps[i] = problem{line: line, column: -1, field: d.Field, message: d.Message}
		}
		printCollapsed(stderr, rep.File, ps, 3)
	}
	what := fmt.Sprintf("sending batch %d of %d (lines %d-%d of %s)", rep.Batches+1, nbatches,
		b[0].line, b[len(b)-1].line, printable(rep.File))
	err = af.callError(what, err)
	if rep.Sent == 0 {
		return fmt.Errorf("%w; no batch was stored", err)
	}
	if perr := printSent(stdout, af.json, rep); perr != nil {
		return perr
	}
	return fmt.Errorf("%w; the %s before it (up to line %d) were sent and stay stored",
		err, count(rep.Sent, "event"), rep.lastLine)
}

// printSent writes the totals of events send and the violations found.
func printSent(w io.Writer, asJSON bool, rep sendReport) error {
	if asJSON {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "Sent %d of %d events from %s: %d accepted, %s, %s.\n", rep.Sent, rep.Events, printable(rep.File),
		rep.Accepted, count(rep.Duplicates, "duplicate"), count(rep.Conflicts, "conflict"))
	if len(rep.ConflictIDs) > 0 {
		fmt.Fprintf(w, "Conflicting ids (the first records stand): %s.\n", listString(rep.ConflictIDs))
	}
	if len(rep.Violations) == 0 {
		fmt.Fprintln(w, "No violations.")
		return nil
	}
	fmt.Fprintf(w, "%s:\n\n", count(len(rep.Violations), "violation"))
	return printViolations(w, rep.Violations)
}

// printViolations writes violations as a table. Everything but the times
// comes from agents or pacts, so all of it goes through printable.
func printViolations(w io.Writer, vs []client.Violation) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tAGENT\tSEVERITY\tCLAUSE\tKIND\tEVIDENCE\tEXPLANATION")
	for _, v := range vs {
		kind := orDash(v.Kind)
		if v.Confirmed {
			kind += " (confirmed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", orDash(v.ID), v.Time.UTC().Format(time.RFC3339),
			orDash(v.AgentID), orDash(v.Severity), orDash(v.Clause), kind,
			orDash(strings.Join(v.RecordIDs, ",")), orDash(v.Explanation))
	}
	return tw.Flush()
}

func runViolations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("violations", stderr)
	var af apiFlags
	af.register(fs)
	var f client.ViolationFilter
	fs.StringVar(&f.AgentID, "agent", "", "only violations by this agent `id`")
	fs.StringVar(&f.Clause, "clause", "", "only violations of this clause `id`, such as refund-limit, scope.tools or injection.influenced")
	fs.StringVar(&f.Severity, "severity", "", "only violations of this severity: critical, major, minor or info")
	fs.StringVar(&f.Kind, "kind", "", "only violations of this `kind`, such as forbidden_sequence or injection_influenced")
	from := fs.String("from", "", "only violations at or after this RFC 3339 `time`")
	to := fs.String("to", "", "only violations before this RFC 3339 `time`")
	limit := fs.Int("limit", 1000, "list at most this many violations (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity violations [flags]\n\n"+
			"Lists the violations of pacts, oldest first: records that broke a clause, commitments\n"+
			"breached over their windows, and tool calls influenced by injected content\n"+
			"(\"confirmed\" when the call also broke the pact). With --json it prints a JSON array.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("violations takes no arguments, got %q", fs.Args())
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	for _, p := range []struct {
		name, s string
		t       *time.Time
	}{{"from", *from, &f.From}, {"to", *to, &f.To}} {
		if p.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.s)
		if err != nil {
			return usagef("--%s: want an RFC 3339 time, such as 2026-11-02T15:04:05Z", p.name)
		}
		*p.t = t
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	list := func(ctx context.Context, o client.ListOptions) (client.Page[client.Violation], error) {
		f.ListOptions = o
		return c.ListViolations(ctx, f)
	}
	vs, err := collect(ctx, list, *limit)
	if err != nil {
		return af.callError("listing violations", err)
	}
	if af.json {
		return writeJSON(stdout, vs)
	}
	if len(vs) == 0 {
		fmt.Fprintln(stdout, "No violations.")
		return nil
	}
	if err := printViolations(stdout, vs); err != nil {
		return err
	}
	if *limit > 0 && len(vs) == *limit {
		fmt.Fprintf(stderr, "Listed the first %d violations; there may be more (--limit 0 lists all).\n", *limit)
	}
	return nil
}

// printCollapsed prints problems as printProblems does, but at most keep
// of those that share a field and message (a batch naming an unregistered
// agent fails on every line), then one line counting the rest.
func printCollapsed(w io.Writer, name string, ps []problem, keep int) {
	type key struct{ field, message string }
	seen := map[key]int{}
	var order []key
	for _, p := range ps {
		k := key{p.field, p.message}
		if seen[k] == 0 {
			order = append(order, k)
		}
		if seen[k]++; seen[k] <= keep {
			printProblems(w, name, []problem{p})
		}
	}
	for _, k := range order {
		if n := seen[k] - keep; n > 0 {
			msg := printable(k.message)
			if k.field != "" {
				msg = printable(k.field) + ": " + msg
			}
			fmt.Fprintf(w, "%s: … and %d more %s with the same problem: %s\n", printable(name), n, plural(n, "line"), msg)
		}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
