package engine

import "fmt"

// DuplicatePartitionError is on_duplicate=ERROR's failure: the new
// partition has the hash of the one the view showed, and is left
// unattached.
type DuplicatePartitionError struct {
	Schema, Partition, Source string
}

func (e *DuplicatePartitionError) Error() string {
	return fmt.Sprintf("on_duplicate=__ERROR__: Duplicate partition detected: %s has same hash as %s", e.Partition, e.Source)
}
