"""Leader election: a PostgreSQL session advisory lock on its own connection; always granted on SQLite."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
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


class LeaderLock:
    """A session advisory lock held across calls: the scheduler's leader election (sync; call via to_thread).

    `try_acquire()` takes lock `key` without waiting and keeps its connection; `held()` asks that connection
    (a dead one means PostgreSQL dropped the session, and the lock with it); `release()` gives it up. On
    SQLite there is one process, so it is always granted.
    """

    def __init__(self, store: Store, key: int) -> None:
        if not _BIGINT[0] <= key <= _BIGINT[1]:
            raise ValueError("an advisory lock key is a signed 64-bit integer")
        self._store = store
        self._key = key
        self._connection: Connection | None = None
        self._sqlite = store.engine.dialect.name != "postgresql"

    def try_acquire(self) -> bool:
        if self._sqlite:
            return True
        if self._connection is not None:
            return self.held()
        connection = self._store.engine.connect()
        try:
            acquired = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                               {"key": self._key}).scalar())
            connection.commit()
        except SQLAlchemyError as exc:
            connection.close()
            log.warning("could not ask for advisory lock %d: %s", self._key, type(exc).__name__)
            return False
        if acquired:
            self._connection = connection
        else:
            connection.close()
        return acquired

    def held(self) -> bool:
        if self._sqlite:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            log.warning("the connection holding advisory lock %d is gone; so is the lock", self._key)
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            self._connection.commit()
        except SQLAlchemyError:
            log.warning("could not release advisory lock %d; closing its connection instead", self._key)
        self._drop()

    def abandon(self) -> None:
        """Drop the connection without unlocking, as a crashed process would (tests; PostgreSQL frees the lock)."""
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except SQLAlchemyError:
                pass
            self._connection = None
