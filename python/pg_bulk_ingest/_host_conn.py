"""The host side of the engine's Conn (goext/engine/conn.go): SQL,
transactions, COPY and force execute on the user's connection. Each method
answers the Conn method it is named after; CopyFrom and Force come as
requests that begin and end them."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from ._copy import BackgroundCopy
from ._drivers import Driver
from ._errors import IngestError
from ._protocol import CopyBeginRequest, EndRequest, QueryAnswer, SQLRequest


class HostConn:
    def __init__(
        self, conn: Any, get_pg_force_execute: Callable[[Any, logging.Logger], Any], logger: logging.Logger
    ) -> None:
        self._conn = conn
        self._driver = Driver(conn)
        self._get_pg_force_execute = get_pg_force_execute
        self._logger = logger
        self._copy: Optional[BackgroundCopy] = None  # the COPY under way
        self._force: Any = None  # the open get_pg_force_execute context, during a swap
        # What the job tells the bridge of the connection (goext/bridge's Job).
        self.job = {"adbc": True} if self._driver.adbc else {}

    def exec(self, doc: SQLRequest) -> None:
        self._driver.execute(doc["sql"], doc.get("params"))

    def query(self, doc: SQLRequest) -> QueryAnswer:
        return [list(row) for row in self._driver.query(doc["sql"], doc.get("params"))]

    def begin(self, _doc: Any) -> None:
        # on_before_visible may have begun one already, committing its own
        # writes and going on (the engine begins after its commit).
        if not self._conn.in_transaction():
            self._conn.begin()

    def commit(self, _doc: Any) -> None:
        self._conn.commit()

    def rollback(self, _doc: Any) -> None:
        if self._conn.in_transaction():
            self._conn.rollback()
        else:
            # on_before_visible ended SQLAlchemy's transaction, and the
            # engine's statements since began one of the driver's own.
            self._conn.connection.dbapi_connection.rollback()

    # CopyFrom: the session answers COPY_BEGIN, each COPY_DATA and
    # COPY_END with these, and with copy_abort when the COPY fails.

    def copy_begin(self, doc: CopyBeginRequest) -> None:
        """Starts the COPY in a worker thread, fed by copy_data."""
        self._copy = BackgroundCopy(self._driver, doc)
        self._copy.start()

    def copy_data(self, data: bytes) -> None:
        assert self._copy is not None
        self._copy.write(data)

    def copy_end(self) -> None:
        """Ends the COPY and waits for it; raises its error if it failed."""
        assert self._copy is not None
        self._copy.finish()
        self._copy = None

    def copy_abort(self, error: BaseException, interrupted: bool = False) -> None:
        """Makes the driver abort the COPY, if any, with error (see
        BackgroundCopy.abort)."""
        copy, self._copy = self._copy, None
        if copy is not None:
            copy.abort(error, interrupted)

    def force_begin(self, _doc: Any) -> None:
        """Enters get_pg_force_execute(conn, logger) around a swap, which
        ends sessions that block it for too long."""
        self._force = self._get_pg_force_execute(self._conn, self._logger)
        self._force.__enter__()

    def force_end(self, doc: EndRequest) -> None:
        force, self._force = self._force, None
        if "error" in doc:
            error = IngestError(doc["error"])
            force.__exit__(IngestError, error, None)
        else:
            force.__exit__(None, None, None)

    def close(self) -> None:
        """Ends the driver's worker thread, and a force execute the engine
        left open by stopping inside a swap."""
        self._driver.close()
        if self._force is not None:
            self._force.__exit__(None, None, None)
