"""The option constants: plain strings, so orchestrators can pass them as text."""


class HighWatermark:
    LATEST = "__LATEST__"
    EARLIEST = "__EARLIEST__"


class Visibility:
    AFTER_EACH_BATCH = "__AFTER_EACH_BATCH__"


class Upsert:
    OFF = "__OFF__"
    IF_PRIMARY_KEY = "__IF_PRIMARY_KEY__"


class Delete:
    OFF = "__OFF__"
    BEFORE_FIRST_BATCH = "__BEFORE_FIRST_BATCH__"


class OnDuplicate:
    """What ingest_versioned does with a version whose rows hash as its
    predecessor's; a callable is accepted too (see versioned.py)."""

    SKIP = "__SKIP__"
    ERROR = "__ERROR__"
    KEEP = "__KEEP__"
