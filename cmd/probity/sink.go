package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/client"
)

func runSink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity sink create|list|show|delete|deliveries|replay [flags]\n" +
		"  create      add a webhook, syslog or Splunk HEC destination for events\n" +
		"  list        the org's sinks\n" +
		"  show ID     one sink\n" +
		"  delete ID   remove a sink and its deliveries\n" +
		"  deliveries ID [--status pending|sent|dead]   a sink's deliveries and their tries\n" +
		"  replay ID (--dead | DELIVERY_ID...)          send deliveries again\n" +
		"Run 'probity sink <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "create":
		return sinkCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return sinkList(ctx, args[1:], stdout, stderr)
	case "show":
		return sinkShow(ctx, args[1:], stdout, stderr)
	case "delete":
		return sinkDelete(ctx, args[1:], stdout, stderr)
	case "deliveries":
		return sinkDeliveries(ctx, args[1:], stdout, stderr)
	case "replay":
		return sinkReplay(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("sink: unknown subcommand %q\n%s", args[0], use)
}

func sinkCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sink create", stderr)
	var af apiFlags
	af.register(fs)
	var in client.SinkInput
	fs.StringVar(&in.Name, "name", "", "a name for people")
	fs.StringVar(&in.Kind, "kind", "", "webhook, syslog or splunk_hec (required)")
	fs.StringVar(&in.Format, "format", "", "json or ocsf (webhook, splunk_hec; default json); cef (syslog, the default)")
	fs.StringVar(&in.URL, "url", "", "webhook or HEC `URL`; a HEC URL without a path gets /services/collector/event")
	fs.StringVar(&in.Network, "network", "", "syslog transport: udp, tcp (default) or tls")
	fs.StringVar(&in.Address, "address", "", "syslog receiver `host:port`")
	fs.StringVar(&in.Facility, "facility", "", "syslog facility (default local0)")
	fs.StringVar(&in.Hostname, "hostname", "", "syslog HOSTNAME and HEC host (default: the server's host name)")
	fs.StringVar(&in.Index, "index", "", "HEC index")
	fs.StringVar(&in.Source, "source", "", "HEC source (default probity)")
	fs.StringVar(&in.SourceType, "sourcetype", "", "HEC sourcetype (default probity:json or probity:ocsf)")
	caFile := fs.String("ca-file", "", "PEM `file` of the certificates that verify the receiver (tls, https)")
	fs.BoolVar(&in.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the receiver's certificate (tests only)")
	fs.StringVar(&in.Secret, "secret", "", "webhook signing secret (default: the server makes one and prints it once)")
	tokenEnv := fs.String("token-env", "", "environment `variable` holding the HEC token (a flag would show in ps)")
	fs.StringVar(&in.MinSeverity, "min-severity", "", "only events at least this severe: critical, high, medium, low or info (default info)")
	types := fs.String("event-types", "", "comma-separated event types to take (default: every type)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity sink create --kind KIND [flags]\n\n"+
			"  probity sink create --kind webhook --url https://soar.example.com/hooks/probity --min-severity high\n"+
			"  probity sink create --kind syslog --network tls --address siem.example.com:6514 --ca-file ca.pem\n"+
			"  PROBITY_HEC_TOKEN=… probity sink create --kind splunk_hec --url https://splunk:8088 --token-env PROBITY_HEC_TOKEN --format ocsf")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("sink create takes no arguments, got %q", fs.Args())
	}
	if in.Kind == "" {
		return usagef("--kind is required: webhook, syslog or splunk_hec")
	}
	in.EventTypes = splitList(*types)
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("reading --ca-file: %w", err)
		}
		in.CAPEM = string(b)
	}
	if *tokenEnv != "" {
		if in.Token = os.Getenv(*tokenEnv); in.Token == "" {
			return usagef("--token-env: the environment variable %s is empty or not set", *tokenEnv)
		}
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	sk, secret, err := c.CreateSink(ctx, in)
	if err != nil {
		return af.callError("creating the sink", err)
	}
	if af.json {
		return writeJSON(stdout, struct {
			client.Sink
			Secret string `json:"secret,omitempty"`
		}{sk, secret})
	}
	fmt.Fprintf(stdout, "Created sink %s (%s, %s) to %s.\n", sk.ID, sk.Kind, sk.Format, printable(destination(sk)))
	if secret != "" {
		fmt.Fprintf(stdout, "Signing secret (shown this once; receivers verify Probity-Signature with it):\n%s\n", secret)
	}
	return nil
}

// destination is where a sink sends: its URL, or network://address.
func destination(sk client.Sink) string {
	if sk.URL != "" {
		return sk.URL
	}
	return sk.Network + "://" + sk.Address
}

func sinkList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sink list", stderr)
	var af apiFlags
	af.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("sink list takes no arguments, got %q", fs.Args())
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	sinks, err := collect(ctx, c.ListSinks, 0)
	if err != nil {
		return af.callError("listing sinks", err)
	}
	if af.json {
		return writeJSON(stdout, sinks)
	}
	if len(sinks) == 0 {
		fmt.Fprintln(stdout, "No sinks. Add one with 'probity sink create'.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tFORMAT\tDESTINATION\tMIN SEVERITY\tEVENT TYPES")
	for _, sk := range sinks {
		types := strings.Join(sk.EventTypes, ",")
		if types == "" {
			types = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sk.ID, printable(orDash(sk.Name)), sk.Kind, sk.Format, printable(destination(sk)), sk.MinSeverity, types)
	}
	return tw.Flush()
}

func sinkShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sink show", stderr)
	var af apiFlags
	af.register(fs)
	id, c, err := argAndClient(fs, args, "sink id", &af)
	if err != nil {
		return err
	}
	sk, err := c.GetSink(ctx, id)
	if err != nil {
		return af.callError("reading sink "+id, err)
	}
	if af.json {
		return writeJSON(stdout, sk)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, printable(v))
		}
	}
	row("id", sk.ID)
	row("name", sk.Name)
	row("kind", sk.Kind)
	row("format", sk.Format)
	row("destination", destination(sk))
	row("facility", sk.Facility)
	row("hostname", sk.Hostname)
	row("index", sk.Index)
	row("source", sk.Source)
	row("sourcetype", sk.SourceType)
	if sk.CAPEM != "" {
		row("tls", "verified with the CA given")
	} else if sk.InsecureSkipVerify {
		row("tls", "NOT verified (insecure-skip-verify)")
	}
	row("min severity", sk.MinSeverity)
	types := strings.Join(sk.EventTypes, ", ")
	if types == "" {
		types = "all"
	}
	row("event types", types)
	row("created", sk.CreatedAt.Format(time.RFC3339)+" by "+orDash(sk.CreatedBy))
	return tw.Flush()
}

func sinkDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sink delete", stderr)
	var af apiFlags
	af.register(fs)
	id, c, err := argAndClient(fs, args, "sink id", &af)
	if err != nil {
		return err
	}
	if err := c.DeleteSink(ctx, id); err != nil {
		return af.callError("deleting sink "+id, err)
	}
	fmt.Fprintf(stdout, "Deleted sink %s and its deliveries.\n", id)
	return nil
}

func sinkDeliveries(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sink deliveries", stderr)
	var af apiFlags
	af.register(fs)
	status := fs.String("status", "", "only deliveries in this state: pending, sent or dead")
	limit := fs.Int("limit", 100, "list at most this many, newest first (0: all)")
	id, c, err := argAndClient(fs, args, "sink id", &af)
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	list := func(ctx context.Context, o client.ListOptions) (client.Page[client.Delivery], error) {
		return c.ListDeliveries(ctx, id, client.DeliveryFilter{Status: *status, ListOptions: o})
	}
	ds, err := collect(ctx, list, *limit)
	if err != nil {
		return af.callError("listing the deliveries of sink "+id, err)
	}
	if af.json {
		return writeJSON(stdout, ds)
	}
	if len(ds) == 0 {
		fmt.Fprintln(stdout, "No deliveries.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY\tEVENT\tSEVERITY\tAGENT\tSTATUS\tTRIES\tLAST ANSWER\tCREATED")
	for _, d := range ds {
		last := "-"
		switch {
		case d.LastError != "":
			last = d.LastError
		case d.LastStatusCode != 0:
			last = fmt.Sprintf("HTTP %d", d.LastStatusCode)
		case d.Status == "sent":
			last = "written"
		}
		if len(last) > 60 {
			last = last[:57] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventType, d.Severity, printable(orDash(d.AgentID)), d.Status, len(d.Log),
			printable(last), d.CreatedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *limit > 0 && len(ds) == *limit {
		fmt.Fprintf(stderr, "Listed the newest %d deliveries; there may be more (--limit 0 lists all).\n", *limit)
	}
	return nil
}

func sinkReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sink replay", stderr)
	var af apiFlags
	af.register(fs)
	dead := fs.Bool("dead", false, "send every dead letter of the sink again")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity sink replay SINK_ID (--dead | DELIVERY_ID...)\n\n"+
			"Queues deliveries again, due now with a fresh count of tries. Receivers see the same\n"+
			"Probity-Delivery id again.")
		fs.PrintDefaults()
	}
	pos, err := positional(fs, args, 1, 1+1000, "sink id")
	if err != nil {
		return err
	}
	id, ids := pos[0], pos[1:]
	if *dead == (len(ids) > 0) {
		return usagef("name the deliveries to send again, or --dead for every dead letter (not both)")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var n int
	if *dead {
		n, err = c.ReplayDeadLetters(ctx, id)
	} else {
		n, err = c.ReplayDeliveries(ctx, id, ids)
	}
	if err != nil {
		return af.callError("replaying deliveries of sink "+id, err)
	}
	if af.json {
		return writeJSON(stdout, map[string]int{"replayed": n})
	}
	fmt.Fprintf(stdout, "Queued %d deliveries again.\n", n)
	return nil
}
