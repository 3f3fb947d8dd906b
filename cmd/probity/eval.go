package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/client"
)

// Exit codes of eval run --wait.
const (
	// exitBelow is eval run's answer when --fail-under is given and a
	// suite's pass rate is below it, so that a pipeline can stop on it.
	exitBelow = 4
	// exitInterrupted is eval run's answer when it stopped waiting on an
	// interrupt, leaving the run going (128 + SIGINT, as shells report it).
	exitInterrupted = 130
)

// How eval run --wait follows a run.
const (
	evalPollInterval = 500 * time.Millisecond
	// evalPollFailures is how many polls in a row may fail (the server
	// restarting, a network blip) before waiting gives up.
	evalPollFailures = 20
	progressWidth    = 20 // characters of the progress bar
)

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity eval run|list|show|results|suites|upload|cancel [flags]\n" +
		"  run --agent A --suite S [--wait]  run suites of adversarial cases against an agent's endpoint\n" +
		"  list                              list runs, newest first\n" +
		"  show ID                           a run, its progress and its pass rates per suite and dimension\n" +
		"  results ID                        each graded case of a run, with the checks that failed\n" +
		"  suites                            the suites a run may name\n" +
		"  upload FILE [--id ID]             store a suite or an accuracy dataset for your org\n" +
		"  cancel ID                         stop a queued or running run\n" +
		"Run 'probity eval <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "run":
		return evalRun(ctx, args[1:], stdout, stderr)
	case "list":
		return evalList(ctx, args[1:], stdout, stderr)
	case "show":
		return evalShow(ctx, args[1:], stdout, stderr)
	case "results":
		return evalResults(ctx, args[1:], stdout, stderr)
	case "suites":
		return evalSuites(ctx, args[1:], stdout, stderr)
	case "upload":
		return evalUpload(ctx, args[1:], stdout, stderr)
	case "cancel":
		return evalCancel(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("eval: unknown subcommand %q\n%s", args[0], use)
}

// listFlag is a flag that may be repeated, each value also a
// comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	items := splitList(s)
	if len(items) == 0 {
		return errors.New("empty")
	}
	*l = append(*l, items...)
	return nil
}

func evalRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval run", stderr)
	var af apiFlags
	af.register(fs)
	agent := fs.String("agent", "", "the `id` of the agent to evaluate (required); it needs an endpoint")
	var suites listFlag
	fs.Var(&suites, "suite", "a suite `id` to run (required); repeat the flag or separate ids with commas")
	repeat := fs.Int("repeat", 1, "runs of each case (the server allows 1 to 10)")
	wait := fs.Bool("wait", false, "wait for the run to end, showing progress on stderr, then print its summary")
	failUnder := fs.Float64("fail-under", 0, "with --wait: exit 4 when a suite's pass rate over graded cases is below this `rate` (0 to 1)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity eval run --agent A --suite S [--suite S2 …] [--repeat N] [--wait] [--fail-under RATE] [flags]\n\n"+
			"Queues a run of the suites against the agent's endpoint and prints its id\n"+
			"('probity eval suites' lists the suites). The server runs it; follow it with\n"+
			"'probity eval show ID'.\n\n"+
			"With --wait it polls the run every 500ms, showing progress on stderr, then prints\n"+
			"the pass rates per suite and per dimension with 95% intervals (and, for suites\n"+
			"with attack checks, the attack success rate and the utility under attack).\n"+
			"An interrupt (Ctrl-C) stops waiting and leaves the run going.\n\n"+
			"Exit status: 0 when the run completed; 4 when --fail-under is given and a suite's\n"+
			"pass rate is below it (cases that could not be graded count as neither); 1 when\n"+
			"the run failed or was cancelled, or on other errors; 130 when interrupted.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("eval run takes no arguments, got %q", fs.Args())
	}
	failSet := false
	fs.Visit(func(f *flag.Flag) { failSet = failSet || f.Name == "fail-under" })
	switch {
	case *agent == "":
		return usagef("eval run: --agent is required")
	case len(suites) == 0:
		return usagef("eval run: --suite is required ('probity eval suites' lists them)")
	case *repeat < 1:
		return usagef("--repeat must be 1 or more")
	case failSet && !*wait:
		return usagef("--fail-under needs --wait")
	case failSet && (math.IsNaN(*failUnder) || *failUnder < 0):
		return usagef("--fail-under: want a rate from 0 to 1, such as 0.95")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	run, err := c.StartEval(ctx, *agent, suites, *repeat)
	if err != nil {
		return af.callError("starting an eval run of agent "+printable(*agent), err)
	}
	if !*wait {
		if af.json {
			return writeJSON(stdout, run)
		}
		fmt.Fprintln(stdout, printable(run.ID))
		fmt.Fprintf(stderr, "Queued %s: %s of %s against agent %s. Follow it with 'probity eval show %s'.\n",
			printable(run.ID), count(run.Progress.Total, "case"), listString(run.Suites), printable(run.AgentID), printable(run.ID))
		return nil
	}
	fmt.Fprintf(stderr, "Queued %s: %s of %s against agent %s.\n",
		printable(run.ID), count(run.Progress.Total, "case"), listString(run.Suites), printable(run.AgentID))
	p := newProgress(stderr)
	run, err = waitEval(ctx, c, run, p)
	p.end()
	if err != nil {
		if ctx.Err() != nil {
			return &codeError{exitInterrupted, fmt.Sprintf("stopped waiting; run %s goes on: follow it with 'probity eval show %s'",
				printable(run.ID), printable(run.ID))}
		}
		return fmt.Errorf("%w; run %s may go on: follow it with 'probity eval show %s'",
			af.callError("following run "+printable(run.ID), err), printable(run.ID), printable(run.ID))
	}
	if af.json {
		err = writeJSON(stdout, run)
	} else {
		err = printEvalRun(stdout, run)
	}
	if err != nil {
		return err
	}
	if run.Status != client.EvalCompleted {
		return fmt.Errorf("run %s %s: %s", printable(run.ID), run.Status, orDash(run.Reason))
	}
	if failSet {
		if below := belowThreshold(run, *failUnder); len(below) > 0 {
			return &codeError{exitBelow, fmt.Sprintf("run %s: pass rate below %s in %s: %s", printable(run.ID),
				number(*failUnder), count(len(below), "suite"), strings.Join(below, "; "))}
		}
	}
	return nil
}

// belowThreshold describes each suite of a completed run whose pass rate
// over graded cases is below threshold; a suite with no graded case is below
// any threshold, since errors are never passes.
func belowThreshold(run client.EvalRun, threshold float64) []string {
	var out []string
	for _, id := range run.Suites {
		var s client.EvalSummary
		if run.Summary != nil {
			s = run.Summary.Suites[id]
		}
		r := s.PassRate()
		switch {
		case r.N == 0:
			out = append(out, fmt.Sprintf("%s has no graded cases (%s)", printable(id), count(s.Errors, "error")))
		case r.Rate < threshold:
			out = append(out, fmt.Sprintf("%s %s (%d of %d graded cases passed)", printable(id), percent(r.Rate), r.Count, r.N))
		}
	}
	return out
}

// waitEval polls run until it ends or ctx does, telling p of each poll.
// It returns the last run it read.
func waitEval(ctx context.Context, c *client.Client, run client.EvalRun, p *progress) (client.EvalRun, error) {
	tick := time.NewTicker(evalPollInterval)
	defer tick.Stop()
	p.update(run)
	for failures := 0; !run.Ended(); {
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-tick.C:
		}
		r, err := c.GetEval(ctx, run.ID)
		if err != nil {
			if ctx.Err() != nil {
				return run, ctx.Err()
			}
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status < 500 && ce.Status != http.StatusTooManyRequests {
				return run, err
			}
			if failures++; failures >= evalPollFailures {
				return run, err
			}
			continue
		}
		failures = 0
		run = r
		p.update(run)
	}
	return run, nil
}

// progress shows how far a run is: on a terminal, one line redrawn in
// place; otherwise a line each tenth of the way.
type progress struct {
	w   io.Writer
	tty bool
	now func() time.Time

	t0    time.Time // when the run was first seen under way
	done0 int       // cases done then
	tenth int       // the last tenth printed, off a terminal
	drawn bool      // a line is on the terminal, not yet ended
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w), now: time.Now, tenth: -1}
}

// isTerminal reports whether w is a terminal that takes escape codes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) update(run client.EvalRun) {
	done, total := run.Progress.Done, run.Progress.Total
	now := p.now()
	if p.t0.IsZero() && (run.Status != client.EvalQueued || done > 0) {
		p.t0, p.done0 = now, done
	}
	rate := ""
	if el := now.Sub(p.t0).Seconds(); !p.t0.IsZero() && el > 0 {
		rate = fmt.Sprintf("  %.1f cases/s", float64(done-p.done0)/el)
	}
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	if p.tty {
		n := int(frac * progressWidth)
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d cases  %3.0f%%%s  %s\x1b[K", strings.Repeat("#", n), strings.Repeat(".", progressWidth-n),
			done, total, math.Floor(frac*100), rate, run.Status)
		p.drawn = true
		return
	}
	if tenth := int(frac * 10); tenth > p.tenth {
		p.tenth = tenth
		fmt.Fprintf(p.w, "%s: %d/%d cases  %.0f%%%s  %s\n", printable(run.ID), done, total, math.Floor(frac*100), rate, run.Status)
	}
}

// end ends the line drawn on a terminal.
func (p *progress) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func evalShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval show", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity eval show ID [flags]\n\n"+
			"Shows the run ID: its status and progress, then per suite and per dimension the\n"+
			"cases passed, failed and errors (cases that could not be graded) and the pass\n"+
			"rate over graded cases with its 95% interval; for suites with attack checks also\n"+
			"the attack success rate and the utility under attack. While the run is in\n"+
			"progress the rates cover the cases graded so far.")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "run ID", &af)
	if err != nil {
		return err
	}
	run, err := c.GetEval(ctx, id)
	if err != nil {
		return af.callError("reading run "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, run)
	}
	return printEvalRun(stdout, run)
}

// printEvalRun writes a run and its summary tables.
func printEvalRun(w io.Writer, run client.EvalRun) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Run:", printable(run.ID))
	row("Agent:", printable(run.AgentID))
	suites := listString(run.Suites)
	if run.Repeat > 1 {
		suites += fmt.Sprintf(" (each case %d times)", run.Repeat)
	}
	row("Suites:", suites)
	status := orDash(run.Status)
	if run.Reason != "" {
		status += ": " + printable(run.Reason)
	}
	row("Status:", status)
	row("Progress:", fmt.Sprintf("%d/%d cases", run.Progress.Done, run.Progress.Total))
	if run.ModelVersion != "" {
		row("Model version:", printable(run.ModelVersion))
	}
	trigger := orDash(run.Trigger)
	if run.CreatedBy != "" {
		trigger += " by " + printable(run.CreatedBy)
	}
	row("Trigger:", trigger)
	row("Created:", run.CreatedAt.UTC().Format(time.RFC3339))
	if !run.StartedAt.IsZero() {
		row("Started:", run.StartedAt.UTC().Format(time.RFC3339))
	}
	if !run.FinishedAt.IsZero() {
		took := ""
		if !run.StartedAt.IsZero() {
			took = " (took " + run.FinishedAt.Sub(run.StartedAt).Round(100*time.Millisecond).String() + ")"
		}
		row("Finished:", run.FinishedAt.UTC().Format(time.RFC3339)+took)
	}
	row("Ledger index:", fmt.Sprint(run.LedgerIndex))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if run.Summary == nil || run.Summary.Cases == 0 {
		if run.Ended() {
			fmt.Fprintln(w, "No cases were graded.")
		} else {
			fmt.Fprintln(w, "No cases graded yet.")
		}
		return nil
	}
	return printSummary(w, run)
}

// printSummary writes the suites table, paraphrase agreement, and the
// dimensions table of a run's summary.
func printSummary(w io.Writer, run client.EvalRun) error {
	sum := run.Summary
	ids := slices.Clone(run.Suites)
	for id := range sum.Suites {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	attack := false
	for _, id := range ids {
		s := sum.Suites[id]
		attack = attack || s.AttackSuccessRate != nil || s.UtilityUnderAttack != nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "SUITE\tCASES\tPASSED\tFAILED\tERRORS\tPASS RATE (95% CI)"
	if attack {
		head += "\tATTACK SUCCESS (95% CI)\tUTILITY UNDER ATTACK (95% CI)"
	}
	fmt.Fprintln(tw, head)
	line := func(name string, s client.EvalSummary) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s", name, s.Cases, s.Passed, s.Failed, s.Errors, rateCI(s.PassRate()))
		if attack {
			fmt.Fprintf(tw, "\t%s\t%s", countRateCI(s.AttackSuccessRate), countRateCI(s.UtilityUnderAttack))
		}
		fmt.Fprintln(tw)
	}
	for _, id := range ids {
		if s, ok := sum.Suites[id]; ok {
			line(printable(id), s)
		}
	}
	if len(sum.Suites) > 1 {
		line("(all)", *sum)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, id := range ids {
		if g := sum.Suites[id].GroupAgreement; g != nil {
			if i == 0 || sum.Suites[ids[i-1]].GroupAgreement == nil {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "Paraphrase agreement in %s: %d of %d groups agreed, %s.\n", printable(id), g.Count, g.N, rateCI(*g))
		}
	}
	if len(sum.Dimensions) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	dims := make([]string, 0, len(sum.Dimensions))
	for d := range sum.Dimensions {
		dims = append(dims, d)
	}
	slices.Sort(dims)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIMENSION\tPASSED\tFAILED\tERRORS\tPASS RATE (95% CI)")
	for _, d := range dims {
		ds := sum.Dimensions[d]
		r := client.EvalRate{Count: ds.Passed, N: ds.Passed + ds.Failed, Rate: ds.PassRate, Lo: ds.Lo, Hi: ds.Hi}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", printable(d), ds.Passed, ds.Failed, ds.Errors, rateCI(r))
	}
	return tw.Flush()
}

// percent reads 0.9833 as "98.3%".
func percent(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// rateCI reads "98.3% (94.1–99.5%)", or "-" with no trials.
func rateCI(r client.EvalRate) string {
	if r.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%.1f–%.1f%%)", percent(r.Rate), 100*r.Lo, 100*r.Hi)
}

// countRateCI reads "3/54 5.6% (1.9–15.1%)", or "-" for none.
func countRateCI(r *client.EvalRate) string {
	if r == nil || r.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d %s", r.Count, r.N, rateCI(*r))
}

func evalList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval list", stderr)
	var af apiFlags
	af.register(fs)
	agent := fs.String("agent", "", "only the runs of this agent `id`")
	limit := fs.Int("limit", 50, "list at most this many runs (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity eval list [flags]\n\nLists eval runs, newest first, with their status and progress.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("eval list takes no arguments, got %q", fs.Args())
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	list := func(ctx context.Context, o client.ListOptions) (client.Page[client.EvalRun], error) {
		return c.ListEvals(ctx, *agent, o)
	}
	runs, err := collect(ctx, list, *limit)
	if err != nil {
		return af.callError("listing eval runs", err)
	}
	if af.json {
		return writeJSON(stdout, runs)
	}
	if len(runs) == 0 {
		fmt.Fprintln(stdout, "No eval runs.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGENT\tSUITES\tSTATUS\tPROGRESS\tCREATED")
	for _, r := range runs {
		pct := 0.0
		if r.Progress.Total > 0 {
			pct = math.Floor(100 * float64(r.Progress.Done) / float64(r.Progress.Total))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d (%.0f%%)\t%s\n", printable(r.ID), orDash(r.AgentID), listString(r.Suites),
			orDash(r.Status), r.Progress.Done, r.Progress.Total, pct, r.CreatedAt.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *limit > 0 && len(runs) == *limit {
		fmt.Fprintf(stderr, "Listed the newest %d runs; there may be more (--limit 0 lists all).\n", *limit)
	}
	return nil
}

func evalResults(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval results", stderr)
	var af apiFlags
	af.register(fs)
	failed := fs.Bool("failed", false, "only the cases that did not pass (failed, or could not be graded)")
	suite := fs.String("suite", "", "only the cases of this suite `id`")
	limit := fs.Int("limit", 1000, "list at most this many cases (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity eval results ID [flags]\n\n"+
			"Lists the graded cases of the run ID in case order, and for each case that did\n"+
			"not pass the checks that failed (or could not be graded) with what was seen; for\n"+
			"injection cases also whether the injected goal happened and whether the user's\n"+
			"task got done. Reasons quote the agent's output, escaped. With --json it prints\n"+
			"a JSON array of the results with their grades and full transcripts.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "run ID")
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	id := pos[0]
	if *suite != "" {
		run, err := c.GetEval(ctx, id)
		if err != nil {
			return af.callError("reading run "+printable(id), err)
		}
		if !slices.Contains(run.Suites, *suite) {
			return usagef("--suite %s: run %s has %s", printable(*suite), printable(id), listString(run.Suites))
		}
	}
	out := []client.EvalResult{}
	opts := client.ListOptions{}
	for {
		p, err := c.EvalResults(ctx, id, opts)
		if err != nil {
			return af.callError("listing the results of run "+printable(id), err)
		}
		for _, r := range p.Items {
			if (*suite == "" || r.Suite == *suite) && (!*failed || r.Status != client.CasePassed) {
				out = append(out, r)
			}
		}
		if (*limit > 0 && len(out) >= *limit) || p.NextCursor == "" || p.NextCursor == opts.Cursor {
			break
		}
		opts.Cursor = p.NextCursor
	}
	more := *limit > 0 && len(out) >= *limit
	if more {
		out = out[:*limit]
	}
	if af.json {
		return writeJSON(stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(stdout, "No results.")
		return nil
	}
	if err := printResults(stdout, out); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(stderr, "Listed the first %d results; there may be more (--limit 0 lists all).\n", *limit)
	}
	return nil
}

// printResults writes results as a table, with a row for each finding of
// a case that did not pass. Case ids, checks and reasons go through
// printable: reasons quote the agent's output.
func printResults(w io.Writer, rs []client.EvalResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSUITE\tCASE\tSTATUS\tCHECK\tREASON")
	for _, r := range rs {
		name := printable(r.CaseID)
		if r.Repeat > 0 {
			name += fmt.Sprintf(" (repeat %d)", r.Repeat+1)
		}
		lead := fmt.Sprintf("%d\t%s\t%s\t%s", r.Seq, printable(r.Suite), name, orDash(r.Status))
		findings := resultFindings(r)
		if len(findings) == 0 {
			fmt.Fprintln(tw, lead+"\t\t")
		}
		for i, f := range findings {
			if i > 0 {
				lead = "\t\t\t"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", lead, orDash(f[0]), orDash(f[1]))
		}
	}
	return tw.Flush()
}

// resultFindings lists, as check and reason, what made a case not pass:
// each check that failed or could not be graded, and why the target could
// not run it; then, for injection cases, the injected goal happening and
// the user's task not getting done.
func resultFindings(r client.EvalResult) [][2]string {
	var out [][2]string
	if r.Status != client.CasePassed {
		for _, ch := range r.Grade.Checks {
			switch {
			case ch.Error:
				out = append(out, [2]string{ch.Check, "could not be graded: " + ch.Reason})
			case !ch.Passed:
				out = append(out, [2]string{ch.Check, ch.Reason})
			}
		}
		var t struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(r.Transcript, &t) == nil && t.Error != "" {
			out = append(out, [2]string{"target", t.Error})
		}
	}
	if a := r.Grade.Attack; a != nil && *a {
		out = append(out, [2]string{"attack", "the injected goal happened"})
	}
	if u := r.Grade.Utility; u != nil && !*u {
		why := "the user's task was not done"
		for _, ch := range r.Grade.UtilityChecks {
			if !ch.Passed {
				why += "; " + ch.Check + ": " + ch.Reason
			}
		}
		out = append(out, [2]string{"utility", why})
	}
	return out
}

func evalSuites(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval suites", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity eval suites [flags]\n\n"+
			"Lists the suites a run may name, with their cases, the trust-score dimensions\n"+
			"they are evidence for, and their OWASP Top 10 for LLM applications (2025) ids.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("eval suites takes no arguments, got %q", fs.Args())
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	suites, err := collect(ctx, c.ListSuites, 0)
	if err != nil {
		return af.callError("listing suites", err)
	}
	if af.json {
		return writeJSON(stdout, suites)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCASES\tDIMENSIONS\tOWASP\tDESCRIPTION")
	for _, s := range suites {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", printable(s.ID), s.Cases, listString(s.Dimensions), listString(s.OWASP), orDash(s.Description))
	}
	return tw.Flush()
}

func evalCancel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval cancel", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity eval cancel ID [flags]\n\n"+
			"Stops the queued or running run ID. The results it stored stay. It needs a key\n"+
			"with the eval scope; a run that has already ended cannot be cancelled (exit 1).")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "run ID", &af)
	if err != nil {
		return err
	}
	run, err := c.CancelEval(ctx, id)
	if err != nil {
		return af.callError("cancelling run "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, run)
	}
	fmt.Fprintf(stdout, "Cancelled run %s: %d of %d cases were graded; their results stay.\n",
		printable(run.ID), run.Progress.Done, run.Progress.Total)
	return nil
}

func evalUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval upload", stderr)
	var af apiFlags
	af.register(fs)
	id := fs.String("id", "", "the suite id of a dataset (a suite document names its own)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity eval upload FILE [--id ID] [flags]\n\n"+
			"Stores a suite for your org: a suite document (.yaml, .yml or .json, the format of\n"+
			"docs/evals.md) or an accuracy dataset (.jsonl, one {\"id\",\"input\",\"expected\",\"check\"}\n"+
			"per line, named with --id). Uploaded suites are immutable: the same content again\n"+
			"changes nothing; other content under a used id is refused. A file that does not\n"+
			"load has every problem printed as FILE:line:column: field: message (exit 1).")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1, "suite FILE")
	if err != nil {
		return err
	}
	name := pos[0]
	src, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("reading %s: %w", printable(name), err)
	}
	ct := client.SuiteYAML
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		ct = client.SuiteJSON
	case ".jsonl", ".ndjson":
		ct = client.DatasetJSONL
		if *id == "" {
			return usagef("eval upload: a dataset (%s) needs --id naming its suite", printable(name))
		}
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	s, created, err := c.UploadSuite(ctx, src, ct, *id)
	var ce *client.Error
	if errors.As(err, &ce) && len(ce.Details) > 0 {
		ps := make([]problem, len(ce.Details))
		for i, d := range ce.Details {
			ps[i] = problem{d.Line, d.Column, d.Field, d.Message}
		}
		printProblems(stdout, name, ps)
	}
	if err != nil {
		return af.callError("uploading "+printable(name), err)
	}
	if af.json {
		return writeJSON(stdout, s)
	}
	what := "Stored"
	if !created {
		what = "Unchanged:"
	}
	fmt.Fprintf(stdout, "%s %s %s: %d cases, %s, %s (ledger index %d).\n", what, s.Kind, printable(s.ID), s.Cases,
		listString(s.Dimensions), printable(s.Digest), s.LedgerIndex)
	return nil
}
