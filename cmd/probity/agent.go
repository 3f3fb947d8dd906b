package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
)

// apiFlags are the flags of the commands that call a server through the SDK.
type apiFlags struct {
	server, key, data string
	json              bool
}

const defaultServer = "http://127.0.0.1:7411"

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", env("PROBITY_SERVER", defaultServer), "URL of the Probity server (PROBITY_SERVER)")
	// No default from the environment here: -h prints defaults, and the key is a secret.
	fs.StringVar(&f.key, "key", "", "API key (default $PROBITY_KEY, else the admin.key in --data); prefer the variable, a flag shows in ps")
	fs.StringVar(&f.data, "data", env("PROBITY_DATA", app.Default().DataDir), "data directory whose admin.key is used without --key or PROBITY_KEY (PROBITY_DATA)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
}

// client builds an SDK client for --server with the key found by apiKey.
func (f *apiFlags) client() (*client.Client, error) {
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--server %q: want an http:// or https:// URL", f.server)
	}
	key, err := f.apiKey()
	if err != nil {
		return nil, err
	}
	return client.New(f.server, key), nil
}

// apiKey is --key, else $PROBITY_KEY, else the contents of <data>/admin.key.
func (f *apiFlags) apiKey() (string, error) {
	if f.key != "" {
		return f.key, nil
	}
	if k := os.Getenv("PROBITY_KEY"); k != "" {
		return k, nil
	}
	path := filepath.Join(f.data, app.AdminKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no API key: pass --key, set PROBITY_KEY, or point --data (PROBITY_DATA) at the server's data directory (%s does not exist)", path)
	}
	if err != nil {
		return "", fmt.Errorf("reading API key: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("reading API key: %s is empty", path)
	}
	return key, nil
}

// callError describes a failed API call. Its text comes from the server, so
// it is made printable; a refused connection gets a hint.
func (f *apiFlags) callError(doing string, err error) error {
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("%s: %s", doing, printable(ce.Error()))
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: %v (is a server running at %s? set --server or PROBITY_SERVER)", doing, err, f.server)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity agent create|list|get|update|suspend|reactivate [flags]\n" +
		"Run 'probity agent <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "create":
		return agentCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return agentList(ctx, args[1:], stdout, stderr)
	case "get":
		return agentGet(ctx, args[1:], stdout, stderr)
	case "update":
		return agentUpdate(ctx, args[1:], stdout, stderr)
	case "suspend", "reactivate":
		return agentStatus(ctx, args[0], args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("agent: unknown subcommand %q\n%s", args[0], use)
}

// fieldFlag is an agent field settable from the command line: its flag, and
// its place in the agent's JSON, such as "model.version".
type fieldFlag struct {
	name, path, usage string
	kind              fieldKind
}

type fieldKind int

const (
	text fieldKind = iota
	list           // comma-separated
	boolean
)

var fieldFlags = []fieldFlag{
	{"name", "name", "display name", text},
	{"owner", "owner", "owning team or person", text},
	{"description", "description", "what the agent does", text},
	{"model-provider", "model.provider", "model provider, such as openai", text},
	{"model-name", "model.name", "model name, such as gpt-4o", text},
	{"model-version", "model.version", "model version; a change enters the model history", text},
	{"endpoint-url", "endpoint.url", "OpenAI-compatible endpoint evals call", text},
	{"endpoint-model", "endpoint.model", "model name to send to the endpoint", text},
	{"endpoint-key-env", "endpoint.apiKeyEnv", "server environment variable holding the endpoint's key", text},
	{"data-classes", "access.dataClasses", "comma-separated data classes it touches, such as pii,financial", list},
	{"systems", "access.systems", "comma-separated systems it reaches", list},
	{"actions", "access.actions", "comma-separated actions it may take, such as refund,send_email", list},
	{"production", "access.production", "it has production access", boolean},
	{"financial", "access.financial", "it has financial authority", boolean},
	{"risk-tier", "riskTier", "declared risk tier: low, medium, high or critical", text},
}

// agentFields registers the field flags on fs; patch then turns the ones
// given on the command line into a JSON merge patch.
type agentFields struct {
	texts map[string]*string
	bools map[string]*bool
}

func (f *agentFields) register(fs *flag.FlagSet) {
	f.texts, f.bools = map[string]*string{}, map[string]*bool{}
	for _, ff := range fieldFlags {
		if ff.kind == boolean {
			f.bools[ff.name] = fs.Bool(ff.name, false, ff.usage)
		} else {
			f.texts[ff.name] = fs.String(ff.name, "", ff.usage)
		}
	}
}

// patch holds exactly the field flags set on fs (flag.FlagSet.Visit), as
// nested objects: --model-version v2 is {"model":{"version":"v2"}}.
func (f *agentFields) patch(fs *flag.FlagSet) map[string]any {
	byName := map[string]fieldFlag{}
	for _, ff := range fieldFlags {
		byName[ff.name] = ff
	}
	p := map[string]any{}
	fs.Visit(func(fl *flag.Flag) {
		ff, ok := byName[fl.Name]
		if !ok {
			return
		}
		var v any
		switch ff.kind {
		case text:
			v = *f.texts[ff.name]
		case list:
			v = splitList(*f.texts[ff.name])
		case boolean:
			v = *f.bools[ff.name]
		}
		obj := p
		keys := strings.Split(ff.path, ".")
		for _, k := range keys[:len(keys)-1] {
			sub, ok := obj[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				obj[k] = sub
			}
			obj = sub
		}
		obj[keys[len(keys)-1]] = v
	})
	return p
}

// splitList splits "a, b," into ["a" "b"]; "" is the empty list.
func splitList(s string) []string {
	out := []string{}
	for it := range strings.SplitSeq(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// merge copies src into dst, merging nested objects.
func merge(dst, src map[string]any) {
	for k, v := range src {
		sv, ok := v.(map[string]any)
		dv, ok2 := dst[k].(map[string]any)
		if ok && ok2 {
			merge(dv, sv)
			continue
		}
		dst[k] = v
	}
}

// readObject reads a JSON object from path, or from stdin for "-".
func readObject(path string) (map[string]any, error) {
	r := io.Reader(os.Stdin)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return obj, nil
}

func agentCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent create", stderr)
	var af apiFlags
	af.register(fs)
	var fields agentFields
	fields.register(fs)
	id := fs.String("id", "", "agent id: 1-64 characters of a-z, 0-9, '.', '_', '-' (required)")
	file := fs.String("f", "", "read the agent from this JSON `file` ('-' for stdin); flags override its fields")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity agent create --id ID [flags]\n       probity agent create -f FILE [flags]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("agent create takes no arguments, got %q (the id goes in --id)", fs.Args())
	}
	obj := map[string]any{}
	if *file != "" {
		var err error
		if obj, err = readObject(*file); err != nil {
			return err
		}
	}
	merge(obj, fields.patch(fs))
	if *id != "" {
		obj["id"] = *id
	}
	var a probity.Agent
	b, _ := json.Marshal(obj)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return fmt.Errorf("reading agent: %w", err)
	}
	if a.ID == "" {
		return usagef("agent create: --id is required (or an \"id\" in -f FILE)")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	a, err = c.CreateAgent(ctx, a)
	if err != nil {
		return af.callError("creating agent", err)
	}
	if af.json {
		return writeJSON(stdout, a)
	}
	fmt.Fprintf(stdout, "Created agent %s.\n", printable(a.ID))
	return nil
}

func agentList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent list", stderr)
	var af apiFlags
	af.register(fs)
	limit := fs.Int("limit", 0, "list at most this many agents (0: all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("agent list takes no arguments, got %q", fs.Args())
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	agents, err := collect(ctx, c.ListAgents, *limit)
	if err != nil {
		return af.callError("listing agents", err)
	}
	if af.json {
		return writeJSON(stdout, agents)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tOWNER\tSTATUS\tMODEL\tRISK TIER")
	for _, a := range agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(a.ID), orDash(a.Name), orDash(a.Owner),
			orDash(a.Status), modelString(a.Model), probity.AssessRisk(&a).Tier)
	}
	return tw.Flush()
}

// collect fetches up to limit items (all for 0), following the pages.
func collect[T any](ctx context.Context, list func(context.Context, client.ListOptions) (client.Page[T], error), limit int) ([]T, error) {
	out := []T{}
	opts := client.ListOptions{Limit: min(limit, 1000)}
	for {
		p, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
		if p.NextCursor == "" || p.NextCursor == opts.Cursor {
			return out, nil
		}
		opts.Cursor = p.NextCursor
	}
}

func agentGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent get", stderr)
	var af apiFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity agent get ID [flags]\n\nWith --json it prints the agent alone, as create -f reads it.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	id, err := oneArg(fs, "agent ID")
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	a, err := c.GetAgent(ctx, id)
	if err != nil {
		return af.callError("getting agent "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, a)
	}
	hist, err := c.ModelHistory(ctx, id)
	if err != nil {
		return af.callError("getting the model history of agent "+printable(id), err)
	}
	return printAgent(stdout, a, hist)
}

// printAgent writes the detail view of an agent and its model history.
func printAgent(w io.Writer, a probity.Agent, hist []probity.ModelChange) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID:", printable(a.ID))
	row("Name:", orDash(a.Name))
	row("Owner:", orDash(a.Owner))
	status := orDash(a.Status)
	if a.StatusReason != "" {
		status += " (" + printable(a.StatusReason) + ")"
	}
	row("Status:", status)
	row("Model:", modelString(a.Model))
	if e := a.Endpoint; e != nil {
		row("Endpoint:", orDash(e.URL))
		if e.Model != "" {
			row("Endpoint model:", printable(e.Model))
		}
		if e.APIKeyEnv != "" {
			row("Endpoint key from:", "$"+printable(e.APIKeyEnv))
		}
	}
	r := probity.AssessRisk(&a)
	risk := fmt.Sprintf("%s, score %d", r.Tier, r.Score)
	if r.DeclaredTier != "" {
		risk += fmt.Sprintf(" (declared %s, derived %s)", printable(r.DeclaredTier), r.DerivedTier)
	}
	row("Risk:", risk)
	if len(r.Factors) > 0 {
		row("Risk factors:", printable(strings.Join(r.Factors, ", ")))
	}
	row("Data classes:", listString(a.Access.DataClasses))
	row("Systems:", listString(a.Access.Systems))
	row("Actions:", listString(a.Access.Actions))
	row("Production:", yesNo(a.Access.Production))
	row("Financial:", yesNo(a.Access.Financial))
	row("Created:", a.CreatedAt.Format(time.RFC3339))
	row("Updated:", a.UpdatedAt.Format(time.RFC3339))
	if err := tw.Flush(); err != nil {
		return err
	}
	if a.Description != "" {
		fmt.Fprintln(w, "\nDescription:")
		for line := range strings.SplitSeq(a.Description, "\n") {
			fmt.Fprintln(w, "  "+printable(line))
		}
	}
	fmt.Fprintln(w, "\nModel history:")
	if len(hist) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SINCE\tMODEL\tCHANGED BY")
	for _, h := range hist {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", h.Since.Format(time.RFC3339), modelString(h.Model), orDash(h.ChangedBy))
	}
	return tw.Flush()
}

func agentUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent update", stderr)
	var af apiFlags
	af.register(fs)
	var fields agentFields
	fields.register(fs)
	file := fs.String("f", "", "read a JSON merge patch (RFC 7396) from this `file` ('-' for stdin); flags override it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity agent update ID [flags]\n\nOnly the fields whose flags are given change.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	id, err := oneArg(fs, "agent ID")
	if err != nil {
		return err
	}
	patch := map[string]any{}
	if *file != "" {
		if patch, err = readObject(*file); err != nil {
			return err
		}
	}
	merge(patch, fields.patch(fs))
	if len(patch) == 0 {
		return usagef("agent update: name at least one field to change (see 'probity agent update -h')")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	before, err := c.GetAgent(ctx, id)
	if err != nil {
		return af.callError("updating agent "+printable(id), err)
	}
	a, err := c.UpdateAgent(ctx, id, patch)
	if err != nil {
		return af.callError("updating agent "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, a)
	}
	fmt.Fprintf(stdout, "Updated agent %s.\n", printable(a.ID))
	if a.Model != before.Model {
		fmt.Fprintf(stdout, "Model changed from %s to %s (recorded in the model history).\n",
			modelString(before.Model), modelString(a.Model))
	}
	return nil
}

func agentStatus(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent "+verb, stderr)
	var af apiFlags
	af.register(fs)
	flagName, why := "reason", "why the agent is suspended"
	if verb == "reactivate" {
		flagName, why = "root-cause", "the root cause of the suspension and why it is safe to reactivate"
	}
	text := fs.String(flagName, "", why+" (required)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: probity agent %s ID --%s TEXT [flags]\n", verb, flagName)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	id, err := oneArg(fs, "agent ID")
	if err != nil {
		return err
	}
	if strings.TrimSpace(*text) == "" {
		return usagef("agent %s: --%s is required: %s", verb, flagName, why)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var a probity.Agent
	if verb == "suspend" {
		a, err = c.SuspendAgent(ctx, id, *text)
	} else {
		a, err = c.ReactivateAgent(ctx, id, *text)
	}
	if err != nil {
		return af.callError(map[string]string{"suspend": "suspending", "reactivate": "reactivating"}[verb]+" agent "+printable(id), err)
	}
	if af.json {
		return writeJSON(stdout, a)
	}
	past := map[string]string{"suspend": "Suspended", "reactivate": "Reactivated"}[verb]
	fmt.Fprintf(stdout, "%s agent %s.\n", past, printable(a.ID))
	return nil
}

func runInventory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inventory", stderr)
	var af apiFlags
	af.register(fs)
	limit := fs.Int("limit", 0, "show at most this many agents (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity inventory [flags]\n\nEvery agent with its risk, what is verified, and the gap between them, widest gap first.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("inventory takes no arguments, got %q", fs.Args())
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	items, err := collect(ctx, c.Inventory, *limit)
	if err != nil {
		return af.callError("reading the inventory", err)
	}
	if af.json {
		return writeJSON(stdout, items)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tNAME\tOWNER\tSTATUS\tRISK\tTIER\tVERIFIED\tGAP")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d%%\t%d\n", printable(it.AgentID), orDash(it.Name), orDash(it.Owner),
			orDash(it.Status), it.Risk.Score, orDash(it.Risk.Tier), it.Verified, it.Gap)
	}
	return tw.Flush()
}

// modelString reads "openai/gpt-4o 2024-08-06", or "-" for no model.
func modelString(m probity.Model) string {
	name := m.Name
	if m.Provider != "" {
		name = m.Provider + "/" + name
	}
	s := strings.TrimSpace(name + " " + m.Version)
	return orDash(s)
}

// orDash is printable(s), or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}

func listString(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return printable(strings.Join(items, ", "))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
