"""What differs between psycopg2 and psycopg 3: running SQL and COPY on the
driver connection underneath the user's SQLAlchemy connection."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from to_file_like_obj import to_file_like_obj

SUPPORTED = ("psycopg2", "psycopg")


class Driver:
    def __init__(self, conn: Any) -> None:
        name = conn.engine.driver
        if name not in SUPPORTED:
            raise ValueError(
                f"unsupported driver {name!r}: use postgresql+psycopg2:// or postgresql+psycopg://"
            )
        self.name = name
        self._sa_conn = conn

    def _cursor(self) -> Any:
        return self._sa_conn.connection.driver_connection.cursor()

    def execute(self, sql: str, params: Sequence[Any] | None) -> None:
        with self._cursor() as cur:
            cur.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None) -> list[Any]:
        with self._cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()  # type: ignore[no-any-return]

    def copy(self, sql: str, chunks: Iterable[bytes]) -> None:
        with self._cursor() as cur:
            if self.name == "psycopg2":
                cur.copy_expert(sql, to_file_like_obj(chunks, bytes), size=1 << 20)
            else:
                with cur.copy(sql) as copy:
                    for chunk in chunks:
                        copy.write(chunk)
