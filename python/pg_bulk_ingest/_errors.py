"""Exceptions raised by the engine."""


class IngestError(Exception):
    """The engine could not ingest a batch: a value that does not fit its
    column, a table that cannot be created, or a failure of the server.
    The message names the batch, table, column, row and value where known."""
