"""Runs one ingest: starts a Go session and answers its requests on the
user's connection until it is done."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pyarrow as pa
import sqlalchemy as sa

from ._arrow import TableConverter
from ._chunks import Limits, chunks
from ._constants import HighWatermark
from ._copy import BackgroundCopy
from ._drivers import Driver
from ._errors import IngestError, describe
from ._native import ffi, lib
from ._protocol import (
    BEGIN,
    COMMIT,
    COPY_BEGIN,
    COPY_DATA,
    COPY_END,
    DONE,
    EXEC,
    FORCE_BEGIN,
    FORCE_END,
    HIGH_WATERMARK,
    HOST_ERROR,
    LOG,
    NEXT_BATCH,
    NEXT_CHUNK,
    NO_ANSWER,
    OK,
    ON_BEFORE_VISIBLE,
    QUERY,
    ROLLBACK,
    START,
)


# An Arrow chunk is cut at CHUNK_ROWS rows or CHUNK_BYTES of values,
# whichever comes first: big enough to amortise a call, small enough to
# keep memory flat however wide the rows (a chunk lives in several stages
# at once: built, encoded, queued for the driver, kept for messages).
CHUNK_ROWS = 10_000
CHUNK_BYTES = 4 << 20


class Request:
    __slots__ = ("op", "doc", "data")

    def __init__(self, op: int, doc: Any, data: Optional[bytes]) -> None:
        self.op, self.doc, self.data = op, doc, data


class Session:
    def __init__(
        self,
        conn: Any,
        tables: List[sa.Table],
        spec: Dict[str, Any],
        batches: Callable[[Any], Any],
        high_watermark: Any,
        on_before_visible: Callable[[Any, sa.Table, Any], Any],
        get_pg_force_execute: Callable[[Any, logging.Logger], Any],
        logger: logging.Logger,
        max_rows_per_table_buffer: int,
    ) -> None:
        self.conn = conn
        self.driver = Driver(conn)
        self.tables = tables
        self.index = {t: i for i, t in enumerate(tables)}
        self.converters = [TableConverter(t) for t in tables]
        self.spec = spec
        self.batches = batches
        self.high_watermark = high_watermark
        self.on_before_visible = on_before_visible
        self.get_pg_force_execute = get_pg_force_execute
        self.force: Any = None  # the open get_pg_force_execute context, during a swap
        self.logger = logger
        self.buffer_rows = max_rows_per_table_buffer
        # Every exception reported to the engine, in order: the engine
        # recovers from some (a savepoint's attempt) and names the one that
        # ended the ingest by its position, from 1.
        self.errors: List[BaseException] = []
        self.batch_iter: Optional[Iterator[Any]] = None
        self.batch_hwm: Any = None
        self.batch_metadata: Any = None
        self.batch_number = 0  # batches read so far; the engine numbers them alike
        self.chunks: Optional[Iterator[Tuple[int, pa.RecordBatch]]] = None
        self._out = ffi.new("pbi_request *")
        self._handle = 0
        # An interrupt (Ctrl-C) raised as a call into the engine returned,
        # to answer the request that the call brought.
        self._interrupt: Optional[BaseException] = None

    # --- the session -------------------------------------------------

    def run(self) -> None:
        doc = json.dumps(self.spec).encode()
        err = ffi.new("char **")
        self._handle = lib().pbi_start(doc, len(doc), err)
        if not self._handle:
            message = ffi.string(err[0]).decode()
            lib().pbi_free(err[0])
            raise ValueError(message)
        try:
            req = self._step(NO_ANSWER)
            while req.op != DONE:
                req = self._handle_request(req)
        finally:
            lib().pbi_close(self._handle)
            self.driver.close()
            if self.force is not None:  # the engine stopped inside a swap
                self.force.__exit__(None, None, None)
        self._finish(req)
        self._raise_interrupt()

    def _finish(self, done: Request) -> None:
        if done.doc is None:
            return
        failure = done.doc.get("host") or 0
        if not failure:
            raise IngestError(done.doc["error"])
        error = self.errors[failure - 1]
        if done.doc.get("located") and hasattr(error, "add_note"):
            # The driver's own exception, told where in the batch it arose.
            error.add_note(done.doc["error"])
        raise error

    def _step(
        self, status: int, doc: bytes = b"", record: Optional[Tuple[Any, Any]] = None
    ) -> Request:
        arr, schema = record if record is not None else (ffi.NULL, ffi.NULL)
        out = self._out
        try:
            lib().pbi_step(self._handle, status, doc, len(doc), arr, schema, out)
        except BaseException as e:  # noqa: B036 - an interrupt, raised once the engine answered
            self._interrupt = e
        while True:
            try:
                parsed = json.loads(ffi.unpack(out.json, out.json_len)) if out.json_len else None
                data = ffi.unpack(ffi.cast("char *", out.data), out.data_len) if out.data_len else None
                return Request(out.op, parsed, data)
            except BaseException as e:  # noqa: B036 - as above, while reading the answer
                if isinstance(e, Exception):
                    raise
                self._interrupt = e

    def _raise_interrupt(self, req: Optional[Request] = None) -> None:
        """Raises the pending interrupt, if any, unless req is a LOG: the
        engine goes on whatever the answer to one."""
        if self._interrupt is not None and (req is None or req.op != LOG):
            e, self._interrupt = self._interrupt, None
            raise e

    def _ok(self) -> Request:
        return self._step(OK)

    def _fail(self, e: BaseException, message: Optional[str] = None) -> Request:
        """Reports e to the engine, by default as its type and text."""
        self.errors.append(e)
        if message is None:
            message = f"{type(e).__name__}: {e}"
        # psycopg 3 keeps the server's CONTEXT (the COPY line that failed)
        # out of str(e); the engine reads the row from it.
        context = getattr(getattr(e, "diag", None), "context", None)
        if context and context not in message:
            message += f"\nCONTEXT:  {context}"
        # psycopg2 names the SQLSTATE pgcode, psycopg 3 sqlstate.
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        return self._step(HOST_ERROR, json.dumps({"message": message, "sqlstate": state}).encode())

    def _handle_request(self, req: Request) -> Request:
        """Answers req and returns the next request."""
        if req.op == COPY_BEGIN:
            return self._copy(req)  # answers by itself, request by request
        record = None
        try:
            self._raise_interrupt(req)
            result = self._HANDLERS[req.op](self, req)
            if isinstance(result, tuple):  # an Arrow chunk
                table, c_arr, c_schema = result
                result, record = {"table": table}, (c_arr, c_schema)
            doc = json.dumps(result).encode()
        except BaseException as e:  # noqa: B036 - every failure, even Ctrl-C, unwinds the batch in Go
            if req.op == LOG and not isinstance(e, Exception):
                self._interrupt = e  # for a request whose failure stops the engine
                return self._ok()
            return self._fail(e)
        return self._step(OK, doc, record)

    # --- the connection ----------------------------------------------

    def _exec(self, req: Request) -> None:
        self.driver.execute(req.doc["sql"], req.doc.get("params"))

    def _query(self, req: Request) -> Any:
        return [list(row) for row in self.driver.query(req.doc["sql"], req.doc.get("params"))]

    def _begin(self, req: Request) -> None:
        # on_before_visible may have begun one already, committing its own
        # writes and going on (the engine begins after its commit).
        if not self.conn.in_transaction():
            self.conn.begin()

    def _commit(self, req: Request) -> None:
        self.conn.commit()

    def _rollback(self, req: Request) -> None:
        if self.conn.in_transaction():
            self.conn.rollback()
        else:
            # on_before_visible ended SQLAlchemy's transaction, and the
            # engine's statements since began one of the driver's own.
            self.conn.connection.dbapi_connection.rollback()

    def _copy(self, req: Request) -> Request:
        """Runs a COPY whose data Go sends as COPY_DATA requests, answering
        the requests that come between them, until COPY_END."""
        copy = BackgroundCopy(self.driver, req.doc["sql"])
        try:
            copy.start()
            req = self._ok()  # answers COPY_BEGIN
            while True:
                self._raise_interrupt(req)
                if req.op in (COPY_END, DONE):
                    break
                if req.op == COPY_DATA:
                    assert req.data is not None
                    copy.write(req.data)
                    req = self._ok()
                else:
                    req = self._handle_request(req)
            if req.op == COPY_END and "error" in req.doc:
                # Go aborted the COPY and reports its own error.
                error = IngestError(req.doc["error"])
                copy.abort(error)
                return self._fail(error, str(error))
            if req.op == COPY_END:
                copy.finish()
                return self._ok()
            copy.abort(IngestError("the engine stopped during a COPY"))
            return req
        except BaseException as e:  # noqa: B036 - the driver or server ended the COPY, or Ctrl-C
            copy.abort(IngestError("the COPY was interrupted"), interrupted=not isinstance(e, Exception))
            return self._fail(e)

    # --- the source --------------------------------------------------

    def _start(self, req: Request) -> None:
        if self.high_watermark == HighWatermark.LATEST:
            value = req.doc
        elif self.high_watermark == HighWatermark.EARLIEST:
            value = None
        else:
            value = self.high_watermark
        first = self.tables[0]
        self.logger.info("High-watermark of %s.%s is %s", first.schema, first.name, value)
        result = self.batches(value)
        try:
            self.batch_iter = iter(result)
        except TypeError:
            raise TypeError(
                f"batches(high_watermark) returned {describe(result)}: expected an iterable (a generator, a list) "
                "of (high_watermark, batch_metadata, rows) tuples"
            ) from None

    def _next_batch(self, req: Request) -> Any:
        assert self.batch_iter is not None
        try:
            item = next(self.batch_iter)
        except StopIteration:
            return None
        self.batch_number += 1
        # Upstream unpacks any iterable of three: a str or dict of three
        # would be taken apart, so only sequences are.
        if not isinstance(item, Sequence) or isinstance(item, (str, bytes, bytearray)) or len(item) != 3:
            raise TypeError(
                f"batch {self.batch_number}: batches yielded {describe(item)}: expected a tuple "
                "(high_watermark, batch_metadata, rows)"
            )
        hwm, metadata, rows = item
        try:
            rows = iter(rows)
        except TypeError:
            raise TypeError(
                f"batch {self.batch_number}: its rows are {describe(rows)}: expected an iterable of (table, row) pairs"
            ) from None
        self.batch_hwm, self.batch_metadata = hwm, metadata
        self.chunks = chunks(
            rows, self.index, self.converters, Limits(CHUNK_ROWS, CHUNK_BYTES, self.buffer_rows), self.batch_number
        )
        return {"metadata": str(metadata), "high_watermark": str(hwm)}

    def _next_chunk(self, req: Request) -> Any:
        assert self.chunks is not None
        try:
            table, batch = next(self.chunks)
        except StopIteration:
            return None
        c_arr = ffi.new("struct ArrowArray *")
        c_schema = ffi.new("struct ArrowSchema *")
        batch._export_to_c(int(ffi.cast("uintptr_t", c_arr)), int(ffi.cast("uintptr_t", c_schema)))
        return table, c_arr, c_schema

    def _batch_high_watermark(self, req: Request) -> Any:
        value = self.batch_hwm() if callable(self.batch_hwm) else self.batch_hwm
        try:
            # allow_nan=False: the engine stores JSON, which has no NaN.
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise (TypeError if isinstance(e, TypeError) else ValueError)(
                f"batch {self.batch_number}: its high watermark {describe(value)} is not JSON-encodable ({e}); "
                "it is stored as JSON in the first table's comment, so it must be None, a bool, an int, a finite "
                "float, a str, or lists and dicts of them (a datetime as its isoformat(), say)"
            ) from e
        return {"value": value, "text": str(value)}

    def _on_before_visible(self, req: Request) -> None:
        self.on_before_visible(self.conn, self._ingest_table(req.doc), self.batch_metadata)

    def _ingest_table(self, doc: Dict[str, Any]) -> sa.Table:
        """The Table the batch's rows went into: the user's own, or the new
        ingest table that will be swapped in for it."""
        table = self.tables[doc["table"]]
        if doc["name"] == table.name and doc["schema"] == table.schema:
            return table
        return sa.Table(
            doc["name"],
            sa.MetaData(),
            *(
                sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key, unique=c.unique)
                for c in table.columns
            ),
            schema=doc["schema"],
        )

    def _force_begin(self, req: Request) -> None:
        """Enters get_pg_force_execute(conn, logger) around a swap, which
        ends sessions that block it for too long."""
        self.force = self.get_pg_force_execute(self.conn, self.logger)
        self.force.__enter__()

    def _force_end(self, req: Request) -> None:
        force, self.force = self.force, None
        if "error" in req.doc:
            error = IngestError(req.doc["error"])
            force.__exit__(IngestError, error, None)
        else:
            force.__exit__(None, None, None)

    def _log(self, req: Request) -> None:
        self.logger.info(req.doc["msg"], *req.doc["args"])

    _HANDLERS: Dict[int, Callable[["Session", Request], Any]] = {
        EXEC: _exec,
        QUERY: _query,
        BEGIN: _begin,
        COMMIT: _commit,
        ROLLBACK: _rollback,
        START: _start,
        NEXT_BATCH: _next_batch,
        NEXT_CHUNK: _next_chunk,
        HIGH_WATERMARK: _batch_high_watermark,
        ON_BEFORE_VISIBLE: _on_before_visible,
        LOG: _log,
        FORCE_BEGIN: _force_begin,
        FORCE_END: _force_end,
    }
