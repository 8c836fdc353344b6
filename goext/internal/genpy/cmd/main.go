// Command cmd writes python/pg_bulk_ingest/_protocol.py: see package genpy.
// Run by `go generate ./goext/...` from goext/bridge.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/genpy"
)

func main() {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		var out []byte
		if out, err = genpy.Generate(root); err == nil {
			err = os.WriteFile(filepath.Join(root, genpy.Output), out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genpy:", err)
		os.Exit(1)
	}
}
