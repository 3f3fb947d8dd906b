package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/ledger"
)

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity verify ledger|record|export|attestation [flags]\n" +
		"  ledger            verify the server's signed checkpoint, and that it extends the last one seen here\n" +
		"  record --id ID    verify that a record is in the signed ledger, unchanged\n" +
		"  export DIR        verify a ledger export offline\n" +
		"  attestation FILE  verify an agent's signed trust attestation, offline with --keys\n" +
		"Run 'probity verify <subcommand> -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "ledger":
		return verifyLedger(ctx, args[1:], stdout, stderr)
	case "record":
		return verifyRecord(ctx, args[1:], stdout, stderr)
	case "export":
		return verifyExport(args[1:], stdout, stderr)
	case "attestation":
		return verifyAttestation(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("verify: unknown subcommand %q\n%s", args[0], use)
}

// witnessFlags are the flags of the commands that verify a server's
// ledger as a witness (docs/ledger.md, "Clients as witnesses").
type witnessFlags struct {
	state, verifierKey string
	acceptNew          bool
}

func (f *witnessFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.verifierKey, "verifier-key", "", "the ledger's note verifier key (origin+keyid+key), from a source you trust; without it the first run trusts the key the server reports and saves it")
	fs.StringVar(&f.state, "state", "", "witness state `directory`: the key and the last verified checkpoint of each ledger (default <user config dir>/probity/witness)")
	fs.BoolVar(&f.acceptNew, "accept-new-ledger", false, "trust a new ledger of an org although this server served another one before (after a rebuilt database)")
}

// dir is --state, else <user config dir>/probity/witness.
func (f *witnessFlags) dir() (string, error) {
	if f.state != "" {
		return f.state, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the witness state directory: %w (pass --state DIR)", err)
	}
	return filepath.Join(d, "probity", "witness"), nil
}

// pinned parses --verifier-key; nil when it is not given.
func (f *witnessFlags) pinned() (note.Verifier, error) {
	if f.verifierKey == "" {
		return nil, nil
	}
	v, err := note.NewVerifier(f.verifierKey)
	if err != nil {
		return nil, usagef("--verifier-key: not a note verifier key (want <origin>+<key id>+<base64 key>, as GET /v1/keys gives it)")
	}
	return v, nil
}

// Files of a ledger's witness state.
const (
	witnessKey        = "key"        // the trusted verifier key, and a newline
	witnessCheckpoint = "checkpoint" // the last verified checkpoint, exactly as signed
	witnessServer     = "server"     // the URL of the server it was last verified from
)

// A witnessLog is what this machine keeps about one ledger, in a directory
// of its own under the state directory: the verifier key it trusts and the
// last checkpoint it verified.
type witnessLog struct {
	origin string
	dir    string
	key    string    // "" before first use
	signed []byte    // nil before the first verified checkpoint
	seen   time.Time // when signed was saved
}

// originDir makes origin a file name: a-z, 0-9, '-' and '.' (not first)
// stay, every other byte becomes _ and two hex digits. The mapping is
// one-to-one, whatever the file system's case rules; a very long origin is
// shortened with a hash of it.
func originDir(origin string) string {
	var b strings.Builder
	for i := 0; i < len(origin); i++ {
		switch c := origin[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	s := b.String()
	if len(s) > 200 {
		sum := sha256.Sum256([]byte(origin))
		s = s[:150] + "_" + hex.EncodeToString(sum[:16])
	}
	return s
}

// loadWitnessLog reads the state of origin's ledger, empty when there is none.
func loadWitnessLog(state, origin string) (*witnessLog, error) {
	l := &witnessLog{origin: origin, dir: filepath.Join(state, originDir(origin))}
	keyPath, cpPath := filepath.Join(l.dir, witnessKey), filepath.Join(l.dir, witnessCheckpoint)
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(cpPath); err == nil {
			return nil, fmt.Errorf("witness state %s holds a checkpoint but no key; move it aside to start over", l.dir)
		}
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading witness state: %w", err)
	}
	l.key = strings.TrimSpace(string(b))
	if v, err := note.NewVerifier(l.key); err != nil || v.Name() != origin {
		return nil, fmt.Errorf("witness state %s: %s is not a verifier key of ledger %s; move it aside to start over", l.dir, keyPath, origin)
	}
	b, err = os.ReadFile(cpPath)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading witness state: %w", err)
	}
	fi, err := os.Stat(cpPath)
	if err != nil {
		return nil, fmt.Errorf("reading witness state: %w", err)
	}
	l.signed, l.seen = b, fi.ModTime()
	return l, nil
}

// save records key (on first use), signed as the last verified checkpoint
// and the server it came from. It refuses when another run changed the
// checkpoint since this one loaded it, so that a checkpoint verified
// against an older one never replaces a newer.
func (l *witnessLog) save(key string, signed []byte, server string) error {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return fmt.Errorf("saving witness state: %w", err)
	}
	if l.key == "" {
		if err := writeFileAtomic(filepath.Join(l.dir, witnessKey), []byte(key+"\n")); err != nil {
			return fmt.Errorf("saving witness state: %w", err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(l.dir, witnessServer)); strings.TrimSpace(string(b)) != server {
		if err := writeFileAtomic(filepath.Join(l.dir, witnessServer), []byte(server+"\n")); err != nil {
			return fmt.Errorf("saving witness state: %w", err)
		}
	}
	if bytes.Equal(signed, l.signed) {
		return nil
	}
	path := filepath.Join(l.dir, witnessCheckpoint)
	now, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("saving witness state: %w", err)
	}
	if !bytes.Equal(now, l.signed) {
		return fmt.Errorf("saving witness state: %s changed while this run verified against the earlier one; run again", path)
	}
	if err := writeFileAtomic(path, signed); err != nil {
		return fmt.Errorf("saving witness state: %w", err)
	}
	return nil
}

// keepEvidence saves a checkpoint that conflicts with the saved one beside
// it and returns its path: two checkpoints signed by one key that no proof
// connects prove, to anyone, that the log was forked or rewritten.
func (l *witnessLog) keepEvidence(signed []byte, cp ledger.Checkpoint) string {
	path := filepath.Join(l.dir, fmt.Sprintf("conflicting-checkpoint-%d-%x", cp.Size, cp.Hash[:6]))
	if err := writeFileAtomic(path, signed); err != nil {
		return fmt.Sprintf("(could not save it: %v)", err)
	}
	return path
}

// writeFileAtomic replaces path with data, mode 0600, so that a crash
// leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// witnessed is a checkpoint the witness verified and saved.
type witnessed struct {
	signed   []byte
	cp       ledger.Checkpoint
	key      string
	keyFrom  string             // how the key came to be trusted
	prev     *ledger.Checkpoint // the checkpoint saved before, if any
	prevSeen time.Time
	dir      string // the ledger's witness state
}

// witness fetches the server's checkpoint and verifies it as a witness:
// with the key saved for its ledger (or, the first time, the pinned key or
// the server's own), and against the checkpoint saved last time, which it
// must extend. Only then is it saved as the new last checkpoint.
func witness(ctx context.Context, c *client.Client, af *apiFlags, wf *witnessFlags, stderr io.Writer) (witnessed, error) {
	var w witnessed
	pinned, err := wf.pinned()
	if err != nil {
		return w, err
	}
	state, err := wf.dir()
	if err != nil {
		return w, err
	}
	keys, err := c.Keys(ctx)
	if err != nil {
		return w, af.callError("reading the ledger's key (GET /v1/keys)", err)
	}
	origin, served := keys.Ledger.Origin, keys.Ledger.VerifierKey
	if err := ledger.ValidOrigin(origin); err != nil {
		return w, fmt.Errorf("the server names its ledger %q: %w", printable(origin), err)
	}
	if pinned != nil && pinned.Name() != origin {
		return w, fmt.Errorf("the server's ledger is %s, but --verifier-key is the key of %s: this is not the ledger you pinned (another server, or the log was replaced)",
			origin, printable(pinned.Name()))
	}
	l, err := loadWitnessLog(state, origin)
	if err != nil {
		return w, err
	}
	switch {
	case l.key != "":
		if pinned != nil && wf.verifierKey != l.key {
			return w, fmt.Errorf("--verifier-key %s differs from the key saved for ledger %s at first use (%s): one of them is wrong; check with the org's admin",
				printable(wf.verifierKey), origin, l.key)
		}
		if served != l.key {
			return w, fmt.Errorf("LEDGER KEY CHANGED: the server now reports the verifier key\n    %s\nfor ledger %s, but the key saved for it at first use is\n    %s\nA ledger's key never changes: the server is not the one you saw, or its key was replaced. Nothing was trusted or saved (state: %s)",
				printable(served), origin, l.key, l.dir)
		}
		w.key, w.keyFrom = l.key, "saved at first use"
	case pinned != nil:
		if served != wf.verifierKey {
			return w, fmt.Errorf("VERIFIER KEY MISMATCH: the server reports the verifier key\n    %s\nfor ledger %s, but --verifier-key pins\n    %s",
				printable(served), origin, printable(wf.verifierKey))
		}
		w.key, w.keyFrom = wf.verifierKey, "pinned with --verifier-key"
	default:
		if v, err := note.NewVerifier(served); err != nil || v.Name() != origin {
			return w, fmt.Errorf("the server reports %q as the verifier key of ledger %s, which is not a key for it", printable(served), origin)
		}
		if err := checkNewLedger(stderr, state, origin, serverID(af.server), wf.acceptNew); err != nil {
			return w, err
		}
		w.key, w.keyFrom = served, "trusted on first use"
		fmt.Fprintf(stderr, "probity: first use of ledger %s: trusting the verifier key the server reports,\n\n    %s\n\n"+
			"Check it against a copy from a source you trust (the org's admin), or pin it with --verifier-key.\n"+
			"Once the checkpoint verifies, the key is saved in %s; later runs use it and fail if the server reports another.\n",
			origin, served, l.dir)
	}

	signed, err := c.Checkpoint(ctx)
	if err != nil {
		return w, af.callError("fetching the checkpoint", err)
	}
	cp, err := ledger.OpenCheckpoint(signed, w.key)
	if err != nil {
		return w, fmt.Errorf("CHECKPOINT DOES NOT VERIFY with the key of ledger %s (%s): %w", origin, w.keyFrom, err)
	}
	w.signed, w.cp, w.dir = signed, cp, l.dir
	if l.signed != nil {
		prev, err := ledger.OpenCheckpoint(l.signed, w.key)
		if err != nil {
			return w, fmt.Errorf("the checkpoint saved in %s does not verify with the saved key: %w; the witness state is damaged, move it aside to start over", l.dir, err)
		}
		w.prev, w.prevSeen = &prev, l.seen
		if err := l.checkExtends(ctx, c, af, prev, cp, signed); err != nil {
			return w, err
		}
	}
	if err := l.save(w.key, signed, serverID(af.server)); err != nil {
		return w, err
	}
	return w, nil
}

// checkExtends checks that cp extends prev, the checkpoint saved last. On
// failure the saved checkpoint stays, and cp is kept beside it as evidence.
func (l *witnessLog) checkExtends(ctx context.Context, c *client.Client, af *apiFlags, prev, cp ledger.Checkpoint, signed []byte) error {
	seen := fmt.Sprintf("the one seen at %s (size %d, root %s)", l.seen.UTC().Format(time.RFC3339), prev.Size, prev.Hash)
	if cp.Size < prev.Size {
		how := "the server is not serving the log it served then"
		if p, err := c.ConsistencyProof(ctx, cp.Size, prev.Size); err == nil && ledger.VerifyConsistency(p, cp, prev) == nil {
			how = "it is an older state of the same log (a stale answer, or a server restored from a backup)"
		}
		return fmt.Errorf("LEDGER ROLLED BACK: checkpoint %d (root %s) of ledger %s is smaller than %s: %s.\n"+
			"The saved checkpoint was kept (%s); the new one is kept as evidence: %s",
			cp.Size, cp.Hash, cp.Origin, seen, how, filepath.Join(l.dir, witnessCheckpoint), l.keepEvidence(signed, cp))
	}
	p, err := c.ConsistencyProof(ctx, prev.Size, cp.Size)
	if err != nil {
		return af.callError(fmt.Sprintf("cannot check that checkpoint %d of ledger %s extends %s: fetching the consistency proof", cp.Size, cp.Origin, seen), err)
	}
	if err := ledger.VerifyConsistency(p, prev, cp); err != nil {
		return fmt.Errorf("LEDGER FORKED OR REWRITTEN: checkpoint %d (root %s) of ledger %s is not an extension of %s: %v.\n"+
			"Entries that checkpoint covered were changed, removed or reordered. The saved checkpoint was kept; "+
			"the two signed checkpoints prove it to anyone: %s and %s",
			cp.Size, cp.Hash, cp.Origin, seen, err, filepath.Join(l.dir, witnessCheckpoint), l.keepEvidence(signed, cp))
	}
	return nil
}

// serverID is how the witness state names a server: its URL without a
// trailing slash.
func serverID(url string) string { return strings.TrimRight(url, "/") }

// checkNewLedger is asked before trusting a ledger seen for the first time.
// Origins are probity/<org>/<random>, so another origin of the same org in
// the state is another ledger of that org. When the same server served it,
// the server's ledger was replaced (docs/ledger.md: "stop: the log was
// replaced, which needs a human"), and that fails unless acceptNew; when
// another server did (another installation), it is worth a warning only.
func checkNewLedger(stderr io.Writer, state, origin, server string, acceptNew bool) error {
	i := strings.LastIndex(origin, "/")
	if i <= 0 {
		return nil
	}
	prefix := origin[:i+1]
	des, _ := os.ReadDir(state)
	var others []string
	for _, de := range des {
		dir := filepath.Join(state, de.Name())
		b, err := os.ReadFile(filepath.Join(dir, witnessKey))
		if err != nil {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSpace(string(b)), "+")
		if name == origin || !strings.HasPrefix(name, prefix) {
			continue
		}
		at, _ := os.ReadFile(filepath.Join(dir, witnessServer))
		if strings.TrimSpace(string(at)) == server && !acceptNew {
			seen := ""
			if l, err := loadWitnessLog(state, name); err == nil && l.signed != nil {
				if cp, err := ledger.OpenCheckpoint(l.signed, l.key); err == nil {
					seen = fmt.Sprintf(" (last seen at %s with %d entries)", l.seen.UTC().Format(time.RFC3339), cp.Size)
				}
			}
			return fmt.Errorf("LEDGER REPLACED: %s served ledger %s%s, and now serves a new ledger %s of the same org.\n"+
				"What the old ledger held can no longer be checked against this server. If the server's database was rebuilt on purpose, "+
				"confirm with its admin and run again with --accept-new-ledger (or pin the new key with --verifier-key). State: %s",
				server, printable(name), seen, origin, dir)
		}
		others = append(others, printable(name))
	}
	if len(others) > 0 {
		fmt.Fprintf(stderr, "probity: WARNING: this machine has witnessed other ledgers of the same org: %s.\n"+
			"If this server served one of them, its ledger was replaced by a new log, and what the old one held can no longer be checked against it.\n",
			strings.Join(others, ", "))
	}
	return nil
}

func verifyLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify ledger", stderr)
	var af apiFlags
	af.register(fs)
	var wf witnessFlags
	wf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity verify ledger [flags]\n\n"+
			"Fetches the ledger's signed checkpoint, verifies its signature, and checks with a consistency proof\n"+
			"that it extends the checkpoint saved by the last run; then saves it. A fork, a rewrite or a rollback\n"+
			"of the ledger fails (exit 1) and keeps the saved checkpoint.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("verify ledger takes no arguments, got %q", fs.Args())
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	w, err := witness(ctx, c, &af, &wf, stderr)
	if err != nil {
		return err
	}
	if af.json {
		out := struct {
			Origin       string `json:"origin"`
			Size         int64  `json:"size"`
			Root         string `json:"root"`
			PreviousSize *int64 `json:"previousSize"`
			Key          string `json:"verifierKey"`
			KeySource    string `json:"keySource"`
			State        string `json:"state"`
		}{Origin: w.cp.Origin, Size: w.cp.Size, Root: w.cp.Hash.String(), Key: w.key, KeySource: w.keyFrom, State: w.dir}
		if w.prev != nil {
			out.PreviousSize = &w.prev.Size
		}
		return writeJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "Ledger %s: checkpoint verified.\n", w.cp.Origin)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Size:\t%d entries\n", w.cp.Size)
	fmt.Fprintf(tw, "Root:\t%s\n", w.cp.Hash)
	switch {
	case w.prev == nil:
		fmt.Fprintf(tw, "Previous:\tnone (first checkpoint of this ledger seen here)\n")
	case w.prev.Size == w.cp.Size:
		fmt.Fprintf(tw, "Previous:\t%d entries, seen at %s (unchanged)\n", w.prev.Size, w.prevSeen.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(tw, "Previous:\t%d entries, seen at %s (consistency proof verified)\n", w.prev.Size, w.prevSeen.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "Key:\t%s (%s)\n", w.key, w.keyFrom)
	fmt.Fprintf(tw, "State:\t%s\n", w.dir)
	return tw.Flush()
}

func verifyRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify record", stderr)
	var af apiFlags
	af.register(fs)
	var wf witnessFlags
	wf.register(fs)
	id := fs.String("id", "", "id of the record (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity verify record --id ID [flags]\n\n"+
			"Verifies the ledger's checkpoint as 'probity verify ledger' does, then that the record's ledger entry,\n"+
			"exactly as the server serves it, is in the tree that checkpoint signs.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("verify record takes no arguments, got %q (the id goes in --id)", fs.Args())
	}
	if *id == "" {
		return usagef("verify record: --id is required")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	w, err := witness(ctx, c, &af, &wf, stderr)
	if err != nil {
		return err
	}
	rid := printable(*id)
	p, err := c.RecordProof(ctx, *id, w.cp.Size)
	if errors.Is(err, probity.ErrNotFound) {
		return af.callError(fmt.Sprintf("RECORD %s NOT VERIFIED: the server has no record %s (if it was recorded, its ledger entry may have been removed; 'probity ledger export' checks every entry the checkpoint signs)", rid, rid), err)
	}
	if err != nil {
		return af.callError(fmt.Sprintf("fetching the inclusion proof of record %s at size %d", rid, w.cp.Size), err)
	}
	entry, err := c.Entry(ctx, p.Index)
	if err != nil {
		return af.callError(fmt.Sprintf("RECORD %s NOT VERIFIED: the server did not return ledger entry %d, which it says holds the record", rid, p.Index), err)
	}
	if err := ledger.VerifyInclusion(p, entry, w.cp); err != nil {
		return fmt.Errorf("RECORD %s NOT VERIFIED: ledger entry %d is not what the signed checkpoint (size %d, root %s) commits to: %v",
			rid, p.Index, w.cp.Size, w.cp.Hash, err)
	}
	// The server chose the index; the entry there must be this record.
	var leaf struct {
		Kind   string `json:"kind"`
		Record struct {
			ID string `json:"id"`
		} `json:"record"`
	}
	if err := json.Unmarshal(entry, &leaf); err != nil || leaf.Kind != "record" || leaf.Record.ID != *id {
		return fmt.Errorf("RECORD %s NOT VERIFIED: the server pointed at ledger entry %d, which is in the signed ledger but is not that record (kind %q, id %q)",
			rid, p.Index, printable(leaf.Kind), printable(leaf.Record.ID))
	}
	if af.json {
		return writeJSON(stdout, map[string]any{"recordId": *id, "index": p.Index, "origin": w.cp.Origin,
			"size": w.cp.Size, "root": w.cp.Hash.String()})
	}
	fmt.Fprintf(stdout, "Record %s is ledger entry %d of %s: included, unchanged, in the signed checkpoint of size %d (root %s).\n",
		rid, p.Index, w.cp.Origin, w.cp.Size, w.cp.Hash)
	return nil
}

func verifyExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify export", stderr)
	var wf witnessFlags
	wf.register(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity verify export DIR [--verifier-key KEY] [flags]\n\n"+
			"Verifies an export written by 'probity ledger export' offline, with no server: the checkpoint's signature,\n"+
			"and that the entries are exactly the signed log. The key is --verifier-key, else the one saved for the\n"+
			"export's ledger by 'probity verify ledger' (--state), else the export's own key file, which only proves\n"+
			"that the export is consistent with itself.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := oneArg(fs, "export DIR")
	if err != nil {
		return err
	}
	pinned, err := wf.pinned()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoint")); err != nil {
		return fmt.Errorf("EXPORT DOES NOT VERIFY: %s has no checkpoint (an export that failed partway, or not an export): %w", dir, err)
	}
	key, from, err := exportKey(dir, &wf, pinned, stderr)
	if err != nil {
		return err
	}
	r, verr := ledger.VerifyExport(dir, key)
	if *asJSON {
		if err := writeJSON(stdout, r); err != nil {
			return err
		}
	} else if r.Origin != "" {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "Export:\t%s\n", dir)
		fmt.Fprintf(tw, "Ledger:\t%s\n", r.Origin)
		fmt.Fprintf(tw, "Checkpoint:\t%d entries, root %s, signature verified\n", r.Size, r.Hash)
		fmt.Fprintf(tw, "Key:\t%s (%s)\n", key, from)
		fmt.Fprintf(tw, "Entries:\t%d\n", r.Entries)
		if verr == nil {
			fmt.Fprintf(tw, "Result:\tOK: every entry is in the signed log, in order and unchanged\n")
		} else if r.FirstBad >= 0 {
			fmt.Fprintf(tw, "Result:\tTAMPERED: first bad entry %d (%d bad in all: %s)\n", r.FirstBad, r.BadCount, indexList(r.Bad, r.BadCount))
		} else {
			fmt.Fprintf(tw, "Result:\tTAMPERED: the entries are not the signed log\n")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if verr != nil {
		return fmt.Errorf("EXPORT DOES NOT VERIFY: %w", verr)
	}
	return nil
}

// exportKey is the key to verify the export in dir with, and where it came
// from: --verifier-key, else the witness state's key for the export's
// ledger, else the export's own key file, with a warning.
func exportKey(dir string, wf *witnessFlags, pinned note.Verifier, stderr io.Writer) (key, from string, err error) {
	if pinned != nil {
		return wf.verifierKey, "pinned with --verifier-key", nil
	}
	// The origin is the checkpoint's first line; the signature is checked later.
	if b, err := os.ReadFile(filepath.Join(dir, "checkpoint")); err == nil {
		origin, _, _ := strings.Cut(string(b), "\n")
		if state, err := wf.dir(); err == nil && ledger.ValidOrigin(origin) == nil {
			if l, err := loadWitnessLog(state, origin); err == nil && l.key != "" {
				return l.key, "saved by 'probity verify ledger' in " + l.dir, nil
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "key"))
	if err != nil {
		return "", "", fmt.Errorf("no key to verify the export with: pass --verifier-key (%w)", err)
	}
	fmt.Fprintln(stderr, "probity: WARNING: verifying with the export's own key file. That proves only that the export is consistent\n"+
		"with itself: whoever rewrote an export can replace its key too. Pass --verifier-key with the ledger's key from a source you trust.")
	return strings.TrimSpace(string(b)), "the export's own key file: proves internal consistency only", nil
}

// indexList reads "3, 7, 9" or "3, 7, 9 and 97 more".
func indexList(list []int64, count int64) string {
	var parts []string
	for _, i := range list[:min(len(list), 10)] {
		parts = append(parts, fmt.Sprint(i))
	}
	s := strings.Join(parts, ", ")
	if more := count - int64(len(parts)); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}
