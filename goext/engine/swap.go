package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// view is a view or materialized view that reads a live table, directly
// or through other views, as it was before the swap.
type view struct {
	oid          int64
	name         string // quoted and qualified
	materialized bool
	definition   string
	columns      []pgsql.Column
	reads        []int64 // OIDs of the relations it reads
	grantees     []string
}

// swapIngestTables puts each new ingest table of the batch in place of
// its live table, under force execute: the views on the live table are
// dropped, the table too, the ingest table takes its name and the views
// are created again as they were. All in the batch's transaction, so
// other sessions see the old table until the commit, then the new one.
func (br *batchRun) swapIngestTables(ctx context.Context) error {
	br.log.Info("Renaming tables if necessary")
	for i, t := range br.tables {
		it, ok := br.ingest[i]
		if !ok {
			continue
		}
		err := br.conn.Force(ctx, func(ctx context.Context) error {
			return br.swap(ctx, t.spec.Schema, t.spec.Name, it.name)
		})
		if err != nil {
			return fmt.Errorf("swapping the ingest table of %s in: %w", t, err)
		}
	}
	return nil
}

func (r *run) swap(ctx context.Context, schema, live, ingest string) error {
	views, err := r.dependentViews(ctx, schema, live)
	if err != nil {
		return err
	}
	// Each view goes before those it reads: the order in which a query
	// of it locks them, so that the swap and a reader cannot deadlock.
	for k := len(views) - 1; k >= 0; k-- {
		v := views[k]
		r.log.Info("Dropping %s %s", pgsql.ViewKind(v.materialized), v.name)
		if err := r.conn.Exec(ctx, pgsql.DropView(v.name, v.materialized)); err != nil {
			return fmt.Errorf("dropping %s: %w", v.name, err)
		}
	}
	if err := r.conn.Exec(ctx, pgsql.DropLiveTable(schema, live)); err != nil {
		return fmt.Errorf("dropping %s: %w", pgsql.Qualified(schema, live), err)
	}
	if err := r.conn.Exec(ctx, pgsql.RenameTable(schema, ingest, live)); err != nil {
		return fmt.Errorf("renaming %s: %w", pgsql.Qualified(schema, ingest), err)
	}
	return r.recreateViews(ctx, views)
}

// dependentViews finds the views that read schema.name, directly or not,
// in an order to create them in: each after those it reads, where the
// views do not read each other in a cycle.
func (r *run) dependentViews(ctx context.Context, schema, name string) ([]*view, error) {
	oid, err := r.oid(ctx, schema, name)
	if err != nil {
		return nil, err
	}
	rows, err := r.conn.Query(ctx, pgsql.DependentViews, oid)
	if err != nil {
		return nil, fmt.Errorf("finding the views on %s: %w", pgsql.Qualified(schema, name), err)
	}
	views := make([]*view, len(rows))
	for k, row := range rows {
		v := &view{}
		if v.oid, err = toInt(row[0]); err != nil {
			return nil, err
		}
		v.name, _ = row[1].(string)
		v.materialized, _ = row[2].(bool)
		v.definition, _ = row[3].(string)
		var cols [][2]string
		colsJSON, _ := row[4].(string)
		readsJSON, _ := row[5].(string)
		if colsJSON != "" {
			if err := json.Unmarshal([]byte(colsJSON), &cols); err != nil {
				return nil, fmt.Errorf("reading the columns of %s: %w", v.name, err)
			}
		}
		for _, c := range cols {
			v.columns = append(v.columns, pgsql.Column{Name: c[0], Type: c[1]})
		}
		if readsJSON != "" {
			if err := json.Unmarshal([]byte(readsJSON), &v.reads); err != nil {
				return nil, fmt.Errorf("reading the dependencies of %s: %w", v.name, err)
			}
		}
		if v.grantees, err = r.grantees(ctx, v.oid, true); err != nil {
			return nil, err
		}
		views[k] = v
	}
	return dependencyOrder(views), nil
}

// dependencyOrder orders views, given by OID, so that each comes after
// the views it reads. A cycle is broken at a plain view, which has a
// stand-in by then; a materialized view waits for all it reads.
func dependencyOrder(views []*view) []*view {
	pending := map[int64]bool{}
	for _, v := range views {
		pending[v.oid] = true
	}
	ready := func(v *view) bool {
		for _, o := range v.reads {
			if o != v.oid && pending[o] {
				return false
			}
		}
		return true
	}
	out := make([]*view, 0, len(views))
	for len(out) < len(views) {
		var next *view
		for _, v := range views {
			if pending[v.oid] && ready(v) {
				next = v
				break
			}
		}
		for _, v := range views {
			if next == nil && pending[v.oid] && !v.materialized {
				next = v
			}
		}
		for _, v := range views {
			if next == nil && pending[v.oid] {
				next = v
			}
		}
		pending[next.oid] = false
		out = append(out, next)
	}
	return out
}

// recreateViews creates the dropped views again: every plain view first
// as an empty stand-in with its columns, so that views reading each other
// in a cycle can be created, then each with its own definition, and the
// SELECT grants it had.
func (r *run) recreateViews(ctx context.Context, views []*view) error {
	for _, v := range views {
		if !v.materialized {
			r.log.Info("Recreating dummy view %s", v.name)
			if err := r.conn.Exec(ctx, pgsql.CreateDummyView(v.name, v.columns)); err != nil {
				return fmt.Errorf("creating a stand-in for %s: %w", v.name, err)
			}
		}
	}
	for _, v := range views {
		if v.materialized {
			r.log.Info("Recreating original materialized view %s", v.name)
		} else {
			r.log.Info("Recreating original view %s", v.name)
		}
		create := pgsql.CreateView(v.name, v.materialized, v.definition)
		if !v.materialized {
			r.log.Info("%s", create)
		}
		if err := r.conn.Exec(ctx, create); err != nil {
			return fmt.Errorf("recreating %s: %w", v.name, err)
		}
		if len(v.grantees) > 0 {
			r.log.Info("Granting SELECT on %s to %s", v.name, strings.Join(v.grantees, ","))
			if err := r.conn.Exec(ctx, pgsql.GrantSelect(v.name, v.grantees)); err != nil {
				return fmt.Errorf("granting SELECT on %s: %w", v.name, err)
			}
		}
	}
	return nil
}
