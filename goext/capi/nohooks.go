//go:build !pbitest

package main

import "github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/bridge"

// testPanicInStep is a test hook (testhooks.go), absent from the release build.
func testPanicInStep(*bridge.Session) {}
