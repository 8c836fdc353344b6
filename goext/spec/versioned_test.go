package spec

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidateVersioned(t *testing.T) {
	valid := func() *Job {
		return &Job{
			Tables: []Table{{Schema: "s", Name: "t__20240101", Columns: []Column{
				{Name: "id", Type: "INTEGER", PrimaryKey: true}, {Name: "_version", Type: "VARCHAR"}}}},
			Options: Options{Upsert: UpsertIfPrimaryKey, Delete: DeleteOff, Visibility: VisibilityAfterEach},
			Versioned: &Versioned{Base: "t", Root: "t__history", Column: "_version", Version: "2024-01-01",
				VersionJSON: json.RawMessage(`"2024-01-01"`), CopyForward: true, OnDuplicate: OnDuplicateSkip},
		}
	}
	for _, c := range []struct {
		change func(*Job)
		want   string // "" for valid
	}{
		{func(*Job) {}, ""},
		{func(j *Job) { j.Versioned.OnDuplicate = OnDuplicateCall }, ""},
		{func(j *Job) { j.Versioned.CopyForward, j.Options.Upsert = false, UpsertOff }, ""},
		{func(j *Job) { j.Tables = append(j.Tables, j.Tables[0]) }, "one table, the partition, not 2"},
		{func(j *Job) { j.Tables[0].Name = "t__2024-01-01" }, `the partition of version "2024-01-01" of "t" is "t__20240101"`},
		{func(j *Job) { j.Versioned.Root = "" }, "needs the name of its root table"},
		{func(j *Job) {
			j.Versioned.Base = strings.Repeat("b", 64)
			j.Tables[0].Name = PartitionName(j.Versioned.Base, "2024-01-01")
		}, "table name"},
		{func(j *Job) { j.Versioned.Column = "v" }, `last column must be the partition column "v"`},
		{func(j *Job) { j.Tables[0].Columns[1].Nullable = true }, "NOT NULL"},
		{func(j *Job) { j.Versioned.VersionJSON = json.RawMessage(`{`) }, "is not JSON"},
		{func(j *Job) { j.Versioned.OnDuplicate = "skip" }, `on_duplicate must be OnDuplicate.SKIP, OnDuplicate.ERROR, OnDuplicate.KEEP or a callable, not "skip"`},
		{func(j *Job) { j.Options.Delete = DeleteBeforeFirst }, "needs delete=Delete.OFF"},
		{func(j *Job) { j.Options.Upsert = UpsertOff }, "copies forward needs upsert=Upsert.IF_PRIMARY_KEY"},
	} {
		j := valid()
		c.change(j)
		err := j.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", j.Versioned, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
}
