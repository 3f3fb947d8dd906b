package ledger

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// An InclusionProof proves that the leaf at Index is in the tree of Size
// leaves: an RFC 6962 audit path, in tlog order. Hashes encode in JSON as
// standard base64 strings.
type InclusionProof struct {
	Index    int64       `json:"index"`
	Size     int64       `json:"size"`
	LeafHash tlog.Hash   `json:"leafHash"`
	Hashes   []tlog.Hash `json:"hashes"`
}

// A ConsistencyProof proves that the tree of To leaves extends the tree of
// From leaves: an RFC 6962 consistency proof, in tlog order. It is empty when
// From is 0 or equal to To.
type ConsistencyProof struct {
	From   int64       `json:"from"`
	To     int64       `json:"to"`
	Hashes []tlog.Hash `json:"hashes"`
}

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256 of nothing.
var emptyRoot, _ = tlog.TreeHash(0, nil)

// ProveInclusion returns the proof that leaf index is in the tree of size
// leaves, read from a log's stored hashes. size must not exceed the log's.
func ProveInclusion(index, size int64, r tlog.HashReader) (InclusionProof, error) {
	if index < 0 || index >= size {
		return InclusionProof{}, fmt.Errorf("%w: no leaf %d in a tree of size %d", ErrOutOfRange, index, size)
	}
	leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return InclusionProof{}, fmt.Errorf("ledger: reading leaf hash %d: %w", index, err)
	}
	if len(leaf) != 1 {
		return InclusionProof{}, fmt.Errorf("ledger: reading leaf hash %d: got %d hashes", index, len(leaf))
	}
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("ledger: proving leaf %d in size %d: %w", index, size, err)
	}
	return InclusionProof{Index: index, Size: size, LeafHash: leaf[0], Hashes: nonNil(p)}, nil
}

// ProveConsistency returns the proof that the tree of to leaves extends the
// tree of from leaves, read from a log's stored hashes. to must not exceed
// the log's size.
func ProveConsistency(from, to int64, r tlog.HashReader) (ConsistencyProof, error) {
	if from < 0 || from > to {
		return ConsistencyProof{}, fmt.Errorf("%w: no consistency proof from size %d to size %d", ErrOutOfRange, from, to)
	}
	p := ConsistencyProof{From: from, To: to, Hashes: []tlog.Hash{}}
	if from == 0 || from == to {
		return p, nil
	}
	hashes, err := tlog.ProveTree(to, from, r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("ledger: proving size %d extends size %d: %w", to, from, err)
	}
	p.Hashes = nonNil(hashes)
	return p, nil
}

// VerifyInclusion checks that p proves a leaf is in the tree c commits to.
// When entry is not nil, it must be that leaf's bytes. Errors wrap
// ErrInclusion and say which index and size failed.
func VerifyInclusion(p InclusionProof, entry []byte, c Checkpoint) error {
	if entry != nil {
		if h := LeafHash(entry); h != p.LeafHash {
			return fmt.Errorf("%w: entry %d hashes to %s, the proof is for leaf hash %s: the entry was changed", ErrInclusion, p.Index, h, p.LeafHash)
		}
	}
	if p.Size != c.Size {
		return fmt.Errorf("%w: proof for leaf %d is for size %d, the checkpoint's size is %d", ErrInclusion, p.Index, p.Size, c.Size)
	}
	if p.Index < 0 || p.Index >= p.Size {
		return fmt.Errorf("%w: no leaf %d in a tree of size %d", ErrInclusion, p.Index, p.Size)
	}
	if err := tlog.CheckRecord(p.Hashes, c.Size, c.Hash, p.Index, p.LeafHash); err != nil {
		return fmt.Errorf("%w: leaf %d (hash %s) is not in the tree of size %d with root %s", ErrInclusion, p.Index, p.LeafHash, c.Size, c.Hash)
	}
	return nil
}

// VerifyConsistency checks that p proves newer's tree extends older's: that
// every leaf older commits to is still in newer, unchanged and in place.
// Errors wrap ErrOriginMismatch or ErrInconsistent and name both sizes.
func VerifyConsistency(p ConsistencyProof, older, newer Checkpoint) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("%w: checkpoints of %q and %q are of different logs", ErrOriginMismatch, older.Origin, newer.Origin)
	}
	if older.Size < 0 || older.Size > newer.Size {
		return fmt.Errorf("%w: checkpoint of size %d follows one of size %d: the log shrank", ErrInconsistent, newer.Size, older.Size)
	}
	if p.From != older.Size || p.To != newer.Size {
		return fmt.Errorf("%w: proof is from size %d to %d, the checkpoints are of sizes %d and %d", ErrInconsistent, p.From, p.To, older.Size, newer.Size)
	}
	if older.Size == 0 && older.Hash != emptyRoot {
		return fmt.Errorf("%w: checkpoint of size 0 has root %s, want the empty tree's %s", ErrInconsistent, older.Hash, emptyRoot)
	}
	switch {
	case older.Size == newer.Size:
		if older.Hash != newer.Hash {
			return fmt.Errorf("%w: two checkpoints of size %d with different roots %s and %s", ErrInconsistent, older.Size, older.Hash, newer.Hash)
		}
		fallthrough
	case older.Size == 0:
		if len(p.Hashes) != 0 {
			return fmt.Errorf("%w: proof from size %d to %d has %d hashes, want none", ErrInconsistent, older.Size, newer.Size, len(p.Hashes))
		}
	default:
		if err := tlog.CheckTree(p.Hashes, newer.Size, newer.Hash, older.Size, older.Hash); err != nil {
			return fmt.Errorf("%w: tree of size %d (root %s) does not extend tree of size %d (root %s)", ErrInconsistent, newer.Size, newer.Hash, older.Size, older.Hash)
		}
	}
	return nil
}

// nonNil makes an empty proof encode as [] rather than null.
func nonNil(hs []tlog.Hash) []tlog.Hash {
	if hs == nil {
		return []tlog.Hash{}
	}
	return hs
}
