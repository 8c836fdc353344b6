package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// tableLock is the advisory lock of ingests into one or more tables (more
// when their keys collide).
type tableLock struct {
	key  int64
	name string // the first table's, for the log
}

// lockTables serialises the transactions of ingests that share a table:
// at the start of each of its transactions (before the first batch's
// look at the live table, and before a missing table is created), an
// ingest takes, for each of its tables, the transaction-scoped advisory
// lock pgsql.TryLockTable names, which the commit or rollback releases.
// A lock held by another session is logged, then waited for. Locks are
// taken in the order of their keys, whatever the order of the tables, so
// two ingests sharing several tables cannot deadlock on them.
func (r *run) lockTables(ctx context.Context) error {
	if r.locked {
		return nil
	}
	if r.locks == nil {
		locks, err := r.tableLocks(ctx)
		if err != nil {
			return err
		}
		r.locks = locks
	}
	for _, l := range r.locks {
		rows, err := r.conn.Query(ctx, pgsql.TryLockTable, l.key)
		if err != nil {
			return fmt.Errorf("locking %s against other ingests: %w", l.name, err)
		}
		if len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] == true {
			continue
		}
		r.log.Info("Waiting for another ingest into %s", l.name)
		if err := r.conn.Exec(ctx, pgsql.LockTable, l.key); err != nil {
			return fmt.Errorf("waiting for another ingest into %s: %w", l.name, err)
		}
	}
	r.locked = true
	return nil
}

// tableLocks reads the lock keys of the ingest's tables from the server,
// and returns them sorted, each once.
func (r *run) tableLocks(ctx context.Context) ([]tableLock, error) {
	byKey := map[int64]string{}
	for _, t := range r.tables {
		rows, err := r.conn.Query(ctx, pgsql.TableLockKey, t.String())
		if err != nil {
			return nil, fmt.Errorf("reading the lock key of %s: %w", t, err)
		}
		if len(rows) != 1 || len(rows[0]) != 1 {
			return nil, fmt.Errorf("reading the lock key of %s: %d rows", t, len(rows))
		}
		key, err := toInt(rows[0][0])
		if err != nil {
			return nil, fmt.Errorf("reading the lock key of %s: %w", t, err)
		}
		if _, ok := byKey[key]; !ok {
			byKey[key] = t.spec.Schema + "." + t.spec.Name
		}
	}
	locks := make([]tableLock, 0, len(byKey))
	for key, name := range byKey {
		locks = append(locks, tableLock{key: key, name: name})
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i].key < locks[j].key })
	return locks, nil
}
