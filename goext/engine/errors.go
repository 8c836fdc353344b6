package engine

import "fmt"

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
