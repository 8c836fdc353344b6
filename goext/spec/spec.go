// Package spec holds the JSON description of what to ingest: the tables as
// SQLAlchemy defines them and the options of one ingest call.
package spec

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Column is one column of a wanted table, in table order.
type Column struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // SQL type text as the PostgreSQL dialect compiles it
	Nullable   bool   `json:"nullable"`
	PrimaryKey bool   `json:"primary_key"`
	Unique     bool   `json:"unique"`
}

// Index is an sa.Index declared on a table; its name is chosen at creation.
type Index struct {
	Columns []string `json:"columns"`
	Unique  bool     `json:"unique"`
	Using   string   `json:"using,omitempty"`   // e.g. "gin"; empty means the server default
	Include []string `json:"include,omitempty"` // postgresql_include
}

// Table is a wanted table.
type Table struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	Indexes []Index  `json:"indexes"`
}

// PrimaryKey returns the names of the primary key columns in table order.
func (t *Table) PrimaryKey() []string {
	var pk []string
	for _, c := range t.Columns {
		if c.PrimaryKey {
			pk = append(pk, c.Name)
		}
	}
	return pk
}

// ColumnNames returns the column names in table order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// The option strings, identical to upstream's constants.
const (
	VisibilityAfterEach = "__AFTER_EACH_BATCH__"
	UpsertOff           = "__OFF__"
	UpsertIfPrimaryKey  = "__IF_PRIMARY_KEY__"
	DeleteOff           = "__OFF__"
	DeleteBeforeFirst   = "__BEFORE_FIRST_BATCH__"
)

// Options are the string constants of one ingest call. The high watermark
// option is resolved by the caller, who alone holds the value; the bound
// on the rows buffered per table (max_rows_per_table_buffer) by the host,
// which does the buffering.
type Options struct {
	Upsert     string `json:"upsert"`
	Delete     string `json:"delete"`
	Visibility string `json:"visibility"`
	// OnBeforeVisible is set when the source's OnBeforeVisible runs code
	// of the caller's (an on_before_visible other than ingest()'s
	// default), which may read the tables from other sessions while the
	// batch is uncommitted: a table that ADD COLUMN would migrate is then
	// rebuilt, so that those reads see the old table instead of waiting
	// for ADD COLUMN's lock until the commit (engine/addcolumn.go).
	OnBeforeVisible bool `json:"on_before_visible,omitempty"`
}

// Job is one ingest: the JSON document the host language sends to start it.
type Job struct {
	Tables  []Table `json:"tables"`
	Options Options `json:"options"`
	// Versioned, when set, makes the job an ingest_versioned.
	Versioned *Versioned `json:"versioned,omitempty"`
}

// Validate rejects what cannot be ingested before any SQL runs.
func (r *Job) Validate() error {
	if len(r.Tables) == 0 {
		return errors.New("metadata has no tables")
	}
	for _, t := range r.Tables {
		if t.Schema == "" {
			return fmt.Errorf("table %q has no schema: pass schema=... to sa.Table", t.Name)
		}
		if len(t.Columns) == 0 {
			return fmt.Errorf("table %q.%q has no columns", t.Schema, t.Name)
		}
		if err := checkLength("schema", t.Schema); err != nil {
			return err
		}
		if err := checkLength("table", t.Name); err != nil {
			return fmt.Errorf("%w (schema %q)", err, t.Schema)
		}
		for _, c := range t.Columns {
			if err := checkLength("column", c.Name); err != nil {
				return fmt.Errorf("%w (table %q.%q)", err, t.Schema, t.Name)
			}
		}
	}
	if err := r.Options.Validate(); err != nil {
		return err
	}
	if r.Versioned != nil {
		return r.Versioned.validate(r)
	}
	return nil
}

// MaxIdentifierBytes is PostgreSQL's limit on a name (NAMEDATALEN - 1).
const MaxIdentifierBytes = 63

// checkLength refuses a name the server would truncate: the table or
// column would be created under another name than the one every later
// look-up uses, so that every run would fail.
func checkLength(kind, name string) error {
	if len(name) <= MaxIdentifierBytes {
		return nil
	}
	return fmt.Errorf("%s name %q is %d bytes long in UTF-8: PostgreSQL's limit is %d bytes (it would truncate the name); shorten it",
		kind, name, len(name), MaxIdentifierBytes)
}

// Validate checks every option against its known strings.
func (o *Options) Validate() error {
	if o.Upsert != UpsertOff && o.Upsert != UpsertIfPrimaryKey {
		return fmt.Errorf("upsert must be Upsert.OFF or Upsert.IF_PRIMARY_KEY, not %q", o.Upsert)
	}
	if o.Delete != DeleteOff && o.Delete != DeleteBeforeFirst {
		return fmt.Errorf("delete must be Delete.OFF or Delete.BEFORE_FIRST_BATCH, not %q", o.Delete)
	}
	if o.Visibility != VisibilityAfterEach {
		return fmt.Errorf("visibility must be Visibility.AFTER_EACH_BATCH, not %q", o.Visibility)
	}
	return nil
}

// Parse decodes a job; engine.New checks it.
func Parse(doc []byte) (*Job, error) {
	var r Job
	if err := json.Unmarshal(doc, &r); err != nil {
		return nil, fmt.Errorf("decoding table spec: %w", err)
	}
	return &r, nil
}
