package ledger

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// An export is a directory that holds a log up to a signed checkpoint, for
// audits with no server (record keeping such as the EU AI Act's Article 12):
//
//	checkpoint     the signed checkpoint, exactly as the log served it
//	key            the verifier key it was signed with, and a newline
//	entries.jsonl  line i (from 0) is {"index":i,"entry":E,"data":"B"}, where B
//	               is the standard base64 of leaf i's exact bytes and E is the
//	               same bytes embedded verbatim when they are a JSON value that
//	               can be (no newline, no surrounding space); "data" is hashed,
//	               "entry" is there to be read
//	hashes         line i is leaf i's RFC 6962 leaf hash in standard base64
//	README.txt     what these files are and how to verify them
//
// The hashes are redundant with the entries; they let a verifier name which
// entries were changed, deleted or moved. They are only trusted once they
// reproduce the signed root.
const (
	exportCheckpoint = "checkpoint"
	exportKey        = "key"
	exportEntries    = "entries.jsonl"
	exportHashes     = "hashes"
	exportReadme     = "README.txt"
)

// maxExportLine bounds one line of entries.jsonl when verifying.
const maxExportLine = 64 << 20

// maxBad bounds how many bad indexes a Report lists.
const maxBad = 100

// WriteExport writes an export of the log that signedCheckpoint commits to
// into dir, which must be empty or not exist. entries yields the log's
// leaves in order from index 0; WriteExport stops after the checkpoint's
// size, so entries may run past it while the log grows. It checks the
// checkpoint against verifierKey and the entries against its root, so that
// it never writes an export that does not verify. The checkpoint is written
// last: an export that failed partway has none, and does not verify.
func WriteExport(dir string, signedCheckpoint []byte, verifierKey string, entries iter.Seq2[[]byte, error]) error {
	c, err := OpenCheckpoint(signedCheckpoint, verifierKey)
	if err != nil {
		return fmt.Errorf("writing export: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing export: %w", err)
	}
	if des, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("writing export: %w", err)
	} else if len(des) > 0 {
		return fmt.Errorf("writing export: directory %s is not empty", dir)
	}

	n, root, err := writeEntries(dir, c.Size, entries)
	if err != nil {
		return fmt.Errorf("writing export: %w", err)
	}
	if n < c.Size {
		return fmt.Errorf("writing export: the log yielded %d entries, the checkpoint has %d", n, c.Size)
	}
	if root != c.Hash {
		return fmt.Errorf("writing export: %w: entries 0 to %d hash to root %s, the checkpoint's is %s", ErrTampered, c.Size-1, root, c.Hash)
	}
	for name, data := range map[string][]byte{
		exportCheckpoint: signedCheckpoint,
		exportKey:        []byte(verifierKey + "\n"),
		exportReadme:     readme(c),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing export: %w", err)
		}
	}
	return nil
}

// writeEntries writes entries.jsonl and hashes from the first size entries
// and returns how many it wrote and their root.
func writeEntries(dir string, size int64, entries iter.Seq2[[]byte, error]) (int64, tlog.Hash, error) {
	ef, err := os.Create(filepath.Join(dir, exportEntries))
	if err != nil {
		return 0, tlog.Hash{}, err
	}
	defer ef.Close()
	hf, err := os.Create(filepath.Join(dir, exportHashes))
	if err != nil {
		return 0, tlog.Hash{}, err
	}
	defer hf.Close()
	ew, hw := bufio.NewWriterSize(ef, 1<<20), bufio.NewWriterSize(hf, 1<<16)

	var b rootBuilder
	var line []byte
	for data, err := range entries {
		if b.n == size {
			break
		}
		if err != nil {
			return b.n, tlog.Hash{}, fmt.Errorf("reading entry %d: %w", b.n, err)
		}
		line = fmt.Appendf(line[:0], `{"index":%d,`, b.n)
		if embeddable(data) {
			line = append(line, `"entry":`...)
			line = append(line, data...)
			line = append(line, ',')
		}
		line = append(line, `"data":"`...)
		line = base64.StdEncoding.AppendEncode(line, data)
		line = append(line, "\"}\n"...)
		h := LeafHash(data)
		if _, err := ew.Write(line); err != nil {
			return b.n, tlog.Hash{}, err
		}
		if _, err := fmt.Fprintf(hw, "%s\n", h); err != nil {
			return b.n, tlog.Hash{}, err
		}
		b.add(h)
	}
	for _, f := range []struct {
		w *bufio.Writer
		f *os.File
	}{{ew, ef}, {hw, hf}} {
		if err := f.w.Flush(); err != nil {
			return b.n, tlog.Hash{}, err
		}
		if err := f.f.Close(); err != nil {
			return b.n, tlog.Hash{}, err
		}
	}
	return b.n, b.root(), nil
}

// embeddable reports whether data can sit verbatim in a JSON line and be
// read back byte for byte as a json.RawMessage.
func embeddable(data []byte) bool {
	if len(data) == 0 || bytes.ContainsAny(data, "\r\n") {
		return false
	}
	if isJSONSpace(data[0]) || isJSONSpace(data[len(data)-1]) {
		return false
	}
	return json.Valid(data)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// A Report says what VerifyExport found.
type Report struct {
	Origin  string    `json:"origin"`  // the log, from the signed checkpoint
	Size    int64     `json:"size"`    // entries the checkpoint signs
	Hash    tlog.Hash `json:"hash"`    // their root
	Entries int64     `json:"entries"` // lines in entries.jsonl
	// FirstBad is the first index whose entry is changed, missing, moved or
	// not in the signed log; -1 when none is, or when none can be named.
	FirstBad int64   `json:"firstBad"`
	Bad      []int64 `json:"bad,omitempty"` // the first bad indexes, at most 100
	BadCount int64   `json:"badCount"`      // how many indexes are bad in all
}

// VerifyExport verifies the export in dir against verifierKey, which the
// caller must get from somewhere it trusts (the export's own key file proves
// nothing). The export is valid when the checkpoint's signature verifies and
// entries.jsonl holds exactly its size entries, whose RFC 6962 root is its
// root. When the entries fail and the hashes file reproduces the signed
// root, the hashes name each changed, deleted or moved entry; when both
// fail, the change cannot be placed. Errors wrap ErrTampered for content
// that does not match the signed log, or the errors of OpenCheckpoint.
func VerifyExport(dir, verifierKey string) (Report, error) {
	r := Report{FirstBad: -1}
	signed, err := os.ReadFile(filepath.Join(dir, exportCheckpoint))
	if err != nil {
		return r, fmt.Errorf("verifying export: %w", err)
	}
	c, err := OpenCheckpoint(signed, verifierKey)
	if err != nil {
		return r, fmt.Errorf("verifying export: %w", err)
	}
	r.Origin, r.Size, r.Hash = c.Origin, c.Size, c.Hash

	ef, err := os.Open(filepath.Join(dir, exportEntries))
	if err != nil {
		return r, fmt.Errorf("verifying export: %w", err)
	}
	defer ef.Close()
	hf, err := os.Open(filepath.Join(dir, exportHashes))
	if err != nil {
		return r, fmt.Errorf("verifying export: %w", err)
	}
	defer hf.Close()

	v := exportVerifier{size: c.Size}
	if err := v.run(ef, hf); err != nil {
		return r, fmt.Errorf("verifying export: %w", err)
	}
	r.Entries = v.entries.n

	entriesOK := v.entries.n == c.Size && v.entries.root() == c.Hash
	hashesOK := !v.hashesBroken && v.hashes.n == c.Size && v.hashes.root() == c.Hash
	bad := &v.lineBad // problems in a line itself, whatever the hashes say
	if hashesOK {
		bad = &v.anyBad // plus entries that differ from authentic leaf hashes
	}
	r.FirstBad, r.Bad, r.BadCount = bad.first(), bad.list, bad.count

	switch {
	case entriesOK && bad.count == 0 && hashesOK:
		return r, nil
	case bad.count > 0:
		more := ""
		if bad.count > 1 {
			more = fmt.Sprintf(" (%d bad entries in all)", bad.count)
		}
		return r, fmt.Errorf("verifying export: %w: entry %d %s%s", ErrTampered, bad.first(), bad.reason, more)
	case entriesOK:
		return r, fmt.Errorf("verifying export: %w: the entries match the signed root but the hashes file does not", ErrTampered)
	case v.entries.n != c.Size:
		return r, fmt.Errorf("verifying export: %w: %d entries, the checkpoint signs %d, and the hashes file does not match the signed root to tell which", ErrTampered, v.entries.n, c.Size)
	default:
		return r, fmt.Errorf("verifying export: %w: the %d entries hash to root %s, the checkpoint signs %s, and the hashes file does not match the signed root to tell which entry changed", ErrTampered, v.entries.n, v.entries.root(), c.Hash)
	}
}

// exportVerifier reads entries.jsonl and hashes in step, building the root
// of each and noting which indexes look bad.
type exportVerifier struct {
	size         int64
	entries      rootBuilder // from the entries' data
	hashes       rootBuilder // from the hashes file
	hashesBroken bool        // the hashes file does not parse
	lineBad      badList     // lines that are wrong in themselves
	anyBad       badList     // those, and entries unlike their hash line
}

type badList struct {
	list   []int64
	count  int64
	reason string // why the first is bad
}

func (b *badList) add(i int64, reason string) {
	if b.count == 0 {
		b.reason = reason
	}
	b.count++
	if len(b.list) < maxBad {
		b.list = append(b.list, i)
	}
}

func (b *badList) first() int64 {
	if len(b.list) == 0 {
		return -1
	}
	return b.list[0]
}

func (v *exportVerifier) run(entries, hashes io.Reader) error {
	es := bufio.NewScanner(entries)
	es.Buffer(make([]byte, 0, 1<<16), maxExportLine)
	hs := bufio.NewScanner(hashes)
	for i := int64(0); ; i++ {
		haveEntry := es.Scan()
		haveHash := !v.hashesBroken && hs.Scan()
		if !haveEntry && !haveHash {
			break
		}
		var want tlog.Hash
		if haveHash {
			h, err := parseHash(hs.Text())
			if err != nil {
				v.hashesBroken = true
				haveHash = false
			} else {
				want = h
				v.hashes.add(h)
			}
		}
		lineReason := ""
		if haveEntry {
			data, reason := parseExportLine(es.Bytes(), i)
			lineReason = reason
			if lineReason == "" && i >= v.size {
				lineReason = fmt.Sprintf("is past the checkpoint's size %d", v.size)
			}
			got := LeafHash(data)
			if data == nil {
				got = tlog.Hash{} // a line that does not parse matches nothing
			}
			v.entries.add(got)
			switch {
			case lineReason != "":
				v.lineBad.add(i, lineReason)
				v.anyBad.add(i, lineReason)
			case haveHash && got != want:
				v.anyBad.add(i, fmt.Sprintf("was changed, deleted or moved: its data hashes to %s, the signed log's leaf hash is %s", got, want))
			}
		} else if haveHash {
			v.anyBad.add(i, "is missing")
		}
	}
	if err := es.Err(); err != nil {
		return fmt.Errorf("%w %s: %v", ErrMalformed, exportEntries, err)
	}
	if err := hs.Err(); err != nil {
		v.hashesBroken = true
	}
	return nil
}

// exportLine is one line of entries.jsonl as read.
type exportLine struct {
	Index *int64          `json:"index"`
	Entry json.RawMessage `json:"entry"`
	Data  *string         `json:"data"`
}

// parseExportLine returns the exact bytes of the entry on line i, or why the
// line is wrong.
func parseExportLine(line []byte, i int64) ([]byte, string) {
	var l exportLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Sprintf("is not a valid line: %v", err)
	}
	if dec.More() {
		return nil, "is not a valid line: more than one JSON value"
	}
	if l.Index == nil || l.Data == nil {
		return nil, `is not a valid line: "index" or "data" is missing`
	}
	data, err := base64.StdEncoding.Strict().DecodeString(*l.Data)
	if err != nil || strings.ContainsAny(*l.Data, "\r\n") {
		return nil, `is not a valid line: "data" is not standard base64`
	}
	if *l.Index != i {
		return data, fmt.Sprintf("is missing or moved: its line holds index %d", *l.Index)
	}
	if l.Entry != nil && !bytes.Equal(l.Entry, data) {
		return data, `was changed: its "entry" and "data" differ`
	}
	return data, ""
}

// rootBuilder computes an RFC 6962 tree root from leaf hashes in order,
// keeping only the roots of the complete subtrees on the right edge.
type rootBuilder struct {
	n     int64
	stack []tlog.Hash // complete subtree roots, largest first
}

func (b *rootBuilder) add(h tlog.Hash) {
	b.stack = append(b.stack, h)
	for n := b.n; n&1 == 1; n >>= 1 {
		l := len(b.stack)
		b.stack = append(b.stack[:l-2], tlog.NodeHash(b.stack[l-2], b.stack[l-1]))
	}
	b.n++
}

func (b *rootBuilder) root() tlog.Hash {
	if b.n == 0 {
		return emptyRoot
	}
	h := b.stack[len(b.stack)-1]
	for i := len(b.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(b.stack[i], h)
	}
	return h
}

// readme is the README.txt of an export of the log c commits to.
func readme(c Checkpoint) []byte {
	return fmt.Appendf(nil, `Probity ledger export

Log:  %s
Size: %d entries
Root: %s

This directory holds a Probity ledger (a tamper-evident, append-only log of
everything Probity recorded for one org) up to a signed checkpoint.

Files

  checkpoint     the log's checkpoint, a C2SP signed note
                 (https://c2sp.org/tlog-checkpoint): origin, size, and the
                 RFC 6962 Merkle tree root of the entries, signed with Ed25519
  key            the note verifier key the checkpoint was signed with
  entries.jsonl  one line per entry, in log order:
                   {"index":i,"entry":<the entry>,"data":"<base64>"}
                 "data" is the entry's exact bytes in standard base64; they
                 are what is hashed. "entry" is the same bytes embedded as
                 JSON, for reading.
  hashes         line i is the leaf hash of entry i, SHA-256(0x00 || data),
                 in base64; it lets a verifier name a changed entry
  README.txt     this file

Verify

  probity verify export DIR

checks the signature, recomputes the tree root from every entry, and
compares it and the entry count with the checkpoint. Any changed, deleted,
added or reordered entry changes the root; the hashes file then names the
index. Check the key first: it must be the ledger key the org publishes
(GET /v1/keys, field ledger.verifierKey), obtained from a source you trust;
the copy in this directory proves nothing by itself.

Without Probity, any RFC 6962 implementation verifies it: verify the signed
note with the key (https://c2sp.org/signed-note), hash each entry's decoded
"data" as SHA-256(0x00 || data), build the Merkle tree root
(https://www.rfc-editor.org/rfc/rfc6962#section-2.1) and compare it with the
third line of the checkpoint.
`, c.Origin, c.Size, c.Hash)
}
