package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/ledger"
)

// ledgerPage is the data of the ledger page.
type ledgerPage struct {
	layout
	Note        string // the signed checkpoint, as served
	Checkpoint  ledger.Checkpoint
	VerifierKey string
	KeyGiven    bool   // the visitor pasted the verifier key to check with
	NoteError   string // why the checkpoint's signature does not verify

	// The inclusion check asked for, if any.
	Asked    bool
	Index    string
	RecordID string
	Proof    ledger.InclusionProof
	Entry    string // the leaf's exact bytes, which it hashes
	Verified bool
	Error    string // why the proof does not verify
}

// ledger shows the current signed checkpoint and, for ?index= or
// ?record=, checks that entry's inclusion proof against it here, on the
// server, with the public ledger package: the note's signature under the
// verifier key (GET /v1/keys, or one pasted as ?key=), the entry's leaf
// hash, and the audit path to the checkpoint's root.
func (d *Dashboard) ledger(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	q := r.URL.Query()
	p := ledgerPage{layout: d.frame(v, "Ledger", "ledger"), Index: strings.TrimSpace(q.Get("index")), RecordID: strings.TrimSpace(q.Get("record"))}
	var note []byte
	if err := d.api.Do(ctx, v.key, "GET /v1/ledger/checkpoint", nil, nil, nil, &note); err != nil {
		return err
	}
	p.Note = string(note)
	var keys client.Keys
	if err := d.api.Do(ctx, v.key, "GET /v1/keys", nil, nil, nil, &keys); err != nil {
		return err
	}
	p.VerifierKey = keys.Ledger.VerifierKey
	if k := strings.TrimSpace(q.Get("key")); k != "" {
		if err := probity.CheckText("key", k, 500); err != nil {
			return err
		}
		p.VerifierKey, p.KeyGiven = k, true
	}
	cp, err := ledger.OpenCheckpoint(note, p.VerifierKey)
	if err != nil {
		p.NoteError = err.Error()
		// Show the size and root even so: the body parses without the key.
		if body, _, ok := strings.Cut(p.Note, "\n\n"); ok {
			cp, _ = ledger.ParseCheckpoint([]byte(body + "\n"))
		}
	}
	p.Checkpoint = cp

	if p.Index == "" && p.RecordID == "" {
		return d.render(w, r, http.StatusOK, "ledger.html", p)
	}
	p.Asked = true
	if cp.Size == 0 {
		return probity.Invalid("index", "the ledger is empty")
	}
	if p.Index != "" && p.RecordID != "" {
		return probity.Invalid("index", "give an index or a record id, not both")
	}
	pq := url.Values{"size": {strconv.FormatInt(cp.Size, 10)}}
	if p.Index != "" {
		n, err := strconv.ParseInt(p.Index, 10, 64)
		if err != nil || n < 0 {
			return probity.Invalid("index", "must be a whole number from 0")
		}
		if n >= cp.Size {
			return probity.Invalid("index", "the checkpoint covers entries 0 to %d", cp.Size-1)
		}
		pq.Set("index", p.Index)
	} else {
		if err := probity.CheckText("record", p.RecordID, 200); err != nil {
			return err
		}
		pq.Set("recordId", p.RecordID)
	}
	if err := d.api.Do(ctx, v.key, "GET /v1/ledger/proof", nil, pq, nil, &p.Proof); err != nil {
		return err
	}
	var entry []byte
	if err := d.api.Do(ctx, v.key, "GET /v1/ledger/entries/{index}", map[string]string{"index": strconv.FormatInt(p.Proof.Index, 10)}, nil, nil, &entry); err != nil {
		return err
	}
	p.Entry = string(entry)
	switch {
	case p.NoteError != "":
		p.Error = "the checkpoint's signature does not verify, so no proof against it can: " + p.NoteError
	default:
		if err := ledger.VerifyInclusion(p.Proof, entry, cp); err != nil {
			p.Error = err.Error()
		} else {
			p.Verified = true
		}
	}
	return d.render(w, r, http.StatusOK, "ledger.html", p)
}
