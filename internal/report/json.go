package report

import (
	"encoding/json"
	"io"
)

// JSON writes the report as indented JSON. The output is stable: fields in
// a fixed order, lists in the report's order, map keys sorted.
func JSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
