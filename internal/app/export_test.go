package app

// Redact is redact, for the tests.
var Redact = redact
