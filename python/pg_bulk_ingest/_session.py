"""Runs one ingest: starts a Go session and answers its calls until it is
done. The answers come from the host sides of the engine's interfaces
(goext/engine/conn.go): HostConn (_host_conn.py), HostSource
(_host_source.py) and, for Logger, the session itself."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, List, Optional

from ._errors import DuplicatePartitionError, IngestError
from ._host_conn import HostConn
from ._host_source import Chunk, HostSource
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
    HostErrorAnswer,
    LOG,
    LogRequest,
    NEXT_BATCH,
    NEXT_CHUNK,
    NO_ANSWER,
    OK,
    ON_BEFORE_VISIBLE,
    ON_DUPLICATE,
    ON_PARTITION_ATTACHED,
    QUERY,
    ROLLBACK,
    START,
)


class Call:
    """One call of the engine to the host (goext/bridge's Call): its op, its
    JSON, parsed, and its bytes (a COPY_DATA's)."""

    __slots__ = ("op", "doc", "data")

    def __init__(self, op: int, doc: Any, data: Optional[bytes]) -> None:
        self.op, self.doc, self.data = op, doc, data


class Session:
    def __init__(self, spec: Dict[str, Any], conn: HostConn, source: HostSource, logger: logging.Logger) -> None:
        self._spec = spec
        self._conn = conn
        self._logger = logger
        # What answers each call but COPY_BEGIN's (_copy_from): a function
        # of the call's JSON that returns the answer's.
        self._handlers: Dict[int, Callable[[Any], Any]] = {
            EXEC: conn.exec,
            QUERY: conn.query,
            BEGIN: conn.begin,
            COMMIT: conn.commit,
            ROLLBACK: conn.rollback,
            FORCE_BEGIN: conn.force_begin,
            FORCE_END: conn.force_end,
            START: source.start,
            NEXT_BATCH: source.next_batch,
            NEXT_CHUNK: source.next_chunk,
            HIGH_WATERMARK: source.high_watermark,
            ON_BEFORE_VISIBLE: source.on_before_visible,
            ON_DUPLICATE: source.on_duplicate,
            ON_PARTITION_ATTACHED: source.on_partition_attached,
            LOG: self._log,
        }
        # Every exception reported to the engine, in order: the engine
        # recovers from some (a savepoint's attempt) and names the one that
        # ended the ingest by its position, from 1.
        self._errors: List[BaseException] = []
        self._out = ffi.new("pbi_request *")
        self._handle = 0
        # An interrupt (Ctrl-C) raised as pbi_step returned, to answer the
        # call that pbi_step brought.
        self._interrupt: Optional[BaseException] = None

    def run(self) -> None:
        doc = json.dumps(self._spec).encode()
        err = ffi.new("char **")
        self._handle = lib().pbi_start(doc, len(doc), err)
        if not self._handle:
            message = ffi.string(err[0]).decode()
            lib().pbi_free(err[0])
            raise ValueError(message)
        try:
            call = self._step(NO_ANSWER)
            while call.op != DONE:
                call = self._answer(call)
        finally:
            lib().pbi_close(self._handle)
            self._conn.close()
        self._finish(call)
        self._raise_interrupt()

    def _finish(self, done: Call) -> None:
        if done.doc is None:
            return
        failure = done.doc.get("host") or 0
        duplicate = done.doc.get("duplicate")
        if duplicate:
            raise DuplicatePartitionError(
                f"on_duplicate=__ERROR__: Duplicate partition detected: {duplicate['partition']} has same hash "
                f"as {duplicate['source']}"
            )
        if not failure:
            raise IngestError(done.doc["error"])
        error = self._errors[failure - 1]
        if done.doc.get("located") and hasattr(error, "add_note"):
            # The driver's own exception, told where in the batch it arose.
            error.add_note(done.doc["error"])
        raise error

    def _step(self, status: int, doc: bytes = b"", chunk: Optional[Chunk] = None) -> Call:
        arr, schema = (chunk.array, chunk.schema) if chunk is not None else (ffi.NULL, ffi.NULL)
        out = self._out
        try:
            lib().pbi_step(self._handle, status, doc, len(doc), arr, schema, out)
        except BaseException as e:  # noqa: B036 - an interrupt, raised once the engine answered
            self._interrupt = e
        while True:
            try:
                parsed = json.loads(ffi.unpack(out.json, out.json_len)) if out.json_len else None
                data = ffi.unpack(ffi.cast("char *", out.data), out.data_len) if out.data_len else None
                return Call(out.op, parsed, data)
            except BaseException as e:  # noqa: B036 - as above, while reading the answer
                if isinstance(e, Exception):
                    raise
                self._interrupt = e

    def _raise_interrupt(self, call: Optional[Call] = None) -> None:
        """Raises the pending interrupt, if any, unless call is a LOG: the
        engine goes on whatever the answer to one."""
        if self._interrupt is not None and (call is None or call.op != LOG):
            e, self._interrupt = self._interrupt, None
            raise e

    def _ok(self) -> Call:
        return self._step(OK)

    def _fail(self, e: BaseException, message: Optional[str] = None) -> Call:
        """Reports e to the engine, by default as its type and text."""
        self._errors.append(e)
        if message is None:
            message = f"{type(e).__name__}: {e}"
        # psycopg2 names the SQLSTATE pgcode, psycopg 3 sqlstate.
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        # The server's CONTEXT (which line of a COPY it refused, say), from
        # which the engine locates the failing row: both drivers' diag.
        context = getattr(getattr(e, "diag", None), "context", None)
        answer: HostErrorAnswer = {"message": message}
        if state:
            answer["sqlstate"] = state
        if context:
            answer["context"] = context
        return self._step(HOST_ERROR, json.dumps(answer).encode())

    def _answer(self, call: Call) -> Call:
        """Answers call and returns the next one."""
        if call.op == COPY_BEGIN:
            return self._copy_from(call)  # answers by itself, call by call
        try:
            self._raise_interrupt(call)
            result = self._handlers[call.op](call.doc)
            chunk = result if isinstance(result, Chunk) else None  # HostSource.next_chunk's
            doc = json.dumps(result if chunk is None else chunk.answer).encode()
        except BaseException as e:  # noqa: B036 - every failure, even Ctrl-C, unwinds the batch in Go
            if call.op == LOG and not isinstance(e, Exception):
                self._interrupt = e  # for a call whose failure stops the engine
                return self._ok()
            return self._fail(e)
        return self._step(OK, doc, chunk)

    def _copy_from(self, call: Call) -> Call:
        """Answers the calls of one Conn.CopyFrom: COPY_BEGIN, the
        COPY_DATA that feed the COPY and the calls that come between
        them (the next chunk's), until COPY_END."""
        conn = self._conn
        try:
            conn.copy_begin(call.doc)
            call = self._ok()
            while True:
                self._raise_interrupt(call)
                if call.op == COPY_DATA:
                    conn.copy_data(call.data)  # type: ignore[arg-type]
                    call = self._ok()
                elif call.op in (COPY_END, DONE):
                    break
                else:
                    call = self._answer(call)
            if call.op == DONE:
                conn.copy_abort(IngestError("the engine stopped during a COPY"))
                return call
            if "error" in call.doc:
                # Go aborted the COPY and reports its own error.
                error = IngestError(call.doc["error"])
                conn.copy_abort(error)
                return self._fail(error, str(error))
            conn.copy_end()
            return self._ok()
        except BaseException as e:  # noqa: B036 - the driver or server ended the COPY, or Ctrl-C
            conn.copy_abort(IngestError("the COPY was interrupted"), interrupted=not isinstance(e, Exception))
            return self._fail(e)

    def _log(self, doc: LogRequest) -> None:
        """Logger.Info, or a line of ingest_versioned's, on its logger."""
        name = doc.get("logger")
        logger = logging.getLogger(name) if name else self._logger
        logger.log(logging.WARNING if doc.get("warning") else logging.INFO, doc["msg"], *doc["args"])
