package testbed

import (
	"net/http/httptest"
	"testing"
)

// Start serves the testbed for the length of a test (tbtest.Start, inside
// the package).
func Start(t testing.TB, opts Options) string {
	t.Helper()
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv.URL
}
