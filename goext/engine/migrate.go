package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// liveColumn is a column of a table as the catalog has it.
type liveColumn struct {
	pgcopy.Target
	notNull, primaryKey, unique bool
}

func (c liveColumn) String() string {
	s := c.Name + " " + c.Type
	for _, f := range []struct {
		on   bool
		text string
	}{{c.notNull, " NOT NULL"}, {c.primaryKey, " PRIMARY KEY"}, {c.unique, " UNIQUE"}} {
		if f.on {
			s += f.text
		}
	}
	return s
}

// firstBatch does the work due in a table's first batch of the ingest,
// whether or not the batch has rows for it: it chooses the table the
// rows go into, a new ingest table when the live one differs from the
// wanted one or must be emptied.
func (br *batchRun) firstBatch(ctx context.Context, i int, t *table) error {
	if t.firstDone {
		return nil
	}
	t.firstDone = true
	live, err := br.readLive(ctx, t.spec.Schema, t.spec.Name)
	if err != nil {
		return err
	}
	if t.forward != nil {
		// The partition, made without keys and indexes, is filled as a new
		// ingest table is, but in place: there is nothing to swap.
		br.ingest[i] = ingestTable{name: t.spec.Name, forward: t.forward}
		t.forward.done = true
		return t.useColumns(live)
	}
	rebuild := br.opts.Delete == spec.DeleteBeforeFirst
	if !rebuild {
		br.log.Info("Finding existing columns of %s.%s", t.spec.Schema, t.spec.Name)
		names := make([]string, len(live))
		for k, c := range live {
			names[k] = c.String()
		}
		br.log.Info("Existing columns of %s.%s are %s", t.spec.Schema, t.spec.Name, "["+strings.Join(names, ", ")+"]")
		if rebuild, err = br.differs(ctx, t, live); err != nil {
			return err
		}
	}
	if !rebuild {
		return t.useColumns(live)
	}
	if appended, err := br.appendable(ctx, t, live); err != nil || len(appended) > 0 {
		if err != nil {
			return err
		}
		return br.stageAppending(ctx, i, t, appended)
	}
	name, err := br.newIngestTable(ctx, i, t, live)
	if err != nil {
		return err
	}
	if live, err = br.readLive(ctx, t.spec.Schema, name); err != nil {
		return err
	}
	return t.useColumns(live)
}

// newIngestTable creates the new ingest table of table i, whose live
// table has the columns live, spread as Citus spreads the live one and
// holding its rows unless deleting (keptColumns); it returns its name.
func (br *batchRun) newIngestTable(ctx context.Context, i int, t *table, live []liveColumn) (string, error) {
	shape, err := br.citusShape(ctx, t, live)
	if err != nil {
		return "", err
	}
	br.log.Info("Ingesting via new ingest table")
	name := relationName()
	// Without upsert the rows go in as sent, and the server names the row
	// of a duplicate key: the constraints are there from the start.
	if err := br.conn.Exec(ctx, pgsql.CreateIngestTable(t.spec, name, !t.upsert)); err != nil {
		return "", fmt.Errorf("creating the ingest table for %s: %w", t, err)
	}
	if shape != nil {
		if err := br.distribute(ctx, t, shape, name); err != nil {
			return "", err
		}
	}
	kept, err := br.keptColumns(ctx, t, live)
	if err != nil {
		return "", err
	}
	keep := len(kept) > 0
	if keep {
		if err := br.conn.Exec(ctx, pgsql.CopyColumns(t.spec.Schema, t.spec.Name, name, kept)); err != nil {
			return "", fmt.Errorf("copying the rows of %s into its new ingest table: %w", t, err)
		}
	}
	br.ingest[i] = ingestTable{name: name, hasOldRows: keep, citus: shape != nil}
	return name, nil
}

// keptColumns names the columns of the live table's rows that go into
// its new ingest table: the wanted columns it has, unless deleting or it
// has no rows (then none).
func (br *batchRun) keptColumns(ctx context.Context, t *table, live []liveColumn) ([]string, error) {
	common := commonColumns(t.spec, live)
	if br.opts.Delete != spec.DeleteOff || len(common) == 0 {
		return nil, nil
	}
	rows, err := br.conn.Query(ctx, pgsql.HasRows(t.spec.Schema, t.spec.Name))
	if err != nil {
		return nil, fmt.Errorf("looking for rows in %s: %w", t, err)
	}
	if has, _ := rows[0][0].(bool); !has {
		return nil, nil
	}
	return common, nil
}

// commonColumns names the wanted columns that the live table has too.
func commonColumns(want *spec.Table, live []liveColumn) []string {
	have := map[string]bool{}
	for _, c := range live {
		have[c.Name] = true
	}
	var common []string
	for _, c := range want.Columns {
		if have[c.Name] {
			common = append(common, c.Name)
		}
	}
	return common
}

// readLive reads the columns of schema.name.
func (r *run) readLive(ctx context.Context, schema, name string) ([]liveColumn, error) {
	rows, err := r.conn.Query(ctx, pgsql.LiveColumns, schema, name)
	if err != nil {
		return nil, fmt.Errorf("reading columns of %s: %w", pgsql.Qualified(schema, name), err)
	}
	cols := make([]liveColumn, len(rows))
	for k, row := range rows {
		oid, err := toInt(row[1])
		if err != nil {
			return nil, fmt.Errorf("reading columns of %s: %w", pgsql.Qualified(schema, name), err)
		}
		c := &cols[k]
		c.Name, _ = row[0].(string)
		c.OID = uint32(oid)
		c.Type, _ = row[2].(string)
		c.Recv, _ = row[3].(string)
		c.notNull, _ = row[4].(bool)
		c.primaryKey, _ = row[5].(bool)
		c.unique, _ = row[6].(bool)
	}
	return cols, nil
}

// useColumns takes the types of the table the rows go into, in wanted
// order; they choose the encoders.
func (t *table) useColumns(live []liveColumn) error {
	byName := map[string]pgcopy.Target{}
	for _, c := range live {
		byName[c.Name] = c.Target
	}
	t.columns = t.columns[:0]
	for _, c := range t.spec.Columns {
		lc, ok := byName[c.Name]
		if !ok {
			return fmt.Errorf("table %s has no column %s", t, pgsql.Ident(c.Name))
		}
		t.columns = append(t.columns, lc)
	}
	return nil
}

// differs compares the live table with the wanted one: the columns in
// order, and the set of indexes whatever their names.
func (r *run) differs(ctx context.Context, t *table, live []liveColumn) (bool, error) {
	if len(live) != len(t.spec.Columns) {
		return true, nil
	}
	return r.differsFrom(ctx, t, live)
}

// differsFrom compares the live table with as many of the wanted columns
// as it has, in order, and the sets of indexes; the wanted table has as
// many columns or more.
func (r *run) differsFrom(ctx context.Context, t *table, live []liveColumn) (bool, error) {
	types, err := r.wantedTypes(ctx, t)
	if err != nil {
		return false, err
	}
	liveIx, err := r.liveIndexes(ctx, t)
	if err != nil {
		return false, err
	}
	wantIx := map[string]bool{}
	for _, ix := range t.spec.Indexes {
		wantIx[indexKey{Columns: ix.Columns, Include: ix.Include, Unique: ix.Unique, Method: ix.Using}.String()] = true
	}
	for k, l := range live {
		w := t.spec.Columns[k]
		if l.Name != w.Name || l.Type != types[k] || l.notNull == w.Nullable || l.primaryKey != w.PrimaryKey {
			return true, nil
		}
		if l.unique == w.Unique {
			continue
		}
		// A unique index on the column alone, not wanted as an index,
		// makes it unique as well as a constraint would.
		alone := indexKey{Columns: []string{w.Name}, Unique: true}.String()
		if !w.Unique || !liveIx[alone] || wantIx[alone] {
			return true, nil
		}
		delete(liveIx, alone)
	}
	if len(liveIx) != len(wantIx) {
		return true, nil
	}
	for k := range wantIx {
		if !liveIx[k] {
			return true, nil
		}
	}
	return false, nil
}

// indexKey is an index as compared: all but its name.
type indexKey struct {
	Columns   []string
	Include   []string
	Unique    bool
	Method    string
	Predicate string
}

func (k indexKey) String() string {
	k.Method = strings.ToLower(k.Method)
	if k.Method == "" {
		k.Method = "btree"
	}
	if len(k.Include) == 0 {
		k.Include = nil
	}
	b, err := json.Marshal(k)
	if err != nil {
		panic(err) // strings and a bool always encode
	}
	return string(b)
}

// liveIndexes reads the set of indexes of the live table that are not
// those of its primary key or unique constraints.
func (r *run) liveIndexes(ctx context.Context, t *table) (map[string]bool, error) {
	rows, err := r.conn.Query(ctx, pgsql.LiveIndexes, t.spec.Schema, t.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("reading indexes of %s: %w", t, err)
	}
	set := map[string]bool{}
	for _, row := range rows {
		var k indexKey
		cols, _ := row[0].(string)
		include, _ := row[1].(string)
		if err := json.Unmarshal([]byte(cols), &k.Columns); err != nil {
			return nil, fmt.Errorf("reading indexes of %s: %w", t, err)
		}
		if err := json.Unmarshal([]byte(include), &k.Include); err != nil {
			return nil, fmt.Errorf("reading indexes of %s: %w", t, err)
		}
		k.Unique, _ = row[2].(bool)
		k.Method, _ = row[3].(string)
		k.Predicate, _ = row[4].(string)
		set[k.String()] = true
	}
	return set, nil
}

// maxColumns is the most columns a PostgreSQL table can have.
const maxColumns = 1600

// wantedTypes returns the server's own text of the wanted column types of
// t, read once per ingest for every table from throwaway temporary tables.
func (r *run) wantedTypes(ctx context.Context, t *table) ([]string, error) {
	if r.types == nil {
		r.types = map[*table][]string{}
		var group []*table
		n := 0
		for _, u := range r.tables {
			if n+len(u.spec.Columns) > maxColumns {
				if err := r.probeTypes(ctx, group); err != nil {
					return nil, err
				}
				group, n = nil, 0
			}
			group = append(group, u)
			n += len(u.spec.Columns)
		}
		if err := r.probeTypes(ctx, group); err != nil {
			return nil, err
		}
	}
	return r.types[t], nil
}

func (r *run) probeTypes(ctx context.Context, tables []*table) error {
	var types []string
	for _, t := range tables {
		for _, c := range t.spec.Columns {
			types = append(types, c.Type)
		}
	}
	name := relationName()
	if err := r.conn.Exec(ctx, pgsql.CreateTypeProbe(name, types)); err != nil {
		return fmt.Errorf("reading the wanted column types: %w", err)
	}
	rows, err := r.conn.Query(ctx, pgsql.ProbeTypes, name)
	if err == nil {
		err = r.conn.Exec(ctx, pgsql.DropTemporary(name))
	}
	if err == nil && len(rows) != len(types) {
		err = fmt.Errorf("%d types read back for %d", len(rows), len(types))
	}
	if err != nil {
		return fmt.Errorf("reading the wanted column types: %w", err)
	}
	for _, t := range tables {
		for range t.spec.Columns {
			typ, _ := rows[0][0].(string)
			r.types[t] = append(r.types[t], typ)
			rows = rows[1:]
		}
	}
	return nil
}

// finishIngestTables readies each new ingest table of the batch once its
// rows are in: its primary key and unique constraints, the wanted indexes
// under fresh names, and the live table's SELECT grants.
func (br *batchRun) finishIngestTables(ctx context.Context) error {
	for i, t := range br.tables {
		br.log.Info("Creating indexes for %s.%s", t.spec.Schema, t.spec.Name)
		it, ok := br.ingest[i]
		if !ok {
			continue
		}
		if it.forward != nil {
			if err := it.forward.copy(ctx, br.conn, t.spec, true); err != nil {
				return err
			}
		}
		if t.upsert {
			if err := br.addConstraints(ctx, t, it); err != nil {
				return err
			}
		}
		for _, ix := range t.spec.Indexes {
			create := pgsql.CreateIndex(t.spec.Schema, it.name, relationName(), ix)
			br.log.Info("Creating index %s", create)
			if err := br.conn.Exec(ctx, create); err != nil {
				return fmt.Errorf("creating an index on the ingest table of %s: %w", t, err)
			}
		}
		if it.forward != nil {
			// Complete, the partition is the live table.
			delete(br.ingest, i)
			continue
		}
		br.log.Info("Copying privileges for %s.%s", t.spec.Schema, t.spec.Name)
		oid, err := br.oid(ctx, t.spec.Schema, t.spec.Name)
		if err != nil {
			return err
		}
		grantees, err := br.grantees(ctx, oid, false)
		if err != nil {
			return err
		}
		if len(grantees) > 0 {
			if err := br.conn.Exec(ctx, pgsql.GrantSelect(pgsql.Qualified(t.spec.Schema, it.name), grantees)); err != nil {
				return fmt.Errorf("copying the privileges of %s: %w", t, err)
			}
		}
	}
	return nil
}

// addConstraints adds the primary key and unique constraints to the
// ingest table of an upsert. One that only the batch's COPYs filled holds
// every row sent, so a key may be there more than once: the key is tried
// first, and on a duplicate the last row of each key is kept and it is
// added again.
func (br *batchRun) addConstraints(ctx context.Context, t *table, it ingestTable) error {
	add := pgsql.AddPrimaryKey(t.spec, it.name)
	var err error
	if it.hasOldRows {
		err = br.conn.Exec(ctx, add)
	} else {
		err = br.retrying(ctx, add, sqlStateUniqueViolation, pgsql.DeleteDuplicateKeys(t.spec, it.name), add)
	}
	if err != nil {
		return fmt.Errorf("adding the primary key of %s: %w", t, err)
	}
	for _, c := range t.spec.Columns {
		if c.Unique {
			if err := br.conn.Exec(ctx, pgsql.AddUnique(t.spec.Schema, it.name, c.Name)); err != nil {
				return fmt.Errorf("adding the unique constraint of %s column %s: %w", t, pgsql.Ident(c.Name), err)
			}
		}
	}
	return nil
}

func (r *run) oid(ctx context.Context, schema, name string) (int64, error) {
	rows, err := r.conn.Query(ctx, pgsql.RelationOID, schema, name)
	if err != nil {
		return 0, fmt.Errorf("looking up %s: %w", pgsql.Qualified(schema, name), err)
	}
	return toInt(rows[0][0])
}

// grantees lists who holds SELECT on a relation, quoted for a GRANT;
// withDefault counts an owner's default privileges.
func (r *run) grantees(ctx context.Context, oid int64, withDefault bool) ([]string, error) {
	rows, err := r.conn.Query(ctx, pgsql.Grantees, oid, withDefault)
	if err != nil {
		return nil, fmt.Errorf("reading the privileges of relation %d: %w", oid, err)
	}
	out := make([]string, len(rows))
	for k, row := range rows {
		out[k], _ = row[0].(string)
	}
	return out, nil
}
