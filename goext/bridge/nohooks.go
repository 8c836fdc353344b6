//go:build !pbitest

package bridge

// testPanicAt is a test hook (testhooks.go), absent from the release build.
func testPanicAt(Op) {}
