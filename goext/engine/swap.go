package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// view is a view or materialized view that reads a live table, directly
// or through other views, as it was before the swap.
type view struct {
	oid          int64
	name         string // quoted and qualified
	materialized bool
	definition   string
	columns      []pgsql.ViewColumn
	reads        []int64 // OIDs of the relations it reads
	grantees     []string
}

// swapIngestTables puts each new ingest table of the batch in place of
// its live table, under force execute: the views on the live table are
// dropped, the table too, the ingest table takes its name and the views
// are created again as they were. All in the batch's transaction, so
// other sessions see the old table until the commit, then the new one.
// The tables of one batch are swapped together, under one force execute,
// so that a reader of two of them cannot hold one while the swap waits
// for the other. A table that columns were appended to (addColumns) has
// its materialized views refreshed instead, as recreating them would.
func (br *batchRun) swapIngestTables(ctx context.Context) error {
	br.log.Info("Renaming tables if necessary")
	var swaps []swapTarget
	for i, t := range br.tables {
		if it, ok := br.ingest[i]; ok {
			swaps = append(swaps, swapTarget{t, it.name})
			continue
		}
		if _, ok := br.appending[i]; !ok {
			continue
		}
		views, err := br.dependentViews(ctx, t.spec.Schema, t.spec.Name)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(views, func(v *view) bool { return v.materialized }) {
			swaps = append(swaps, swapTarget{live: t})
		}
	}
	if len(swaps) == 0 {
		return nil
	}
	return br.conn.Force(ctx, func(ctx context.Context) error { return br.swapAll(ctx, swaps) })
}

// swapTarget is a live table and the ingest table to put in its place;
// without one, the live table's materialized views are refreshed.
type swapTarget struct {
	live   *table
	ingest string
}

// Readers lock a table's views and the table in the order of their
// queries (two views in one statement, a view joined to the table, one
// view then another in a transaction), which the swap cannot know: any
// fixed order of its own deadlocks with some reader, and the deadlock
// detector may then end the swap. So the swap's waits are bounded, all
// of an attempt's under half of deadlock_timeout, so that the detector
// never runs while a reader waits for the swap; on a timeout the attempt
// is rolled back to its savepoint, which frees its locks and the readers
// queued behind them, and tried again after a short, growing, jittered
// pause. The first lock may wait firstWait for the statements under way;
// the others only lockWait: the readers that hold one by then mostly wait
// for the first, in a cycle that waiting longer would not break. After
// lockWindow each wait may last its share of half deadlock_timeout: the
// swap then spends most of its time waiting, where force execute, which
// ends the sessions that block it after its delay, finds them. Waiting
// without a bound, as upstream, would end readers in a cycle with the
// swap in deadlock errors, one a second (measured). Under readers that
// keep at it in both orders, an attempt may seldom find a moment when
// none is part way: the swap then waits for force execute. The locks are
// those the swap's own statements take: LOCK TABLE refuses materialized
// views and, on a view, locks every table the view reads too. Measured in
// tests/benchmarks/swap_readers.py. ADD COLUMN waits so too (addColumns).
const (
	firstWait  = 100 * time.Millisecond
	lockWait   = 10 * time.Millisecond
	lockWindow = 5 * time.Second
	pauseMin   = 5 * time.Millisecond
	pauseMax   = 200 * time.Millisecond
)

// SQLSTATEs that end a swap's attempt without ending the batch.
const (
	sqlStateLockNotAvailable = "55P03"
	sqlStateDeadlockDetected = "40P01"
)

// lockedStep is statements that take ACCESS EXCLUSIVE locks, which
// readers queue behind, run with a swap's bounded waits (lockBounded).
// Each attempt calls prepare, which looks up what run needs and says how
// many locks it takes, then run, which calls locked after each statement
// that took one.
type lockedStep struct {
	what      string // whose locks, for the log: "the swap's"
	relations string // the tables, for the log
	prepare   func(ctx context.Context) (locks int, err error)
	run       func(ctx context.Context, locked func() error) error
}

func (br *batchRun) swapAll(ctx context.Context, swaps []swapTarget) error {
	names := make([]string, len(swaps))
	for k, s := range swaps {
		names[k] = s.live.spec.Schema + "." + s.live.spec.Name
	}
	views := make([][]*view, len(swaps))
	return br.lockBounded(ctx, lockedStep{
		what:      "the swap's",
		relations: strings.Join(names, ", "),
		// The dependent views are looked up afresh at each attempt, as they
		// may have changed between attempts.
		prepare: func(ctx context.Context) (int, error) {
			locks := 0
			for k, s := range swaps {
				var err error
				if views[k], err = br.dependentViews(ctx, s.live.spec.Schema, s.live.spec.Name); err != nil {
					return 0, err
				}
				if s.ingest != "" {
					locks += len(views[k]) + 1
					continue
				}
				for _, v := range views[k] {
					if v.materialized {
						locks++
					}
				}
			}
			return locks, nil
		},
		run: func(ctx context.Context, locked func() error) error {
			for k, s := range swaps {
				if s.ingest == "" {
					continue
				}
				if err := br.drop(ctx, s.live.spec.Schema, s.live.spec.Name, views[k], locked); err != nil {
					return fmt.Errorf("swapping the ingest table of %s in: %w", s.live, err)
				}
			}
			for k, s := range swaps {
				if s.ingest == "" {
					if err := br.refresh(ctx, views[k], locked); err != nil {
						return fmt.Errorf("refreshing the materialized views on %s: %w", s.live, err)
					}
				} else if err := br.replace(ctx, s.live.spec.Schema, s.live.spec.Name, s.ingest, views[k]); err != nil {
					return fmt.Errorf("swapping the ingest table of %s in: %w", s.live, err)
				}
			}
			return nil
		},
	})
}

// lockBounded runs step, retried after lock timeouts and deadlocks, as
// described above; a lock_timeout of the session bounds all its attempts.
func (br *batchRun) lockBounded(ctx context.Context, step lockedStep) error {
	rows, err := br.conn.Query(ctx, pgsql.LockSettings)
	if err != nil {
		return fmt.Errorf("reading lock_timeout and deadlock_timeout: %w", err)
	}
	restore, _ := rows[0][0].(string)
	deadlock, err := toInt(rows[0][1])
	if err != nil {
		return err
	}
	// A lock_timeout of the user's own bounds the swap's waits in all, as
	// it bounds a single wait of upstream's swap.
	userLimit, err := toInt(rows[0][2])
	if err != nil {
		return err
	}
	start, long := time.Now(), false
	for attempt := 1; ; attempt++ {
		if !long && time.Since(start) >= lockWindow {
			long = true
			br.log.Info("Waiting for readers of %s: waiting longer for %s locks, under force execute", step.relations, step.what)
		}
		err := br.tryLocked(ctx, step, long, time.Duration(deadlock)*time.Millisecond, restore)
		var broken *rollbackError
		if state := sqlState(err); err == nil || errors.As(err, &broken) || state != sqlStateDeadlockDetected && state != sqlStateLockNotAvailable {
			return err
		}
		if userLimit > 0 && time.Since(start) >= time.Duration(userLimit)*time.Millisecond {
			return err
		}
		br.log.Info("Waiting for readers of %s: retrying %s locks (attempt %s)", step.relations, step.what, strconv.Itoa(attempt+1))
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// pause sleeps before attempt+1: from pauseMin, doubling up to pauseMax,
// a random half of it at most taken off, so that swaps that timed out
// together do not try again together.
func pause(ctx context.Context, attempt int) error {
	d := pauseMax
	if attempt < 8 && pauseMin<<(attempt-1) < pauseMax {
		d = pauseMin << (attempt - 1)
	}
	timer := time.NewTimer(d - rand.N(d/2))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// tryLocked makes one attempt at step, under a savepoint that a failure
// rolls back to, with bounded lock waits, longer when long.
func (br *batchRun) tryLocked(ctx context.Context, step lockedStep, long bool, deadlock time.Duration, restore string) error {
	if err := br.conn.Exec(ctx, pgsql.Savepoint); err != nil {
		return err
	}
	err := func() error {
		locks, err := step.prepare(ctx)
		if err != nil {
			return err
		}
		locks = max(locks, 1)
		first := min(firstWait, deadlock/4)
		rest := min(lockWait, (deadlock/2-first)/time.Duration(locks))
		if long {
			first, rest = deadlock/4, deadlock/4/time.Duration(locks)
		}
		setWait := func(d time.Duration) error {
			return br.conn.Exec(ctx, pgsql.SetLockTimeout, strconv.FormatInt(max(d.Milliseconds(), 1), 10)+"ms")
		}
		locked := 0
		afterLock := func() error {
			if locked++; locked == 1 {
				return setWait(rest)
			}
			return nil
		}
		if err := setWait(first); err != nil {
			return err
		}
		if err := step.run(ctx, afterLock); err != nil {
			return err
		}
		return br.conn.Exec(ctx, pgsql.SetLockTimeout, restore)
	}()
	if err == nil {
		return br.conn.Exec(ctx, pgsql.Release)
	}
	if rerr := br.conn.Exec(ctx, pgsql.RollbackTo); rerr != nil {
		return &rollbackError{err, "rolling back to the savepoint", rerr}
	}
	if rerr := br.conn.Exec(ctx, pgsql.Release); rerr != nil {
		return &rollbackError{err, "releasing the savepoint", rerr}
	}
	return err
}

// rollbackError is an attempt's error after which the savepoint could not
// be rolled back to (a backend terminated mid-swap): no retry. It unwraps
// to the attempt's error, which says why, for the caller.
type rollbackError struct {
	err   error
	step  string
	stepE error
}

func (e *rollbackError) Error() string { return fmt.Sprintf("%v; then %s: %v", e.err, e.step, e.stepE) }
func (e *rollbackError) Unwrap() error { return e.err }

// drop drops the views (found by dependentViews) and the live table,
// calling locked after each statement, each of which takes a lock.
func (r *run) drop(ctx context.Context, schema, live string, views []*view, locked func() error) error {
	// Each view goes before those it reads: the order in which a query
	// of one view locks them.
	for k := len(views) - 1; k >= 0; k-- {
		v := views[k]
		r.log.Info("Dropping %s %s", pgsql.ViewKind(v.materialized), v.name)
		if err := r.conn.Exec(ctx, pgsql.DropView(v.name, v.materialized)); err != nil {
			return fmt.Errorf("dropping %s: %w", v.name, err)
		}
		if err := locked(); err != nil {
			return err
		}
	}
	if err := r.conn.Exec(ctx, pgsql.DropLiveTable(schema, live)); err != nil {
		return fmt.Errorf("dropping %s: %w", pgsql.Qualified(schema, live), err)
	}
	return locked()
}

// replace renames the ingest table to the dropped live table's name and
// recreates its views.
func (r *run) replace(ctx context.Context, schema, live, ingest string, views []*view) error {
	if err := r.conn.Exec(ctx, pgsql.RenameTable(schema, ingest, live)); err != nil {
		return fmt.Errorf("renaming %s: %w", pgsql.Qualified(schema, ingest), err)
	}
	return r.recreateViews(ctx, views)
}

// refresh refreshes the materialized views among views, each after
// those it reads, calling locked after each.
func (r *run) refresh(ctx context.Context, views []*view, locked func() error) error {
	for _, v := range views {
		if !v.materialized {
			continue
		}
		r.log.Info("Refreshing materialized view %s", v.name)
		if err := r.conn.Exec(ctx, pgsql.RefreshMaterializedView(v.name)); err != nil {
			return fmt.Errorf("refreshing %s: %w", v.name, err)
		}
		if err := locked(); err != nil {
			return err
		}
	}
	return nil
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
			v.columns = append(v.columns, pgsql.ViewColumn{Name: c[0], Type: c[1]})
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
