package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pyjson"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// DuplicatePartitionError is on_duplicate=ERROR's failure: the new
// partition has the hash of the one the view showed, and is left
// unattached.
type DuplicatePartitionError struct {
	Schema, Partition, Source string
}

func (e *DuplicatePartitionError) Error() string {
	return fmt.Sprintf("on_duplicate=__ERROR__: Duplicate partition detected: %s has same hash as %s", e.Partition, e.Source)
}

// versionedRun is one ingest_versioned: prepare (a transaction), the
// batches into the partition (an ingest of its own), finish (a
// transaction). Each step leaves no transaction open when it returns.
type versionedRun struct {
	*run // conn, src and log; its helpers (oid, grantees)
	src  VersionedSource
	v    *spec.Versioned
	part *spec.Table
	// source is the schema and name of the partition the view showed, if
	// any: the rows copied forward and the hash compared come from it.
	source *[2]string
	// fwd is the copy forward left to the partition's first batch.
	fwd *forward
}

// forward is a copy forward into a partition made without keys and
// indexes. An upsert's first batch takes it on: its rows go in first,
// then the source's rows whose key the batch lacks, then the keys and
// indexes are built; which costs half of upserting the batch into the
// copied rows, indexed (measured). Without a batch, finish copies every
// row and builds them.
type forward struct {
	from            [2]string // schema and name of the source partition
	column, version string
	done            bool // a first batch took it on
}

// copy copies the rows of the source into t, or only those whose key t
// lacks when missing.
func (f *forward) copy(ctx context.Context, conn Conn, t *spec.Table, missing bool) error {
	stmt := pgsql.CopyForward(t, f.from, f.column)
	if missing {
		stmt = pgsql.CopyForwardMissing(t, f.from, f.column)
	}
	if err := conn.Exec(ctx, stmt, f.version); err != nil {
		return fmt.Errorf("copying %s forward into %s: %w", pgsql.Qualified(f.from[0], f.from[1]), pgsql.Qualified(t.Schema, t.Name), err)
	}
	return nil
}

func (in *Ingestion) runVersioned(ctx context.Context, conn Conn, src Source, log Logger) error {
	vs, ok := src.(VersionedSource)
	if !ok {
		return errors.New("a versioned ingest needs an engine.VersionedSource")
	}
	vr := &versionedRun{run: &run{conn: conn, src: src, log: log, opts: in.job.Options}, src: vs, v: in.job.Versioned, part: &in.job.Tables[0]}
	attached, err := vr.prepare(ctx)
	if err != nil || attached {
		return err
	}
	vr.src.VersionedLog(false, "---- Modifying batches and running ingest... ----")
	if err := in.ingest(ctx, conn, src, log, vr.fwd); err != nil {
		return err
	}
	vr.src.VersionedLog(false, "---- Ingest finished running ----")
	return vr.finish(ctx)
}

// transaction runs f in a transaction, under the lock that keeps the
// versioned ingests of one base apart, and commits unless f fails.
func (vr *versionedRun) transaction(ctx context.Context, f func(context.Context) error) (err error) {
	if err := vr.conn.Begin(ctx); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := vr.conn.Rollback(context.WithoutCancel(ctx)); rbErr != nil {
				err = errors.Join(err, fmt.Errorf("rolling back: %w", rbErr))
			}
		}
	}()
	if err := vr.lock(ctx); err != nil {
		return err
	}
	if err := f(ctx); err != nil {
		return err
	}
	if err := vr.conn.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// lock takes, until the transaction ends, the lock that keeps the
// versioned ingests of one base apart (upstream has none).
func (vr *versionedRun) lock(ctx context.Context) error {
	base := pgsql.Qualified(vr.part.Schema, vr.v.Base)
	if err := vr.conn.Exec(ctx, pgsql.LockName, "pg_bulk_ingest versioned "+base); err != nil {
		return fmt.Errorf("locking the versions of %s: %w", base, err)
	}
	return nil
}

func (vr *versionedRun) warn(format string, args ...string) {
	vr.src.VersionedLog(true, format, args...)
}
func (vr *versionedRun) info(format string, args ...string) {
	vr.src.VersionedLog(false, format, args...)
}

// prepare finds the partition attached already (then there is nothing to
// do), or else drops what a failed run left, finds the view's partition
// and copies it forward when asked.
func (vr *versionedRun) prepare(ctx context.Context) (attached bool, err error) {
	s, p := vr.part.Schema, vr.part.Name
	err = vr.transaction(ctx, func(ctx context.Context) error {
		rows, err := vr.conn.Query(ctx, pgsql.PartitionState, s, p)
		if err != nil {
			return fmt.Errorf("looking up partition %s: %w", pgsql.Qualified(s, p), err)
		}
		exists, _ := rows[0][0].(bool)
		attached, _ = rows[0][1].(bool)
		if attached {
			vr.info("Partition %s already exists and is attached. Skipping.", p)
			return nil
		}
		if exists {
			vr.warn("Partition %s exists but not attached (failed previous run). Dropping and recreating...", p)
			if err := vr.conn.Exec(ctx, pgsql.DropCascade(s, p)); err != nil {
				return fmt.Errorf("dropping partition %s: %w", pgsql.Qualified(s, p), err)
			}
		}
		if rows, err = vr.conn.Query(ctx, pgsql.ViewSource, s, vr.v.Base); err != nil {
			return fmt.Errorf("finding the partition of view %s: %w", pgsql.Qualified(s, vr.v.Base), err)
		}
		if len(rows) == 0 {
			vr.info("No existing view found.")
			return nil
		}
		vr.info("Found existing view for %s.%s", s, vr.v.Base)
		src := [2]string{}
		src[0], _ = rows[0][0].(string)
		src[1], _ = rows[0][1].(string)
		if src[1] == "" {
			// As upstream: no copy forward, no duplicate check; the view
			// is replaced by one on the partition.
			vr.warn("Source partition could not be found for view: %s", vr.v.Base)
			return nil
		}
		vr.source = &src
		vr.info("Found source partition: %s.%s from view.", src[0], src[1])
		if !vr.v.CopyForward {
			return nil
		}
		return vr.copyForward(ctx)
	})
	return attached, err
}

// copyForward creates the partition, without keys and indexes, with the
// source's comment. An upsert's first batch fills it (forward); else the
// source's rows are copied in now, and its keys and indexes built.
func (vr *versionedRun) copyForward(ctx context.Context) error {
	t, src := vr.part, *vr.source
	vr.info("Copying forward from %s.%s into %s", src[0], src[1], t.Name)
	if err := vr.conn.Exec(ctx, pgsql.CreateIngestTable(t, t.Name, false)); err != nil {
		return fmt.Errorf("creating partition %s: %w", pgsql.Qualified(t.Schema, t.Name), err)
	}
	fwd := &forward{from: src, column: vr.v.Column, version: vr.v.Version}
	if upserts(vr.opts, t) && vr.opts.Delete == spec.DeleteOff {
		vr.fwd = fwd
	} else if err := vr.fill(ctx, fwd); err != nil {
		return err
	}
	rows, err := vr.conn.Query(ctx, pgsql.ReadComment, src[0], src[1])
	if err != nil {
		return fmt.Errorf("reading the comment of %s: %w", pgsql.Qualified(src[0], src[1]), err)
	}
	if text, ok := rows[0][0].(string); ok {
		return vr.comment(ctx, text)
	}
	return nil
}

// fill copies every row of fwd's source into the partition, then builds
// its keys and indexes.
func (vr *versionedRun) fill(ctx context.Context, fwd *forward) error {
	t := vr.part
	if err := fwd.copy(ctx, vr.conn, t, false); err != nil {
		return err
	}
	var steps []string
	if len(t.PrimaryKey()) > 0 {
		steps = append(steps, pgsql.AddPrimaryKey(t, t.Name))
	}
	for _, c := range t.Columns {
		if c.Unique {
			steps = append(steps, pgsql.AddUnique(t.Schema, t.Name, c.Name))
		}
	}
	for _, ix := range t.Indexes {
		steps = append(steps, pgsql.CreateIndex(t.Schema, t.Name, relationName(), ix))
	}
	for _, st := range steps {
		if err := vr.conn.Exec(ctx, st); err != nil {
			return fmt.Errorf("building the keys and indexes of partition %s: %w", pgsql.Qualified(t.Schema, t.Name), err)
		}
	}
	return nil
}

// comment sets the partition's comment to text.
func (vr *versionedRun) comment(ctx context.Context, text string) error {
	if err := vr.setComment(ctx, vr.part.Schema, vr.part.Name, text); err != nil {
		return fmt.Errorf("writing the comment of %s: %w", pgsql.Qualified(vr.part.Schema, vr.part.Name), err)
	}
	return nil
}

// finish hashes the partition, stores the hash with the version in its
// comment, deals with a duplicate of the source partition, and else
// attaches the partition and shows it through the view.
func (vr *versionedRun) finish(ctx context.Context) error {
	s, p := vr.part.Schema, vr.part.Name
	return vr.transaction(ctx, func(ctx context.Context) error {
		if vr.fwd != nil && !vr.fwd.done {
			if err := vr.fill(ctx, vr.fwd); err != nil {
				return err
			}
		}
		vr.info("Computing hash for partition %s", p)
		hash, n, err := tableHash(ctx, vr.conn, s, p, "_version", vr.v.Column)
		if err != nil {
			return err
		}
		if n == 0 {
			vr.warn("Failed to create hash and/or row_count for partition %s", p)
			return nil
		}
		md, err := vr.storeMetadata(ctx, hash, n)
		if err != nil {
			return err
		}
		if vr.source != nil {
			dup, err := vr.duplicate(ctx, hash)
			if err != nil || dup {
				return err
			}
		}
		return vr.attach(ctx, md)
	})
}

// storeMetadata writes the partition's comment as upstream does: its
// "pg-bulk-ingest" object alone, with the hash, row count, version and
// time of ingest. It returns the object as JSON.
func (vr *versionedRun) storeMetadata(ctx context.Context, hash string, n int64) (json.RawMessage, error) {
	rows, err := vr.conn.Query(ctx, pgsql.ReadComment, vr.part.Schema, vr.part.Name)
	if err != nil {
		return nil, fmt.Errorf("reading the comment of %s: %w", pgsql.Qualified(vr.part.Schema, vr.part.Name), err)
	}
	md := ourObject(rows[0][0])
	md.Set("hash", hash)
	md.Set("row_count", json.Number(strconv.FormatInt(n, 10)))
	md.Set("version", json.RawMessage(vr.v.VersionJSON))
	md.Set("ingested_at", isoformat(time.Now()))
	whole := pyjson.NewObject()
	whole.Set("pg-bulk-ingest", md)
	text, err := pyjson.Dumps(whole)
	if err != nil {
		return nil, fmt.Errorf("encoding the comment of %s: %w", pgsql.Qualified(vr.part.Schema, vr.part.Name), err)
	}
	if err := vr.comment(ctx, text); err != nil {
		return nil, err
	}
	mdText, err := pyjson.Dumps(md)
	return json.RawMessage(mdText), err
}

// ourObject is the "pg-bulk-ingest" object of a comment (a string or
// nil), empty when there is none.
func ourObject(comment any) *pyjson.Object {
	if text, ok := comment.(string); ok {
		if v, err := pyjson.Parse([]byte(text)); err == nil {
			if o, ok := v.(*pyjson.Object); ok {
				if ours, ok := o.Get("pg-bulk-ingest"); ok {
					if ours, ok := ours.(*pyjson.Object); ok {
						return ours
					}
				}
			}
		}
	}
	return pyjson.NewObject()
}

// duplicate compares the partition's hash with the source's and, when
// equal, does what on_duplicate says; true means stop there.
func (vr *versionedRun) duplicate(ctx context.Context, hash string) (bool, error) {
	s, p, src := vr.part.Schema, vr.part.Name, *vr.source
	rows, err := vr.conn.Query(ctx, pgsql.ReadComment, src[0], src[1])
	if err != nil {
		return false, fmt.Errorf("reading the comment of %s: %w", pgsql.Qualified(src[0], src[1]), err)
	}
	theirs, _ := ourObject(rows[0][0]).Get("hash")
	if text, _ := theirs.(string); text == "" {
		vr.warn("No hash found for partition: %s", src[1])
		return false, nil
	} else if text != hash {
		return false, nil
	}
	vr.info("Duplicate detected: %s.%s has same hash as %s.%s", s, p, src[0], src[1])
	switch vr.v.OnDuplicate {
	case spec.OnDuplicateError:
		return true, &DuplicatePartitionError{Schema: s, Partition: p, Source: src[1]}
	case spec.OnDuplicateSkip:
		vr.info("on_duplicate='%s': Dropping partition %s", spec.OnDuplicateSkip, p)
		if err := vr.conn.Exec(ctx, pgsql.DropLiveTable(s, p)); err != nil {
			return true, fmt.Errorf("dropping partition %s: %w", pgsql.Qualified(s, p), err)
		}
		return true, nil
	case spec.OnDuplicateKeep:
		vr.warn("on_duplicate='%s': Keeping duplicate partition %s", spec.OnDuplicateKeep, p)
		return false, nil
	}
	vr.info("Running custom on_duplicate function with args: conn, %s, %s, %s", s, p, src[1])
	var stop bool
	err = vr.hook(ctx, "on_duplicate", func() (err error) {
		stop, err = vr.src.OnDuplicate(ctx, s, p, src[1])
		return err
	})
	return stop, err
}

// attach creates the root when missing, grants the partition what the
// root and a table in the view's place grant, attaches it, renames such a
// table and points the view at the partition, then runs
// on_partition_attached with the partition's metadata md.
func (vr *versionedRun) attach(ctx context.Context, md json.RawMessage) error {
	s, p, base, root := vr.part.Schema, vr.part.Name, vr.v.Base, vr.v.Root
	vr.info("Data is New. Proceeding to attach partition.")
	if err := vr.conn.Exec(ctx, pgsql.CreateRoot(vr.part, root, vr.v.Column)); err != nil {
		return fmt.Errorf("creating the root table %s: %w", pgsql.Qualified(s, root), err)
	}
	rows, err := vr.conn.Query(ctx, pgsql.LegacyTable, s, base)
	if err != nil {
		return fmt.Errorf("looking up table %s: %w", pgsql.Qualified(s, base), err)
	}
	var grantees []string
	var legacy bool
	for _, row := range rows {
		oid, err := toInt(row[0])
		if err != nil {
			return fmt.Errorf("looking up table %s: %w", pgsql.Qualified(s, base), err)
		}
		if grantees, err = vr.grantees(ctx, oid, false); err != nil {
			return err
		}
		legacy = true
	}
	rootOID, err := vr.oid(ctx, s, root)
	if err != nil {
		return err
	}
	more, err := vr.grantees(ctx, rootOID, false)
	if err != nil {
		return err
	}
	if grantees = union(grantees, more); len(grantees) > 0 {
		if err := vr.conn.Exec(ctx, pgsql.GrantSelect(pgsql.Qualified(s, p), grantees)); err != nil {
			return fmt.Errorf("granting SELECT on partition %s: %w", pgsql.Qualified(s, p), err)
		}
	}
	vr.info("Attaching %s to %s...", p, root)
	rows, err = vr.conn.Query(ctx, pgsql.AttachStatement, s, root, p, vr.v.Version)
	if err == nil {
		stmt, _ := rows[0][0].(string)
		err = vr.conn.Exec(ctx, stmt)
	}
	if err != nil {
		return fmt.Errorf("attaching %s to %s: %w", pgsql.Qualified(s, p), pgsql.Qualified(s, root), err)
	}
	if legacy {
		vr.warn("Found non-versioned table %s.%s. Renaming to %s_legacy", s, base, base)
		if err := vr.conn.Exec(ctx, pgsql.RenameTable(s, base, pgsql.LegacyName(base))); err != nil {
			return fmt.Errorf("renaming table %s: %w", pgsql.Qualified(s, base), err)
		}
	}
	vr.info("Creating/updating view %s to point to %s...", base, p)
	if err := vr.conn.Exec(ctx, pgsql.VersionView(s, base, p)); err != nil {
		return fmt.Errorf("pointing view %s at %s: %w", pgsql.Qualified(s, base), p, err)
	}
	return vr.hook(ctx, "on_partition_attached", func() error {
		return vr.src.OnPartitionAttached(ctx, s, p, md)
	})
}

// union is a followed by the strings of b that a lacks.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// hook runs a user's callback, which may end the transaction itself:
// after a commit the rest goes on in a new one under the lock; after a
// rollback the versioned ingest fails, the partition unattached.
func (vr *versionedRun) hook(ctx context.Context, name string, f func() error) error {
	rows, err := vr.conn.Query(ctx, pgsql.CurrentXact)
	if err != nil {
		return fmt.Errorf("reading the transaction's ID: %w", err)
	}
	xact := rows[0][0]
	if err := f(); err != nil {
		return err
	}
	if rows, err = vr.conn.Query(ctx, pgsql.XactStatus, xact); err != nil {
		return fmt.Errorf("reading the status of the transaction after %s: %w", name, err)
	}
	switch status, _ := rows[0][0].(string); status {
	case "in progress":
		return nil
	case "committed":
		if err := vr.conn.Begin(ctx); err != nil {
			return fmt.Errorf("beginning transaction: %w", err)
		}
		return vr.lock(ctx)
	default:
		return fmt.Errorf("%s rolled back the transaction of partition %s", name, pgsql.Qualified(vr.part.Schema, vr.part.Name))
	}
}
