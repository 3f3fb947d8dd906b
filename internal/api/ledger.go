package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/ledger"
)

// signers caches each org's checkpoint signer.
type signers struct {
	mu sync.Mutex
	m  map[string]*ledger.Signer
}

func (s *Server) signer(ctx context.Context, tx store.Tx, org string) (*ledger.Signer, store.LedgerKey, error) {
	k, err := tx.LedgerKey(ctx, org)
	if err != nil {
		return nil, k, fmt.Errorf("org %s has no ledger key: %w", org, err)
	}
	s.signers.mu.Lock()
	defer s.signers.mu.Unlock()
	if sg, ok := s.signers.m[org]; ok && sg.Origin() == k.Origin {
		return sg, k, nil
	}
	sg, err := ledger.NewSigner(k.Signer)
	if err != nil {
		return nil, k, fmt.Errorf("loading ledger key of org %s: %w", org, err)
	}
	if s.signers.m == nil {
		s.signers.m = map[string]*ledger.Signer{}
	}
	s.signers.m[org] = sg
	return sg, k, nil
}

// Checkpoint returns a signed checkpoint of org's whole ledger, signing a
// new one when the ledger has grown since the last. Signatures are
// deterministic (Ed25519), so replicas that sign the same size at once
// store the same note.
func (s *Server) Checkpoint(ctx context.Context, org string) ([]byte, ledger.Checkpoint, error) {
	var note []byte
	var cp ledger.Checkpoint
	var fresh bool
	err := s.store.View(ctx, func(tx store.Tx) error {
		size, err := tx.LedgerSize(ctx, org)
		if err != nil {
			return err
		}
		sg, k, err := s.signer(ctx, tx, org)
		if err != nil {
			return err
		}
		last, lastNote, err := tx.LatestCheckpoint(ctx, org)
		if err != nil && !errors.Is(err, probity.ErrNotFound) {
			return err
		}
		if err == nil && last > size {
			return fmt.Errorf("%w: a checkpoint of size %d was signed, but the ledger now has %d entries", store.ErrLedgerDamaged, last, size)
		}
		if err == nil && last == size {
			note = lastNote
			cp, err = ledger.OpenCheckpoint(note, k.Verifier)
			return err
		}
		root, err := tlog.TreeHash(size, store.HashReader(ctx, tx, org))
		if err != nil {
			return fmt.Errorf("computing tree hash at %d: %w", size, err)
		}
		cp = ledger.Checkpoint{Origin: k.Origin, Size: size, Hash: root}
		note, err = sg.Sign(cp)
		fresh = true
		return err
	})
	if err != nil {
		return nil, cp, err
	}
	if fresh {
		err = s.store.Update(ctx, func(tx store.Tx) error { return tx.SaveCheckpoint(ctx, org, cp.Size, note) })
		if err != nil {
			return nil, cp, err
		}
	}
	return note, cp, nil
}

// SignCheckpoints signs a checkpoint for every org whose ledger grew. The
// server calls it about once a second.
func (s *Server) SignCheckpoints(ctx context.Context) error {
	orgs, err := s.orgs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range orgs {
		if _, _, err := s.Checkpoint(ctx, o.ID); err != nil {
			errs = append(errs, fmt.Errorf("org %s: %w", o.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	note, _, err := s.Checkpoint(r.Context(), c.org)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(note)
	return nil
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request, c *call) error {
	index, err := strconv.ParseInt(r.PathValue("index"), 10, 64)
	if err != nil || index < 0 {
		return probity.Invalid("index", "must be a whole number from 0")
	}
	var entries [][]byte
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		size, err := tx.LedgerSize(r.Context(), c.org)
		if err != nil {
			return err
		}
		if index >= size {
			return clientError(probity.ErrNotFound, "the ledger has %d entries; there is no entry %d", size, index)
		}
		entries, err = tx.LedgerEntries(r.Context(), c.org, index, 1)
		return err
	})
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return fmt.Errorf("%w: entry %d is missing", store.ErrLedgerDamaged, index)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(entries[0])
	return nil
}

// maxEntryRange is how many entries one GET /v1/ledger/entries returns.
const maxEntryRange = 1000

// getEntries returns up to limit entries from index from, exact bytes, as
// {"from":n,"entries":[…]}. The array is written by hand so that each entry
// is its stored bytes verbatim (encoding/json would re-escape them).
func (s *Server) getEntries(w http.ResponseWriter, r *http.Request, c *call) error {
	from, ok, err := queryInt(r, "from")
	if err != nil {
		return err
	}
	if !ok {
		return probity.Invalid("from", "is required")
	}
	limit, ok, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	if !ok {
		limit = maxEntryRange
	}
	if limit < 1 || limit > maxEntryRange {
		return probity.Invalid("limit", "must be a whole number from 1 to %d", maxEntryRange)
	}
	var entries [][]byte
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		size, err := tx.LedgerSize(r.Context(), c.org)
		if err != nil {
			return err
		}
		if from > size {
			return probity.Invalid("from", "the ledger has only %d entries", size)
		}
		// Read in small chunks and stop at maxPageBytes: the client asks
		// again from where the answer ends.
		want := int(min(limit, size-from))
		total := 0
		for len(entries) < want && (len(entries) == 0 || total < maxPageBytes) {
			n := min(16, want-len(entries))
			next := from + int64(len(entries))
			chunk, err := tx.LedgerEntries(r.Context(), c.org, next, n)
			if err != nil {
				return err
			}
			if len(chunk) != n {
				return fmt.Errorf("%w: entry %d is missing", store.ErrLedgerDamaged, next+int64(len(chunk)))
			}
			for _, e := range chunk {
				entries = append(entries, e)
				if total += len(e); total >= maxPageBytes {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := fmt.Appendf(nil, `{"from":%d,"entries":[`, from)
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	out = append(out, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(out)
	return nil
}

// queryInt reads a non-negative integer parameter; ok is false when absent.
func queryInt(r *http.Request, name string) (int64, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, probity.Invalid(name, "must be a whole number from 0")
	}
	return n, true, nil
}

// getProof proves a leaf's inclusion: ?index=i or ?recordId=id, against the
// tree of ?size=n (default: the latest signed checkpoint, signed on demand).
func (s *Server) getProof(w http.ResponseWriter, r *http.Request, c *call) error {
	index, hasIndex, err := queryInt(r, "index")
	if err != nil {
		return err
	}
	size, hasSize, err := queryInt(r, "size")
	if err != nil {
		return err
	}
	recordID, err := queryText(r, "recordId")
	if err != nil {
		return err
	}
	if hasIndex == (recordID != "") {
		return probity.Invalid("index", "give exactly one of index and recordId")
	}
	if !hasSize {
		_, cp, err := s.Checkpoint(r.Context(), c.org)
		if err != nil {
			return err
		}
		size = cp.Size
	}
	var p ledger.InclusionProof
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if recordID != "" {
			rec, err := tx.GetRecord(r.Context(), c.org, recordID)
			if err != nil {
				return err
			}
			index = rec.LedgerIndex
		}
		cur, err := tx.LedgerSize(r.Context(), c.org)
		if err != nil {
			return err
		}
		if size > cur {
			return probity.Invalid("size", "the ledger has only %d entries", cur)
		}
		if index >= size {
			return probity.Invalid("index", "entry %d is not in a tree of %d entries", index, size)
		}
		p, err = ledger.ProveInclusion(index, size, store.HashReader(r.Context(), tx, c.org))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) getConsistency(w http.ResponseWriter, r *http.Request, c *call) error {
	from, okFrom, err := queryInt(r, "from")
	if err != nil {
		return err
	}
	to, okTo, err := queryInt(r, "to")
	if err != nil {
		return err
	}
	if !okFrom {
		return probity.Invalid("from", "is required")
	}
	if !okTo {
		return probity.Invalid("to", "is required")
	}
	if from > to {
		return probity.Invalid("from", "must not be larger than to")
	}
	var p ledger.ConsistencyProof
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		cur, err := tx.LedgerSize(r.Context(), c.org)
		if err != nil {
			return err
		}
		if to > cur {
			return probity.Invalid("to", "the ledger has only %d entries", cur)
		}
		p, err = ledger.ProveConsistency(from, to, store.HashReader(r.Context(), tx, c.org))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// publicKeys is GET /v1/keys: what a verifier needs, nothing secret.
type publicKeys struct {
	Ledger struct {
		Origin      string `json:"origin"`
		VerifierKey string `json:"verifierKey"`
	} `json:"ledger"`
	Attestation []attestationKeyView `json:"attestation"`
}

func (s *Server) getKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	var out publicKeys
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		k, err := tx.LedgerKey(r.Context(), c.org)
		if err != nil {
			return err
		}
		out.Ledger.Origin, out.Ledger.VerifierKey = k.Origin, k.Verifier
		out.Attestation, err = attestationKeys(r.Context(), tx, c.org)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
