"""Shared fixtures: `cipher`, and `store` on SQLite and (with CHATOPS_TEST_POSTGRES_URL) on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from chatops.store import Store
    from chatops.store.crypto import GrantCipher

POSTGRES_URL = os.environ.get("CHATOPS_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("CHATOPS_REQUIRE_POSTGRES", "") not in ("", "0")  # CI: fail, don't skip


@pytest.fixture
def cipher() -> GrantCipher:
    from chatops.store.crypto import GrantCipher

    return GrantCipher([GrantCipher.generate_key()])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, cipher: GrantCipher) -> Iterator[Store]:
    """A migrated, empty store; on PostgreSQL each test gets its own schema, dropped afterwards."""
    from chatops.store import Store

    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'chatops.db'}", cipher)
        yield opened
        opened.close()
        return
    with _postgres_schema() as url:
        opened = Store.open(url, cipher)
        yield opened
        opened.close()


def _postgres_unavailable(reason: str) -> None:
    if REQUIRE_POSTGRES:
        pytest.fail(f"PostgreSQL is required here (CHATOPS_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(reason)


@contextmanager
def _postgres_schema() -> Iterator[str]:
    """A URL whose connections all use a fresh schema (search_path), so tests never see each other."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    if not POSTGRES_URL:
        _postgres_unavailable(
            "PostgreSQL not configured: set CHATOPS_TEST_POSTGRES_URL, "
            "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        _postgres_unavailable(
            f"PostgreSQL at CHATOPS_TEST_POSTGRES_URL is unreachable: {str(exc.orig or exc)[:200]}"
        )
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
