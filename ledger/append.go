package ledger

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// StoredHash is one hash a log stores, at its tlog stored-hash index.
type StoredHash struct {
	Index int64
	Hash  tlog.Hash
}

// Append computes the stored hashes that adding leaves to a log of size n
// creates, in index order. read returns already stored hashes by index; it
// is asked only for hashes of the existing log, never for ones this call
// computes. The caller stores the result in the same transaction as the
// leaves, so that a log is never half appended.
func Append(n int64, leaves [][]byte, read func(indexes []int64) ([]tlog.Hash, error)) ([]StoredHash, error) {
	var out []StoredHash
	fresh := map[int64]tlog.Hash{}
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hashes := make([]tlog.Hash, len(indexes))
		var missing []int64
		for i, ix := range indexes {
			if h, ok := fresh[ix]; ok {
				hashes[i] = h
			} else {
				missing = append(missing, ix)
			}
		}
		if len(missing) > 0 {
			got, err := read(missing)
			if err != nil {
				return nil, err
			}
			if len(got) != len(missing) {
				return nil, fmt.Errorf("ledger: read %d hashes, want %d", len(got), len(missing))
			}
			j := 0
			for i, ix := range indexes {
				if _, ok := fresh[ix]; !ok {
					hashes[i] = got[j]
					j++
				}
			}
		}
		return hashes, nil
	})
	for i, leaf := range leaves {
		hashes, err := tlog.StoredHashes(n+int64(i), leaf, reader)
		if err != nil {
			return nil, fmt.Errorf("ledger: hashing leaf %d: %w", n+int64(i), err)
		}
		base := tlog.StoredHashIndex(0, n+int64(i))
		for j, h := range hashes {
			fresh[base+int64(j)] = h
			out = append(out, StoredHash{Index: base + int64(j), Hash: h})
		}
	}
	return out, nil
}

// LeafHash is the RFC 6962 hash of one leaf: SHA-256(0x00 || entry).
func LeafHash(entry []byte) tlog.Hash { return tlog.RecordHash(entry) }
