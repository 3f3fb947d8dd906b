package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/client"
)

func runIncident(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity incident list|show|ack|resolve [flags]\n" +
		"  list [--agent --status --severity --rule --since]   incidents, newest first\n" +
		"  show ID                                            one incident: what was observed, the evidence, the history\n" +
		"  ack ID [--note TEXT]                               acknowledge an open incident\n" +
		"  resolve ID --root-cause TEXT                       resolve it with its root cause\n" +
		"Run 'probity incident <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "list":
		return incidentList(ctx, args[1:], stdout, stderr)
	case "show":
		return incidentShow(ctx, args[1:], stdout, stderr)
	case "ack", "acknowledge":
		return incidentAck(ctx, args[1:], stdout, stderr)
	case "resolve":
		return incidentResolve(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("incident: unknown subcommand %q\n%s", args[0], use)
}

func incidentList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("incident list", stderr)
	var af apiFlags
	af.register(fs)
	var f client.IncidentFilter
	fs.StringVar(&f.AgentID, "agent", "", "only incidents of this agent `id`")
	fs.StringVar(&f.Status, "status", "", "only incidents in this `status`: open, acknowledged, resolved, or active (open and acknowledged)")
	fs.StringVar(&f.Severity, "severity", "", "only incidents of this `severity`: critical, high or medium")
	fs.StringVar(&f.Rule, "rule", "", "only incidents of this `rule`, such as confirmed-injection or model-update-shift")
	since := fs.String("since", "", "only incidents changed at or after this RFC 3339 `time`")
	limit := fs.Int("limit", 1000, "list at most this many incidents (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity incident list [flags]\n\n"+
			"Lists behavioral security incidents, newest first: severity, status, agent, rule and\n"+
			"title. With --json it prints a JSON array of the incidents with their evidence.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("incident list takes no arguments, got %q", fs.Args())
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			return usagef("--since: want an RFC 3339 time, such as 2026-11-02T15:04:05Z")
		}
		f.Since = t
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	list := func(ctx context.Context, o client.ListOptions) (client.Page[client.Incident], error) {
		f.ListOptions = o
		return c.ListIncidents(ctx, f)
	}
	ins, err := collect(ctx, list, *limit)
	if err != nil {
		return af.callError("listing incidents", err)
	}
	if af.json {
		return writeJSON(stdout, ins)
	}
	if len(ins) == 0 {
		fmt.Fprintln(stdout, "No incidents.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tSTATUS\tAGENT\tRULE\tOPENED\tTITLE")
	for _, in := range ins {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(in.ID), printable(in.Severity), printable(in.Status), printable(in.AgentID),
			printable(in.Rule), in.OpenedAt.UTC().Format(time.RFC3339), printable(in.Title))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *limit > 0 && len(ins) == *limit {
		fmt.Fprintf(stderr, "Listed the first %d incidents; there may be more (--limit 0 lists all).\n", *limit)
	}
	return nil
}

func incidentShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("incident show", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity incident show ID [flags]\n\n"+
			"Shows an incident: its rule, what was observed against which threshold over which\n"+
			"window, the playbook, its evidence with ledger indexes, and every transition with its\n"+
			"ledger leaf ('probity verify record' checks a record's inclusion).")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "ID", &af)
	if err != nil {
		return err
	}
	in, err := c.GetIncident(ctx, id)
	if err != nil {
		return af.callError("getting incident "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, in)
	}
	return printIncident(stdout, in)
}

// printIncident writes an incident. Everything in it comes from the server
// and may quote agents: text goes through printable.
func printIncident(w io.Writer, in client.Incident) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Incident:", printable(in.ID))
	row("Title:", printable(in.Title))
	row("Agent:", printable(in.AgentID))
	row("Rule:", printable(in.Rule))
	row("Severity:", printable(in.Severity))
	row("Status:", printable(in.Status))
	row("Threshold:", printable(in.Threshold))
	if in.Window != "" {
		row("Window:", printable(in.Window))
	}
	keys := make([]string, 0, len(in.Observed))
	for k := range in.Observed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var obs []string
	for _, k := range keys {
		obs = append(obs, fmt.Sprintf("%s=%v", k, in.Observed[k]))
	}
	row("Observed:", printable(strings.Join(obs, " ")))
	row("Playbook:", listOrNone(in.Playbook))
	row("Opened:", in.OpenedAt.UTC().Format(time.RFC3339)+fmt.Sprintf(" (ledger index %d)", in.LedgerIndex))
	if in.AcknowledgedAt != nil {
		row("Acknowledged:", in.AcknowledgedAt.UTC().Format(time.RFC3339)+" by "+printable(in.AcknowledgedBy))
	}
	if in.ResolvedAt != nil {
		row("Resolved:", in.ResolvedAt.UTC().Format(time.RFC3339)+" by "+printable(in.ResolvedBy))
		row("Root cause:", printable(in.RootCause))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nEvidence (%d shown of %d):\n", len(in.Evidence), in.EvidenceCount)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tLEDGER\tTIME\tNOTE")
	for _, e := range in.Evidence {
		leaf := "-"
		if e.LedgerIndex != nil {
			leaf = fmt.Sprint(*e.LedgerIndex)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(e.Kind), printable(e.ID), leaf, e.Time.UTC().Format(time.RFC3339), printable(e.Note))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nHistory:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tAT\tBY\tLEDGER\tNOTE")
	for _, h := range in.History {
		note := h.Note
		if h.Evidence > 0 {
			note = strings.TrimSpace(fmt.Sprintf("%d evidence item(s) %s", h.Evidence, note))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", printable(h.Action), h.At.UTC().Format(time.RFC3339), printable(h.By), h.LedgerIndex, printable(note))
	}
	return tw.Flush()
}

func incidentAck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("incident ack", stderr)
	var af apiFlags
	af.register(fs)
	note := fs.String("note", "", "a note for the record, such as who is on it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity incident ack ID [--note TEXT] [flags]\n\n"+
			"Acknowledges an open incident (an admin key). An incident that is not open is refused.")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "ID", &af)
	if err != nil {
		return err
	}
	in, err := c.AcknowledgeIncident(ctx, id, *note)
	if err != nil {
		return af.callError("acknowledging incident "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, in)
	}
	fmt.Fprintf(stdout, "Incident %s is %s.\n", printable(in.ID), printable(in.Status))
	return nil
}

func incidentResolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("incident resolve", stderr)
	var af apiFlags
	af.register(fs)
	cause := fs.String("root-cause", "", "the root cause of the incident (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity incident resolve ID --root-cause TEXT [flags]\n\n"+
			"Resolves an open or acknowledged incident with its root cause (an admin key). It does\n"+
			"not reactivate a suspended agent: 'probity agent reactivate' does, and resolves with its\n"+
			"root cause the incidents that suspended the agent.")
		fs.PrintDefaults()
	}
	id, c, err := argAndClient(fs, args, "ID", &af)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*cause) == "" {
		return usagef("incident resolve: --root-cause is required: record why the incident happened")
	}
	in, err := c.ResolveIncident(ctx, id, *cause)
	if err != nil {
		return af.callError("resolving incident "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, in)
	}
	fmt.Fprintf(stdout, "Incident %s is %s.\n", printable(in.ID), printable(in.Status))
	return nil
}
