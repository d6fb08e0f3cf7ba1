"""The Store facade: every query is scoped to one workspace; synchronous (the async core uses to_thread)."""

from __future__ import annotations

import difflib
import itertools
import logging
import secrets
import sqlite3
import string
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError as AlembicCommandError
from sqlalchemy import Connection as DbConnection
from sqlalchemy import Engine, Table, create_engine, delete, event, func, insert, or_, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import Session, SQLModel, col, select

from chatops.errors import AlreadyExists, NotFound, StoreError
from chatops.findings import Finding, Status
from chatops.model import Connection, Grant, SyncEvent, Workspace
from chatops.ports import QuotaUsage, TokenSet, UsageWindow
from chatops.store.audits import AuditStore
from chatops.store.crypto import GrantCipher, UndecryptableGrant
from chatops.store.installations import Installations
from chatops.store.reconnect_states import ReconnectStates
from chatops.store.tables import (
    ConnectionRow,
    FindingRow,
    GrantRow,
    MemberRow,
    QuotaSampleRow,
    RunRow,
    SyncEventRow,
    WorkspaceRow,
    connection_to_row,
    finding_to_row,
    grant_to_row,
    row_to_connection,
    row_to_finding,
    row_to_grant,
    row_to_locked_grant,
    row_to_workspace,
    seal,
    utc,
    utc_now,
    workspace_to_row,
)

log = logging.getLogger(__name__)

MIGRATIONS: Final = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S: Final = 5  # PostgreSQL: an unreachable server fails ping() fast instead of hanging
DEFAULT_EVENTS_LIMIT: Final = 5000
DEFAULT_HISTORY_LIMIT: Final = 20
MIGRATION_LOCK_KEY: Final = 0x63686174_6F707301  # "chatops" + 1: replicas starting together migrate once
_WRITE: Final = "chatops_write"  # execution option: this transaction will write (SQLite: BEGIN IMMEDIATE)
_ID_ALPHABET: Final = string.ascii_lowercase + string.digits  # no '-' first: ids are CLI arguments

__all__ = ["AlreadyExists", "Member", "RunSummary", "Store", "UndecryptableGrant", "new_id"]


@dataclass(frozen=True, slots=True)
class Member:
    """A chat user of a workspace, as the platform last described them."""

    chat_user_id: str
    email: str
    name: str = ""
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One diagnosis run, for trends: how many findings of each status, over how many connections."""

    id: str
    started_at: datetime
    finished_at: datetime
    counts: Mapping[Status, int]  # every status present, 0 when none
    connections: int


def new_id(prefix: str) -> str:
    """A short, url-safe, unguessable id: `c_` + 10 characters (about 51 bits)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


# ---------------------------------------------------------------- engine, errors, migrations


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            "the database URL is not valid; use sqlite:///path or postgresql://user@host/db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver chatops ships with
    return parsed


def _sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if database.startswith("file:"):  # uri=true form: file:/path?mode=ro
        database = database.removeprefix("file:").partition("?")[0]
        if url.query.get("mode") == "memory":
            return None
    return None if database in ("", ":memory:") else Path(database)


def _describe(url: URL) -> str:
    """How messages name the database: never with its password."""
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        return f"SQLite database {path}" if path else "in-memory SQLite database"
    where = f"{url.host or 'localhost'}{f':{url.port}' if url.port else ''}"
    user = f"{url.username}@" if url.username else ""
    return f"PostgreSQL database {url.database or ''} ({user}{where})"


# SQLite's own words -> what to do about it.
_PROBLEMS: Final = (
    ("readonly database", "the database is read-only (check the permissions of the file and its folder)"),
    ("database is locked", "the database is locked by another process; try again"),
    ("unable to open database file", "the database file cannot be opened (check the path and permissions)"),
    ("database disk image is malformed", "the database file is damaged; restore it from a backup"),
    ("file is not a database", "the file is not a SQLite database"),
    ("no such table", "the database has no chatops tables yet (open it with migrations enabled)"),
)


def _problem(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    first = lines[0].strip() if lines else type(original).__name__
    lowered = first.lower()
    return next((said for needle, said in _PROBLEMS if needle in lowered), first)


def _belongs_to(email: str) -> Any:
    """A connection whose owner, CRM user or mailbox is this email (case-insensitive)."""
    wanted = email.strip().lower()
    return or_(func.lower(ConnectionRow.owner_email) == wanted, func.lower(ConnectionRow.crm_user_email) == wanted,
               func.lower(ConnectionRow.mailbox_email) == wanted)


def _sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # pysqlite starts transactions late and on its own; we emit BEGIN ourselves (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    # WAL: readers never wait for a writer, and a commit is an append to the log: 20 ms a commit with the
    # rollback journal on the bench machine, under 1 ms now, so bursts of commands and audits don't queue
    # behind writes (bench/ack.py, bench/fleet.py). A read-only file keeps the journal it has.
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
        # with WAL, NORMAL loses no data when the process dies, only the last commits on a power loss
        cursor.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.OperationalError:
        pass
    cursor.close()


def _sqlite_begin(connection: DbConnection) -> None:
    # A writing transaction takes the write lock up front, so read-then-write (save_tokens keeping the
    # refresh token, key rotation) can't lose another writer's update; readers keep a plain BEGIN.
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _build_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        options: dict[str, Any] = {}
        if _sqlite_path(url) is None:  # one shared in-memory database for every thread
            options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _alembic_config() -> Config:
    """Alembic configured in code, so migrations run from an installed package (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _insert_or_update(
    session: Session,
    model: type[SQLModel],
    values: dict[str, Any],
    keys: Sequence[str],
    update_columns: Sequence[str] = (),
) -> None:
    """INSERT ... ON CONFLICT: safe when two replicas write the same key at once."""
    dialect = session.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(_table(model)).values(
        **values
    )
    if update_columns:
        session.exec(
            statement.on_conflict_do_update(
                index_elements=list(keys), set_={name: statement.excluded[name] for name in update_columns}
            )
        )
    else:
        session.exec(statement.on_conflict_do_nothing(index_elements=list(keys)))


def _unknown_connection(workspace_id: str, key: str, names: Sequence[str]) -> NotFound:
    by_folded = {name.lower(): name for name in names}  # only this workspace's names: never another's
    close = difflib.get_close_matches(key.strip().lower(), list(by_folded), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_folded[c] for c in close)}?" if close else ""
    return NotFound(f"no connection {key!r} in workspace {workspace_id}{hint}")


# ---------------------------------------------------------------- the store


REPORT_BATCH: Final = 1000  # findings written per INSERT


class Store:
    """Workspaces, connections with encrypted grants, reports, sync events and quota samples.

    Every method is synchronous and opens its own transaction: nothing is half-written. Database
    failures become StoreError naming the database and the problem in one line.
    """

    def __init__(self, url: str, cipher: GrantCipher) -> None:
        self._url = _normalise(url)
        self.name = _describe(self._url)
        self._cipher = cipher
        try:
            self._engine = _build_engine(self._url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"{self.name}: cannot use this database URL ({exc})") from exc
        self._writer = self._engine.execution_options(**{_WRITE: True})
        # SQLite has one writer at a time; this process's writers queue here, in order, instead of in
        # SQLite's busy handler, whose growing sleeps starved a busy audit (bench/fleet.py)
        self._write_turn: AbstractContextManager[Any] = (
            threading.RLock() if self._url.get_backend_name() == "sqlite" else nullcontext()
        )

    @classmethod
    def open(cls, url: str, cipher: GrantCipher, *, upgrade: bool = True) -> Store:
        """A store ready to use: the SQLite folder made, the schema migrated to the newest version."""
        parsed = _normalise(url)
        path = _sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"{_describe(parsed)}: cannot create its folder {path.parent} ({exc.strerror})"
                ) from exc
        store = cls(url, cipher)
        if upgrade:
            try:
                store.upgrade()
            except BaseException:
                store.close()
                raise
        return store

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (advisory locks, the scheduler's job store)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> None:
        """Raises StoreError when the database can't be reached."""
        with self._errors("reach it"), self._engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def __repr__(self) -> str:
        return f"Store({self.name})"

    # ------------------------------------------------------------ migrations

    def revision(self) -> str | None:
        """The schema version the database is at (None: not migrated yet)."""
        with self._errors("read its schema version"), self._engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head(self) -> str | None:
        """The newest schema version this code knows."""
        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema forward in place; a database already at `revision` is left alone."""
        current = self.revision()
        if revision == "head" and current == self.head():
            return  # also lets a read-only database at the newest version open
        if current is not None:
            try:
                ScriptDirectory.from_config(_alembic_config()).get_revision(current)
            except (AlembicCommandError, RevisionError):
                raise StoreError(
                    f"{self.name}: its schema version {current} is newer than this chatops knows "
                    f"({self.head()}); run the chatops version that migrated it, or a newer one"
                ) from None
        self._migrate(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        self._migrate(command.downgrade, revision)

    def _migrate(self, run: Any, revision: str) -> None:
        config = _alembic_config()
        with self._errors("migrate its schema"), self._writer.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            try:
                run(config, revision)
            except (AlembicCommandError, RevisionError) as exc:
                raise StoreError(f"{self.name}: cannot migrate its schema to {revision}: {exc}") from exc

    # ------------------------------------------------------------ sessions and errors

    @contextmanager
    def _errors(self, doing: str, *, conflict: str = "") -> Iterator[None]:
        try:
            yield
        except IntegrityError as exc:
            if conflict:
                raise AlreadyExists(conflict) from exc
            raise StoreError(self._message(doing, exc)) from exc
        except SQLAlchemyError as exc:  # DBAPIError (locked, read-only, unreachable) and the pool's errors
            raise StoreError(self._message(doing, exc)) from exc

    def _message(self, doing: str, exc: BaseException) -> str:
        problem = _problem(exc)
        if self._url.password:
            problem = problem.replace(str(self._url.password), "***")
        return f"{self.name}: cannot {doing}: {problem}"

    @contextmanager
    def _session(self, doing: str, *, write: bool = False, conflict: str = "") -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        bind = self._writer if write else self._engine
        with (
            self._write_turn if write else nullcontext(),
            self._errors(doing, conflict=conflict),
            Session(bind, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @staticmethod
    def _require_workspace(session: Session, workspace_id: str) -> None:
        if session.get(WorkspaceRow, workspace_id) is None:
            raise NotFound(f"unknown workspace {workspace_id!r}")

    @staticmethod
    def _require_connection(session: Session, workspace_id: str, connection_id: str) -> None:
        if session.get(ConnectionRow, (workspace_id, connection_id)) is None:
            raise NotFound(f"no connection {connection_id!r} in workspace {workspace_id}")

    # ------------------------------------------------------------ workspaces and members

    def ensure_workspace(self, ws: Workspace) -> Workspace:
        """The stored workspace, created from `ws` when missing (an existing one is left as it is)."""
        with self._session("save the workspace", write=True) as session:
            _insert_or_update(session, WorkspaceRow, workspace_to_row(ws).model_dump(), ["id"])
            row = session.get(WorkspaceRow, ws.id)
            assert row is not None
            return row_to_workspace(row)

    def get_workspace(self, workspace_id: str) -> Workspace:
        with self._session("read the workspace") as session:
            row = session.get(WorkspaceRow, workspace_id)
            if row is None:
                raise NotFound(f"unknown workspace {workspace_id!r}")
            return row_to_workspace(row)

    def list_workspaces(self) -> list[Workspace]:
        with self._session("list the workspaces") as session:
            return [
                row_to_workspace(r) for r in session.exec(select(WorkspaceRow).order_by(col(WorkspaceRow.id)))
            ]

    def upsert_member(
        self, workspace_id: str, chat_user_id: str, email: str, *, name: str = "", is_admin: bool = False
    ) -> None:
        row = MemberRow(
            workspace_id=workspace_id,
            chat_user_id=chat_user_id,
            email=email.strip(),
            name=name,
            is_admin=is_admin,
        )
        with self._session("save the member", write=True) as session:
            self._require_workspace(session, workspace_id)
            _insert_or_update(
                session,
                MemberRow,
                row.model_dump(),
                ["workspace_id", "chat_user_id"],
                ["email", "name", "is_admin", "updated_at"],
            )

    def member(self, workspace_id: str, chat_user_id: str) -> Member | None:
        with self._session("read the member") as session:
            row = session.get(MemberRow, (workspace_id, chat_user_id))
            return None if row is None else Member(row.chat_user_id, row.email, row.name, row.is_admin)

    # ------------------------------------------------------------ connections and grants

    def add_connection(self, workspace_id: str, connection: Connection) -> Connection:
        """Store a connection and its grants in one transaction; empty ids are generated."""
        [stored] = self._add_connections(workspace_id, [connection], "add the connection")
        return stored

    def import_connections(self, workspace_id: str, connections: Sequence[Connection]) -> list[Connection]:
        """Store every connection or none: one bad record stores nothing."""
        return self._add_connections(workspace_id, connections, "import the connections")

    def _add_connections(
        self, workspace_id: str, connections: Sequence[Connection], doing: str
    ) -> list[Connection]:
        prepared = [self._prepare(workspace_id, c) for c in connections]
        _refuse_repeats("connection name", [c.name for c in prepared])
        _refuse_repeats("connection id", [c.id for c in prepared])
        _refuse_repeats("grant id", [g.id for c in prepared for g in c.grants])
        if not prepared:
            return []
        raced = (
            f"workspace {workspace_id} got a connection with one of these names or ids meanwhile; try again"
        )
        with self._session(doing, write=True, conflict=raced) as session:
            self._require_workspace(session, workspace_id)
            existing = session.exec(
                select(ConnectionRow.name, ConnectionRow.id).where(ConnectionRow.workspace_id == workspace_id)
            ).all()
            grant_ids = set(
                session.exec(select(GrantRow.id).where(GrantRow.workspace_id == workspace_id)).all()
            )
            names, ids = {name for name, _ in existing}, {id_ for _, id_ in existing}
            taken = (
                [f"name {c.name}" for c in prepared if c.name in names]
                + [f"id {c.id}" for c in prepared if c.id in ids]
                + [f"grant id {g.id}" for c in prepared for g in c.grants if g.id in grant_ids]
            )
            if taken:
                raise AlreadyExists(
                    f"workspace {workspace_id} already has a connection with "
                    f"{', '.join(taken)}; remove it first or choose another name"
                )
            session.exec(
                insert(_table(ConnectionRow)),
                params=[connection_to_row(workspace_id, c).model_dump() for c in prepared],
            )
            grants = [
                grant_to_row(workspace_id, c.id, g, self._cipher).model_dump(exclude={"pk"})
                for c in prepared
                for g in c.grants
            ]
            if grants:
                session.exec(insert(_table(GrantRow)), params=grants)
        return prepared

    @staticmethod
    def _prepare(workspace_id: str, connection: Connection) -> Connection:
        if connection.workspace_id and connection.workspace_id != workspace_id:
            raise ValueError(
                f"connection {connection.name!r} belongs to workspace {connection.workspace_id}, "
                f"not {workspace_id}"
            )
        name = connection.name.strip()
        if not name:
            raise ValueError("a connection needs a name")
        roles = [g.role for g in connection.grants]
        if len(roles) != len(set(roles)):
            raise ValueError(f"connection {name!r} has two grants for the same role")
        grants = tuple(
            replace(g, id=g.id or new_id("g_"), expires_at=utc(g.expires_at) if g.expires_at else None)
            for g in connection.grants
        )
        return replace(
            connection, id=connection.id or new_id("c_"), workspace_id=workspace_id, name=name, grants=grants
        )

    def list_connections(self, workspace_id: str) -> list[Connection]:
        """Every connection of the workspace, by name, with its grants decrypted."""
        with self._session("list the connections") as session:
            rows = session.exec(
                select(ConnectionRow)
                .where(ConnectionRow.workspace_id == workspace_id)
                .order_by(col(ConnectionRow.name))
            ).all()
            grants = self._grants(session, workspace_id)
            return [row_to_connection(r, grants.get(r.id, ())) for r in rows]

    def get_connection(self, workspace_id: str, key: str) -> Connection:
        """By id or name (a unique case-insensitive name also matches); NotFound suggests close names."""
        with self._session("read the connection") as session:
            row = self._find(session, workspace_id, key)
            return row_to_connection(row, self._grants(session, workspace_id, row.id).get(row.id, ()))

    def connections_for(self, workspace_id: str, email: str) -> list[Connection]:
        """Connections whose owner, CRM user or mailbox is this email (case-insensitive)."""
        with self._session("find the connections") as session:
            rows = session.exec(
                select(ConnectionRow)
                .where(ConnectionRow.workspace_id == workspace_id)
                .where(_belongs_to(email))
                .order_by(col(ConnectionRow.name))
            ).all()
            # only these connections' grants: decrypting the whole workspace's made every /syncstatus ack
            # slower with each connection added (bench/ack.py)
            grants = self._grants(session, workspace_id, [r.id for r in rows]) if rows else {}
            return [row_to_connection(r, grants.get(r.id, ())) for r in rows]

    def count_connections(self, workspace_id: str, email: str | None = None) -> int:
        """How many connections the workspace has (those of `email` when given), one COUNT, no grants read:
        the number the /syncstatus ack shows (bench/ack.py)."""
        query = select(func.count()).select_from(ConnectionRow).where(ConnectionRow.workspace_id == workspace_id)
        if email is not None:
            query = query.where(_belongs_to(email))
        with self._session("count the connections") as session:
            return int(session.exec(query).one())

    def remove_connection(self, workspace_id: str, key: str) -> None:
        """Remove a connection with its grants, sync events and quota samples (reports are kept)."""
        with self._session("remove the connection", write=True) as session:
            row = self._find(session, workspace_id, key)
            for model in (SyncEventRow, QuotaSampleRow, GrantRow):
                table = _table(model)
                session.exec(
                    delete(table).where(table.c.workspace_id == workspace_id, table.c.connection_id == row.id)
                )
            session.delete(row)

    @staticmethod
    def _find(session: Session, workspace_id: str, key: str) -> ConnectionRow:
        row = session.get(ConnectionRow, (workspace_id, key))
        if row is not None:
            return row
        in_workspace = select(ConnectionRow).where(ConnectionRow.workspace_id == workspace_id)
        row = session.exec(in_workspace.where(ConnectionRow.name == key)).first()
        if row is not None:
            return row
        folded = session.exec(in_workspace.where(func.lower(ConnectionRow.name) == key.strip().lower())).all()
        if len(folded) == 1:
            return folded[0]
        names = session.exec(
            select(ConnectionRow.name).where(ConnectionRow.workspace_id == workspace_id)
        ).all()
        raise _unknown_connection(workspace_id, key, names)

    def _grants(
        self, session: Session, workspace_id: str, connection_id: str | Sequence[str] | None = None
    ) -> dict[str, tuple[Grant, ...]]:
        query = select(GrantRow).where(GrantRow.workspace_id == workspace_id)
        if isinstance(connection_id, str):
            query = query.where(GrantRow.connection_id == connection_id)
        elif connection_id is not None:
            query = query.where(col(GrantRow.connection_id).in_(connection_id))
        found: dict[str, list[Grant]] = {}
        for row in session.exec(query.order_by(col(GrantRow.pk))):
            found.setdefault(row.connection_id, []).append(self._open_grant(row))
        return {connection_id: tuple(grants) for connection_id, grants in found.items()}

    def _open_grant(self, row: GrantRow) -> Grant:
        try:
            return row_to_grant(row, self._cipher)
        except UndecryptableGrant as exc:
            log.warning(
                "grant %s cannot be decrypted (%s); it needs a reconnect",
                row.id,
                exc,
                extra={"workspace": row.workspace_id, "connection": row.connection_id},
            )
            return row_to_locked_grant(row)

    def save_tokens(self, workspace_id: str, grant_id: str, tokens: TokenSet) -> Grant:
        """Keep a refresh's result: access token, rotated refresh token, expiry and scopes in one transaction.

        The old refresh token is kept when the provider rotated none; empty scopes (a refresh answer
        that doesn't repeat them) keep the old ones.
        """
        with self._session("save the tokens", write=True) as session:
            row = session.exec(
                select(GrantRow)
                .where(GrantRow.workspace_id == workspace_id, GrantRow.id == grant_id)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFound(f"no grant {grant_id!r} in workspace {workspace_id}")
            row.access_token_enc = seal(self._cipher, workspace_id, grant_id, tokens.access_token)
            if tokens.refresh_token:
                row.refresh_token_enc = seal(self._cipher, workspace_id, grant_id, tokens.refresh_token)
            elif row.refresh_token_enc:
                try:  # same token, now under the current key, so key_id stays true for the whole row
                    row.refresh_token_enc = self._cipher.rotate(row.refresh_token_enc)
                except UndecryptableGrant:
                    row.refresh_token_enc = ""
            row.key_id = self._cipher.key_id if (row.access_token_enc or row.refresh_token_enc) else None
            row.expires_at = utc(tokens.expires_at) if tokens.expires_at else None
            if tokens.scopes:
                row.scopes = sorted(tokens.scopes)
            if tokens.instance_url:
                row.instance_url = tokens.instance_url
            row.needs_reconnect = False
            row.updated_at = utc_now()
            session.add(row)
            return row_to_grant(row, self._cipher)

    def mark_needs_reconnect(self, workspace_id: str, grant_id: str) -> None:
        """A terminal refresh failure (invalid_grant): stop using the grant until Reconnect."""
        with self._session("mark the grant", write=True) as session:
            result = session.exec(
                update(_table(GrantRow))
                .where(_table(GrantRow).c.workspace_id == workspace_id, _table(GrantRow).c.id == grant_id)
                .values(needs_reconnect=True, updated_at=utc_now())
            )
            if result.rowcount == 0:
                raise NotFound(f"no grant {grant_id!r} in workspace {workspace_id}")

    def rotate_keys(self, batch: int = 200, *, max_batches: int | None = None) -> int:
        """Re-encrypt every grant not yet under the current key; returns the rows rewritten.

        Each batch is its own transaction, so an interruption leaves every row readable (the old key
        is still configured) and a re-run resumes where it stopped. A row no key can read is marked
        `needs_reconnect` and left alone. `max_batches` stops early (tests, throttled runs).
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        current = self._cipher.key_id
        rewritten = unreadable = batches = 0
        after = 0
        while max_batches is None or batches < max_batches:
            with self._session("re-encrypt the grants", write=True) as session:
                rows = session.exec(
                    select(GrantRow)
                    .where(
                        col(GrantRow.key_id).is_not(None),
                        GrantRow.key_id != current,
                        col(GrantRow.pk) > after,
                    )
                    .order_by(col(GrantRow.pk))
                    .limit(batch)
                    .with_for_update()
                ).all()
                if not rows:
                    break
                for row in rows:
                    try:
                        access = self._cipher.rotate(row.access_token_enc) if row.access_token_enc else ""
                        refresh = self._cipher.rotate(row.refresh_token_enc) if row.refresh_token_enc else ""
                    except UndecryptableGrant:
                        unreadable += 1
                        row.needs_reconnect = True
                    else:
                        row.access_token_enc, row.refresh_token_enc, row.key_id = access, refresh, current
                        rewritten += 1
                    session.add(row)
                after = rows[-1].pk or after
            batches += 1
        if unreadable:
            log.warning(
                "%d grants could not be re-encrypted: no configured key reads them; they need a reconnect",
                unreadable,
            )
        if max_batches is None or batches < max_batches:
            rewritten += self.installations.rotate_keys()
        return rewritten

    @property
    def installations(self) -> Installations:
        """Chat app installations (encrypted bot tokens) and install states, on this store's database."""
        return Installations(self._writer, self._cipher)

    @property
    def reconnect(self) -> ReconnectStates:
        """Reconnect's single-use OAuth states, finished start links and cards to update, on this database."""
        return ReconnectStates(self._writer, self._cipher)

    @property
    def audits(self) -> AuditStore:
        """Scheduled audits' subscriptions, digests, alert states, snoozes and delivery keys, on this database."""
        return AuditStore(self._writer)

    def derive_keys(self, purpose: str) -> list[bytes]:
        """Signing keys for `purpose`, derived from the encryption keys (see GrantCipher.derive)."""
        return self._cipher.derive(purpose)

    def remember_event(self, workspace_id: str, key: str) -> bool:
        """True the first time (workspace, key) is seen, False for a retry: a unique key, shared by replicas."""
        return self.installations.remember_event(workspace_id, key)

    # ------------------------------------------------------------ reports

    def record_report(
        self, workspace_id: str, findings: Sequence[Finding], *, started_at: datetime, finished_at: datetime
    ) -> str:
        """Keep one run's findings; returns the run id."""
        run_id = new_id("r_")
        with self._session("record the report", write=True) as session:
            self._require_workspace(session, workspace_id)
            run = RunRow(
                id=run_id, workspace_id=workspace_id, started_at=utc(started_at), finished_at=utc(finished_at)
            )
            session.add(run)
            session.flush()
            assert run.pk is not None
            # in slices: the rows of an audit of 10,000 connections at once took 400 MB (bench/fleet.py)
            for start in range(0, len(findings), REPORT_BATCH):
                rows = [finding_to_row(run.pk, workspace_id, f).model_dump(exclude={"pk"})
                        for f in findings[start:start + REPORT_BATCH]]
                session.exec(insert(_table(FindingRow)), params=rows)
        return run_id

    def latest_findings(self, workspace_id: str, connection_id: str) -> list[Finding]:
        """The findings of the newest run that looked at this connection ([] when none did)."""
        with self._session("read the findings") as session:
            run_pk = session.exec(
                select(func.max(FindingRow.run_pk)).where(
                    FindingRow.workspace_id == workspace_id, FindingRow.connection_id == connection_id
                )
            ).one()
            if run_pk is None:
                return []
            rows = session.exec(
                select(FindingRow)
                .where(
                    FindingRow.workspace_id == workspace_id,
                    FindingRow.run_pk == run_pk,
                    FindingRow.connection_id == connection_id,
                )
                .order_by(col(FindingRow.pk))
            ).all()
            return [row_to_finding(r) for r in rows]

    def run_history(self, workspace_id: str, limit: int = DEFAULT_HISTORY_LIMIT) -> list[RunSummary]:
        """The newest runs first, each with its finding counts by status."""
        with self._session("read the run history") as session:
            runs = session.exec(
                select(RunRow)
                .where(RunRow.workspace_id == workspace_id)
                .order_by(col(RunRow.started_at).desc(), col(RunRow.pk).desc())
                .limit(limit)
            ).all()
            pks = [r.pk for r in runs]
            counts: dict[int | None, Counter[Status]] = {pk: Counter() for pk in pks}
            connections: dict[int | None, int] = dict.fromkeys(pks, 0)
            if pks:
                for run_pk, status, count in session.exec(
                    select(FindingRow.run_pk, FindingRow.status, func.count())
                    .where(col(FindingRow.run_pk).in_(pks))
                    .group_by(col(FindingRow.run_pk), col(FindingRow.status))
                ):
                    counts[run_pk][Status(status)] = count
                for run_pk, count in session.exec(
                    select(FindingRow.run_pk, func.count(func.distinct(FindingRow.connection_id)))
                    .where(col(FindingRow.run_pk).in_(pks))
                    .group_by(col(FindingRow.run_pk))
                ):
                    connections[run_pk] = count
            return [
                RunSummary(
                    r.id, r.started_at, r.finished_at, {s: counts[r.pk][s] for s in Status}, connections[r.pk]
                )
                for r in runs
            ]

    # ------------------------------------------------------------ sync events and quota samples

    def add_events(
        self, workspace_id: str, connection_id: str, events: Iterable[SyncEvent], batch: int = 1000
    ) -> int:
        """Add sync-log lines in batches of `batch` rows (constant memory), all in one transaction."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        table = _table(SyncEventRow)
        added = 0
        with self._session("add the sync events", write=True) as session:
            self._require_connection(session, workspace_id, connection_id)
            iterator = iter(events)
            while chunk := list(itertools.islice(iterator, batch)):
                rows = []
                for e in chunk:
                    if e.connection_id and e.connection_id != connection_id:
                        raise ValueError(
                            f"an event of connection {e.connection_id!r} given for {connection_id!r}"
                        )
                    rows.append(
                        {
                            "workspace_id": workspace_id,
                            "connection_id": connection_id,
                            "at": utc(e.at) if e.at else None,
                            "line": e.line,
                        }
                    )
                session.exec(insert(table), params=rows)
                added += len(rows)
        return added

    def events(
        self,
        workspace_id: str,
        connection_id: str,
        *,
        since: datetime | None = None,
        limit: int = DEFAULT_EVENTS_LIMIT,
    ) -> list[SyncEvent]:
        """The newest `limit` events at or after `since`, oldest first (an event without a time is oldest)."""
        with self._session("read the sync events") as session:
            self._require_connection(session, workspace_id, connection_id)
            query = select(SyncEventRow).where(
                SyncEventRow.workspace_id == workspace_id, SyncEventRow.connection_id == connection_id
            )
            if since is not None:
                query = query.where(col(SyncEventRow.at) >= utc(since))
            rows = session.exec(
                query.order_by(col(SyncEventRow.at).desc().nulls_last(), col(SyncEventRow.pk).desc()).limit(
                    limit
                )
            ).all()
            return [SyncEvent(connection_id=r.connection_id, line=r.line, at=r.at) for r in reversed(rows)]

    def add_quota_sample(
        self, workspace_id: str, connection_id: str, usage: QuotaUsage, at: datetime
    ) -> None:
        with self._session("record the quota usage", write=True) as session:
            self._require_connection(session, workspace_id, connection_id)
            session.add(
                QuotaSampleRow(
                    workspace_id=workspace_id,
                    connection_id=connection_id,
                    name=usage.name,
                    used=usage.used,
                    quota_limit=usage.limit,
                    window=UsageWindow(usage.window).value,
                    resets_at=utc(usage.resets_at) if usage.resets_at else None,
                    at=utc(at),
                )
            )

    def quota_samples(
        self, workspace_id: str, connection_id: str, name: str, since: datetime
    ) -> list[tuple[datetime, int, int]]:
        """(at, used, limit) of one limit since `since`, oldest first."""
        with self._session("read the quota usage") as session:
            self._require_connection(session, workspace_id, connection_id)
            rows = session.exec(
                select(QuotaSampleRow.at, QuotaSampleRow.used, QuotaSampleRow.quota_limit)
                .where(
                    QuotaSampleRow.workspace_id == workspace_id,
                    QuotaSampleRow.connection_id == connection_id,
                    QuotaSampleRow.name == name,
                    col(QuotaSampleRow.at) >= utc(since),
                )
                .order_by(col(QuotaSampleRow.at), col(QuotaSampleRow.pk))
            ).all()
            return [(at, used, limit) for at, used, limit in rows]


def _refuse_repeats(what: str, values: Sequence[str]) -> None:
    repeated = sorted(value for value, count in Counter(values).items() if count > 1)
    if repeated:
        raise AlreadyExists(f"each {what} must be unique; repeated: {', '.join(repeated)}")
