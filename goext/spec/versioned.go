package spec

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The on_duplicate strings: upstream's three constants, and the host's
// marker for a callable, which the engine asks through its source.
const (
	OnDuplicateSkip  = "__SKIP__"
	OnDuplicateError = "__ERROR__"
	OnDuplicateKeep  = "__KEEP__"
	OnDuplicateCall  = "__CALL__"
)

// Versioned makes a job an ingest_versioned: its one table is the
// version's partition (the base columns, then Column), which the engine
// fills, hashes, attaches to the root and shows through the view Base,
// all in the partition's schema.
type Versioned struct {
	Base    string `json:"base"`    // the view's name
	Root    string `json:"root"`    // the partitioned table's name
	Column  string `json:"column"`  // the partition column
	Version string `json:"version"` // the partition's LIST bound
	// VersionJSON is the version as the partition's comment stores it.
	VersionJSON json.RawMessage `json:"version_json"`
	// CopyForward starts the partition with the rows and comment of the
	// view's current partition (high_watermark=LATEST).
	CopyForward bool   `json:"copy_forward"`
	OnDuplicate string `json:"on_duplicate"`
}

// PartitionName is upstream's name of a version's partition of base.
func PartitionName(base, version string) string {
	return base + "__" + strings.ReplaceAll(version, "-", "")
}

// validate checks v against the job's tables and options.
func (v *Versioned) validate(r *Job) error {
	if len(r.Tables) != 1 {
		return fmt.Errorf("a versioned ingest has one table, the partition, not %d", len(r.Tables))
	}
	part := &r.Tables[0]
	if want := PartitionName(v.Base, v.Version); part.Name != want {
		return fmt.Errorf("the partition of version %q of %q is %q, not %q", v.Version, v.Base, want, part.Name)
	}
	for _, n := range [][2]string{{"view", v.Base}, {"root table", v.Root}, {"partition column", v.Column}} {
		if n[1] == "" {
			return fmt.Errorf("a versioned ingest needs the name of its %s", n[0])
		}
		if err := checkLength(n[0], n[1]); err != nil {
			return err
		}
	}
	if last := part.Columns[len(part.Columns)-1]; last.Name != v.Column || last.Nullable {
		return fmt.Errorf("the partition's last column must be the partition column %q, NOT NULL", v.Column)
	}
	if !json.Valid(v.VersionJSON) {
		return fmt.Errorf("version_json %q is not JSON", v.VersionJSON)
	}
	switch v.OnDuplicate {
	case OnDuplicateSkip, OnDuplicateError, OnDuplicateKeep, OnDuplicateCall:
	default:
		return fmt.Errorf("on_duplicate must be OnDuplicate.SKIP, OnDuplicate.ERROR, OnDuplicate.KEEP or a callable, not %q", v.OnDuplicate)
	}
	// Upstream overrides these (with a warning) before it starts: the
	// copied rows must stay, and new rows replace copied ones by key.
	if r.Options.Delete != DeleteOff {
		return fmt.Errorf("a versioned ingest needs delete=Delete.OFF, not %q", r.Options.Delete)
	}
	if v.CopyForward && r.Options.Upsert != UpsertIfPrimaryKey {
		return fmt.Errorf("a versioned ingest that copies forward needs upsert=Upsert.IF_PRIMARY_KEY, not %q", r.Options.Upsert)
	}
	return nil
}
