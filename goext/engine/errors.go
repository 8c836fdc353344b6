package engine

import (
	"fmt"
	"strings"
)

// BatchError is a value of a batch that cannot be stored.
type BatchError struct {
	Batch int
	Table string
	Err   error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch %d, table %s: %s (row numbers count this table's rows in the batch from 0)", e.Batch, e.Table, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// SQLRowError is the server's refusal of the rows of an SQL chunk.
type SQLRowError struct {
	Row int    // the chunk's place among the table's rows in the batch
	SQL string // its text
	Err error
}

// sqlShown is how much of an SQL chunk's text an error shows.
const sqlShown = 200

func (e *SQLRowError) Error() string {
	text := e.SQL
	if len(text) > sqlShown {
		text = strings.ToValidUTF8(text[:sqlShown], "") + "..."
	}
	return fmt.Sprintf("row %d (SQL: %s): %s", e.Row, text, e.Err)
}

func (e *SQLRowError) Unwrap() error { return e.Err }
