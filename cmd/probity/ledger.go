package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/ledger"
)

func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: probity ledger export --out DIR [flags]\n" +
		"Run 'probity ledger export -h' for its flags."
	if len(args) == 0 {
		return usagef(use)
	}
	switch args[0] {
	case "export":
		return ledgerExport(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	return usagef("ledger: unknown subcommand %q\n%s", args[0], use)
}

func ledgerExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ledger export", stderr)
	var af apiFlags
	af.register(fs)
	var wf witnessFlags
	wf.register(fs)
	out := fs.String("out", "", "`directory` to write the export to; it must be empty or not exist (required)")
	every := fs.Int("progress", 1000, "report progress on stderr every this many entries (0: never)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity ledger export --out DIR [flags]\n\n"+
			"Verifies the ledger's checkpoint as 'probity verify ledger' does, then writes every entry it signs,\n"+
			"with the checkpoint and its key, into DIR for audits with no server ('probity verify export DIR').\n"+
			"It fetches up to 1,000 entries per request.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("ledger export takes no arguments, got %q (the directory goes in --out)", fs.Args())
	}
	if *out == "" {
		return usagef("ledger export: --out is required")
	}
	if *every < 0 {
		return usagef("--progress must not be negative")
	}
	// Refuse a directory in use before fetching anything.
	if des, err := os.ReadDir(*out); err == nil && len(des) > 0 {
		return fmt.Errorf("exporting: directory %s is not empty", *out)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	w, err := witness(ctx, c, &af, &wf, stderr)
	if err != nil {
		return err
	}

	size := w.cp.Size
	var leaves []tlog.Hash // to name a changed entry if the root does not match
	entries := func(yield func([]byte, error) bool) {
		for b, err := range c.Entries(ctx, 0, size) {
			if err != nil {
				yield(nil, af.callError("the server did not return it", err))
				return
			}
			leaves = append(leaves, ledger.LeafHash(b))
			if n := int64(len(leaves)); *every > 0 && (n%int64(*every) == 0 || n == size) {
				fmt.Fprintf(stderr, "probity: fetched %d of %d entries\n", n, size)
			}
			if !yield(b, nil) {
				return
			}
		}
	}
	err = ledger.WriteExport(*out, w.signed, w.key, entries)
	if errors.Is(err, ledger.ErrTampered) && int64(len(leaves)) == size {
		i, want, lerr := firstBadEntry(ctx, c, w.cp, leaves)
		if lerr != nil {
			return fmt.Errorf("LEDGER ENTRIES DO NOT MATCH THE SIGNED CHECKPOINT: %v; finding the first bad entry failed: %v.\n"+
				"The incomplete export in %s has no checkpoint and does not verify", err, lerr, *out)
		}
		return fmt.Errorf("LEDGER ENTRY %d DOES NOT MATCH THE SIGNED LOG: the server served bytes that hash to %s, "+
			"the checkpoint of size %d (root %s) signs leaf hash %s there: the entry was changed after it was logged "+
			"(entries after it may be too).\nThe incomplete export in %s has no checkpoint and does not verify",
			i, leaves[i], size, w.cp.Hash, want, *out)
	}
	if err != nil {
		return fmt.Errorf("exporting ledger %s: %w\nThe incomplete export in %s has no checkpoint and does not verify", w.cp.Origin, err, *out)
	}
	fmt.Fprintf(stdout, "Exported ledger %s: %d entries, up to the signed checkpoint of size %d (root %s), into %s.\n",
		w.cp.Origin, size, size, w.cp.Hash, *out)
	fmt.Fprintf(stdout, "Verify it anywhere with:\n\n    probity verify export %s --verifier-key %s\n", *out, w.key)
	return nil
}

// firstBadEntry finds the first index whose leaf hash in leaves (hashed
// from what the server served) is not the one the signed checkpoint cp
// commits to, and returns it with the signed leaf hash. It walks down the
// tree from the root with one inclusion proof per level, each verified
// against cp: the proof for the first leaf of a subtree yields the signed
// hashes of both its halves, and the first half whose hash differs from
// the one computed from leaves holds the first bad entry.
func firstBadEntry(ctx context.Context, c *client.Client, cp ledger.Checkpoint, leaves []tlog.Hash) (int64, tlog.Hash, error) {
	lo, hi, want := int64(0), cp.Size, cp.Hash
	if hi == 0 || treeHash(leaves[lo:hi]) == want {
		return 0, want, errors.New("the entries match the signed root")
	}
	for hi-lo > 1 {
		k := maxPow2(hi - lo) // the left half [lo, lo+k) is a complete subtree
		p, err := c.InclusionProof(ctx, lo, cp.Size)
		if err != nil {
			return 0, want, fmt.Errorf("fetching the inclusion proof of entry %d: %w", lo, err)
		}
		if p.Index != lo {
			return 0, want, fmt.Errorf("asked for the inclusion proof of entry %d, got one of %d", lo, p.Index)
		}
		if err := ledger.VerifyInclusion(p, nil, cp); err != nil {
			return 0, want, err
		}
		// The path from leaf lo climbs the left half (log2 k hashes), then
		// meets the right half's root.
		levels := bits.Len64(uint64(k)) - 1
		if len(p.Hashes) <= levels {
			return 0, want, fmt.Errorf("the inclusion proof of entry %d has %d hashes, want more than %d", lo, len(p.Hashes), levels)
		}
		left := p.LeafHash
		for _, h := range p.Hashes[:levels] {
			left = tlog.NodeHash(left, h)
		}
		if treeHash(leaves[lo:lo+k]) != left {
			hi, want = lo+k, left
		} else {
			lo, want = lo+k, p.Hashes[levels]
		}
	}
	return lo, want, nil
}

// maxPow2 is the largest power of two below n, for n > 1: where RFC 6962
// splits a tree of n leaves.
func maxPow2(n int64) int64 { return 1 << (bits.Len64(uint64(n-1)) - 1) }

// treeHash is the RFC 6962 root of the given leaf hashes (at least one).
func treeHash(leaves []tlog.Hash) tlog.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := maxPow2(int64(len(leaves)))
	return tlog.NodeHash(treeHash(leaves[:k]), treeHash(leaves[k:]))
}
