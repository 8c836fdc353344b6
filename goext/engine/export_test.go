package engine

// For the tests of package engine_test.
var (
	TableHash = tableHash
	Isoformat = isoformat
)
