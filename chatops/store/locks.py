"""Leader election: a PostgreSQL session advisory lock on its own connection; always granted on SQLite."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from chatops.store import Store

log = logging.getLogger(__name__)

_BIGINT = (-(2**63), 2**63 - 1)


@contextmanager
def advisory_lock(store: Store, key: int) -> Iterator[bool]:
    """Try to take lock `key` without waiting; yields whether this process holds it.

    The lock belongs to a connection checked out for the whole block, so it is released
    when the block ends or, if this process dies, when PostgreSQL drops its connection: another
    replica can then take it (pg_try_advisory_lock). SQLite deployments are single-process, so
    there the lock is always granted.
    """
    if not _BIGINT[0] <= key <= _BIGINT[1]:
        raise ValueError("an advisory lock key is a signed 64-bit integer")
    engine = store.engine
    if engine.dialect.name != "postgresql":
        yield True
        return
    with store._errors(f"take advisory lock {key}"):  # noqa: SLF001 (same package: one error translation)
        connection = engine.connect()
        try:
            acquired = bool(
                connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            )
            connection.commit()  # a session lock outlives the transaction; don't sit idle in one
        except BaseException:
            connection.close()
            raise
    try:
        yield acquired
    finally:
        try:
            if acquired:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        except SQLAlchemyError:
            # Dropping the connection releases every lock it holds.
            log.warning("could not release advisory lock %d; closing its connection instead", key)
            connection.invalidate()
        finally:
            connection.close()
