package app

// Redact is redact, for the tests.
var Redact = redact

// OnJobs sends the name of every background job that ends to the returned
// channel (dropping names when it is full) until the test ends.
func OnJobs(t interface{ Cleanup(func()) }) <-chan string {
	ch := make(chan string, 16)
	afterJob = func(what string, _ error) {
		select {
		case ch <- what:
		default:
		}
	}
	t.Cleanup(func() { afterJob = func(string, error) {} })
	return ch
}
