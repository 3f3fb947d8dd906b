package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/store"
)

// storeFlags are the flags of the offline commands, which open the store
// directly instead of calling a server.
type storeFlags struct {
	data, db string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	def := app.Default()
	fs.StringVar(&f.data, "data", env("PROBITY_DATA", def.DataDir), "data directory of a SQLite store (PROBITY_DATA)")
	fs.StringVar(&f.db, "db", env("PROBITY_DB", ""), "postgres:// URL instead of SQLite (PROBITY_DB)")
}

func (f *storeFlags) open(ctx context.Context) (store.Store, error) {
	if f.db != "" && !app.IsPostgres(f.db) {
		return nil, usagef("--db: want a postgres:// URL")
	}
	return app.OpenStore(ctx, app.Config{DataDir: f.data, DB: f.db})
}

func runOrg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("usage: probity org create NAME [--data DIR | --db URL]")
	}
	fs := newFlags("org create", stderr)
	var sf storeFlags
	sf.register(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	name, err := oneArg(fs, "NAME")
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, err := app.CreateOrg(ctx, st, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created org %q. Its first admin key (shown once):\n\n    %s\n", name, secret)
	return nil
}

// oneArg parses flags given after the positional argument too, so that both
// `create NAME --data d` and `create --data d NAME` work.
func oneArg(fs *flag.FlagSet, what string) (string, error) {
	args := fs.Args()
	if len(args) == 0 {
		return "", usagef("missing %s", what)
	}
	first := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", usagef("unexpected arguments %q", fs.Args())
	}
	return first, nil
}

func runKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity key create|list|revoke|rotate-signing [--org ORG] [--data DIR | --db URL]\n" +
		"  create, list, revoke  manage API keys\n" +
		"  rotate-signing        make a new attestation signing key; the old one is retired and stays published"
	if len(args) == 0 {
		return usagef(use)
	}
	fs := newFlags("key "+args[0], stderr)
	var sf storeFlags
	sf.register(fs)
	org := fs.String("org", app.DefaultOrg, "org the key belongs to")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	switch args[0] {
	case "create":
		scopes := fs.String("scope", "read", "comma-separated scopes: admin, ingest, read, eval")
		name := fs.String("name", "", "a name to recognise the key by")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usagef("key create takes no arguments")
		}
		ss, err := probity.ParseScopes("--scope", strings.Split(*scopes, ","))
		if err != nil {
			return usagef("%v", err)
		}
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		secret, k, err := app.CreateKey(ctx, st, *org, *name, ss)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, map[string]any{"id": k.ID, "key": secret, "scopes": k.Scopes, "name": k.Name})
		}
		fmt.Fprintf(stdout, "Created key %s (%s) in org %s. Shown once:\n\n    %s\n", k.ID, *scopes, *org, secret)
		return nil
	case "list":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		keys, err := app.ListKeys(ctx, st, *org)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, keys)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tSCOPES\tNAME\tCREATED\tREVOKED")
		for _, k := range keys {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, joinScopes(k.Scopes), printable(k.Name),
				k.CreatedAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		id, err := oneArg(fs, "key ID")
		if err != nil {
			return err
		}
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := app.RevokeKey(ctx, st, *org, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked key %s.\n", id)
		return nil
	case "rotate-signing":
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: probity key rotate-signing [--org ORG] [--data DIR | --db URL] [--json]\n\n"+
				"Makes a new Ed25519 key that signs the org's trust attestations from now on. The active\n"+
				"key is retired: GET /v1/keys still publishes it, so the attestations it signed still\n"+
				"verify. Running servers switch to the new key within seconds. Verifiers that pinned\n"+
				"the keys must fetch and check them again.")
			fs.PrintDefaults()
		}
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usagef("key rotate-signing takes no arguments")
		}
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		id, err := app.RotateSigningKey(ctx, st, *org)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, map[string]string{"org": *org, "keyid": id})
		}
		fmt.Fprintf(stdout, "Made attestation key %s for org %s; it signs every new attestation.\n"+
			"The previous key is retired and stays in GET /v1/keys, so what it signed still verifies.\n", id, printable(*org))
		return nil
	}
	return usagef(use)
}

func joinScopes(ss []probity.Scope) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, string(s))
	}
	return strings.Join(parts, ",")
}

// printable replaces control characters so that stored text cannot drive
// the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if probity.Unsafe(r) {
			return '?'
		}
		return r
	}, s)
}

// writeJSON writes v as indented JSON. Characters that could drive a
// terminal (C1 controls, bidirectional overrides), which encoding/json
// leaves as they are, are written as \u escapes: the JSON means the same,
// and a terminal shows it as it is.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	out := buf.Bytes()
	if bytes.ContainsFunc(out, func(r rune) bool { return r >= 0x7f && probity.Unsafe(r) }) {
		var esc bytes.Buffer
		for _, r := range string(out) {
			if r >= 0x7f && probity.Unsafe(r) { // below 0x7f encoding/json escaped it already
				fmt.Fprintf(&esc, `\u%04x`, r)
			} else {
				esc.WriteRune(r)
			}
		}
		out = esc.Bytes()
	}
	_, err := w.Write(out)
	return err
}
