"""The connection import format (YAML or JSON): records -> Connection values, errors with line and field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from chatops.errors import ChatopsError
from chatops.model import (
    CALENDAR_PROVIDERS,
    CRM_PROVIDERS,
    MAIL_PROVIDERS,
    Connection,
    Grant,
    GrantRole,
    Keeper,
    Provider,
    Secret,
    SyncJob,
)
from chatops.schedules import InvalidSchedule

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_DEPTH = 32  # a connection record is 4 levels deep; far deeper is a hostile or broken file


class ImportFileError(ChatopsError):
    """A record of an import file is malformed; the message names the line and the field."""


@dataclass(frozen=True, slots=True)
class _Located:
    value: Any
    line: int  # 1-based


class _Loader(yaml.SafeLoader):
    """SafeLoader refusing deep nesting at once, not after Python's recursion limit (seconds later)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose(text: str, source: str) -> _Located:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ImportFileError(f"{source}{where}: not valid YAML or JSON ({getattr(exc, 'problem', exc)})") from exc
    except RecursionError:
        raise ImportFileError(f"{source}: nested too deeply to be an import file") from None
    if node is None:
        raise ImportFileError(f"{source}: the file is empty")
    # Without aliases every value costs at least a character of the file; aliases may repeat a value, but not
    # expand it a billion times ("billion laughs").
    return _to_located(node, source, [len(text) + 10_000])


def _to_located(node: yaml.Node, source: str, budget: list[int]) -> _Located:
    line = node.start_mark.line + 1
    budget[0] -= 1
    if budget[0] < 0:
        raise ImportFileError(f"{source} line {line}: its aliases expand to more values than the file could hold")
    if isinstance(node, yaml.MappingNode):
        return _Located({str(k.value): _to_located(v, source, budget) for k, v in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return _Located([_to_located(v, source, budget) for v in node.value], line)
    try:
        return _Located(yaml.SafeLoader("").construct_object(node), line)
    except Exception as exc:  # PyYAML's constructors raise anything on bad tagged scalars: !0, !!timestamp x
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ImportFileError(f"{source} line {line}: cannot read this value ({problem})") from None


class _Record:
    """One mapping of the file, with the path used in error messages."""

    def __init__(self, located: _Located, path: str, source: str) -> None:
        if not isinstance(located.value, dict):
            raise ImportFileError(f"{source} line {located.line}: {path} must be a mapping")
        self._fields: dict[str, _Located] = located.value
        self.line = located.line
        self.path = path
        self.source = source

    def error(self, name: str, problem: str) -> ImportFileError:
        line = self._fields[name].line if name in self._fields else self.line
        return ImportFileError(f"{self.source} line {line}: {self.path}.{name}: {problem}")

    def raw(self, name: str) -> _Located | None:
        return self._fields.get(name)

    def text(self, name: str, *, required: bool = True, default: str = "") -> str:
        item = self._fields.get(name)
        if item is None or item.value is None or item.value == "":
            if required:
                raise self.error(name, "is required")
            return default
        if not isinstance(item.value, str | int | float):
            raise self.error(name, "must be text")
        return str(item.value)

    def email(self, name: str, *, required: bool = True) -> str:
        value = self.text(name, required=required).strip()
        if value and ("@" not in value or value.startswith("@") or value.endswith("@") or " " in value):
            raise self.error(name, f"{value!r} is not an email address")
        return value

    def provider(self, name: str, allowed: frozenset[Provider], *, required: bool = True) -> Provider | None:
        value = self.text(name, required=required)
        if not value:
            return None
        try:
            provider = Provider(value.lower())
        except ValueError:
            raise self.error(name, f"unknown provider {value!r}; use one of "
                                   f"{', '.join(sorted(p.value for p in allowed))}") from None
        if provider not in allowed:
            raise self.error(name, f"{value!r} cannot be used here; use one of "
                                   f"{', '.join(sorted(p.value for p in allowed))}")
        return provider

    def integer(self, name: str, default: int = 0, *, minimum: int = 0) -> int:
        item = self._fields.get(name)
        if item is None or item.value is None:
            return default
        if isinstance(item.value, bool) or not isinstance(item.value, int) or item.value < minimum:
            raise self.error(name, f"must be a whole number of at least {minimum}")
        return int(item.value)

    def number(self, name: str, default: float = 0.0) -> float:
        item = self._fields.get(name)
        if item is None or item.value is None:
            return default
        if isinstance(item.value, bool) or not isinstance(item.value, int | float) or item.value < 0:
            raise self.error(name, "must be a number of at least 0")
        return float(item.value)

    def records(self, name: str) -> Iterator[_Record]:
        item = self._fields.get(name)
        if item is None or item.value is None:
            return
        if not isinstance(item.value, list):
            raise self.error(name, "must be a list")
        for index, entry in enumerate(item.value):
            yield _Record(entry, f"{self.path}.{name}[{index}]", self.source)

    def strings(self, name: str) -> tuple[str, ...]:
        item = self._fields.get(name)
        if item is None or item.value is None:
            return ()
        if isinstance(item.value, str):
            return tuple(item.value.split())
        if not isinstance(item.value, list) or not all(isinstance(v.value, str) for v in item.value):
            raise self.error(name, "must be a list of text")
        return tuple(v.value for v in item.value)

    def when(self, name: str) -> datetime | None:
        item = self._fields.get(name)
        if item is None or item.value in (None, ""):
            return None
        value = item.value
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise self.error(name, f"{item.value!r} is not an ISO-8601 time") from None
        if not isinstance(value, datetime):
            raise self.error(name, "must be an ISO-8601 time")
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _job(record: _Record) -> SyncJob:
    interval = record.integer("interval_minutes", 0, minimum=1) or None
    cron = record.text("cron", required=False) or None
    if (interval is None) == (cron is None):
        raise record.error("interval_minutes", "give exactly one of interval_minutes or cron")
    try:
        return SyncJob(name=record.text("name"), tool=record.text("tool", required=False, default="sync"),
                       interval_minutes=interval, cron=cron, duration_minutes=record.number("duration_minutes"))
    except InvalidSchedule as exc:
        known = ("name", "tool", "interval_minutes", "duration_minutes")
        raise record.error(exc.field if exc.field in known else "cron", str(exc)) from None


def _grant(record: _Record) -> Grant:
    role_text = record.text("role")
    try:
        role = GrantRole(role_text)
    except ValueError:
        raise record.error("role", f"unknown role {role_text!r}; use mail, calendar or crm") from None
    keeper_text = record.text("keeper", required=False, default=Keeper.CHATOPS.value)
    try:
        keeper = Keeper(keeper_text)
    except ValueError:
        raise record.error("keeper", f"unknown keeper {keeper_text!r}; use chatops or crm") from None
    provider = record.provider("provider", frozenset(Provider) - {Provider.IMAP})
    assert provider is not None
    return Grant(
        id=record.text("id", required=False),
        provider=provider,
        role=role,
        account=record.text("account"),
        scopes=frozenset(record.strings("scopes")),
        access_token=Secret(record.text("access_token", required=False)),
        refresh_token=Secret(record.text("refresh_token", required=keeper is Keeper.CHATOPS)),
        expires_at=record.when("expires_at"),
        instance_url=record.text("instance_url", required=False),
        keeper=keeper,
    )


def connection_from_record(record: _Record, workspace_id: str) -> Connection:
    crm = record.provider("crm", CRM_PROVIDERS)
    mailbox_provider = record.provider("mailbox_provider", MAIL_PROVIDERS)
    assert crm is not None and mailbox_provider is not None
    calendar_provider = record.provider("calendar_provider", CALENDAR_PROVIDERS, required=False)
    mail_host = record.text("mail_host", required=False)
    if mailbox_provider is Provider.IMAP and not mail_host:
        raise record.error("mail_host", "is required for an imap mailbox")
    grants = tuple(_grant(g) for g in record.records("grants"))
    roles = [g.role for g in grants]
    if len(roles) != len(set(roles)):
        raise record.error("grants", "has two grants for the same role")
    return Connection(
        id=record.text("id", required=False),
        workspace_id=workspace_id,
        name=record.text("name"),
        owner_email=record.email("owner_email", required=False) or record.email("crm_user_email"),
        crm=crm,
        crm_user_email=record.email("crm_user_email"),
        mailbox_provider=mailbox_provider,
        mailbox_email=record.email("mailbox_email"),
        calendar_provider=calendar_provider,
        sync_account=record.email("sync_account", required=False),
        mail_host=mail_host,
        calls_per_sync=record.integer("calls_per_sync"),
        sync_jobs=tuple(_job(j) for j in record.records("sync_jobs")),
        grants=grants,
    )


def parse_connections(text: str, workspace_id: str, *, source: str = "<input>",
                      substitutions: Mapping[str, str] | None = None) -> list[Connection]:
    """Every connection of an import document: a list, or a mapping with a `connections` list."""
    if len(text) > MAX_IMPORT_BYTES:
        raise ImportFileError(f"{source}: the file is larger than {MAX_IMPORT_BYTES // 1024 // 1024} MB")
    for key, value in (substitutions or {}).items():
        text = text.replace("{" + key + "}", value)
    root = _compose(text, source)
    items = root.value
    if isinstance(items, dict):
        if "connections" not in items:
            raise ImportFileError(f"{source} line {root.line}: expected a list of connections or a "
                               "`connections:` list")
        items = items["connections"].value
    if not isinstance(items, list):
        raise ImportFileError(f"{source} line {root.line}: `connections` must be a list")
    connections = [connection_from_record(_Record(item, f"connections[{i}]", source), workspace_id)
                   for i, item in enumerate(items)]
    names = [c.name for c in connections]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ImportFileError(f"{source}: connection names must be unique; repeated: {', '.join(duplicates)}")
    return connections


def connections_from_records(records: Sequence[Mapping[str, Any]], workspace_id: str, *,
                             source: str = "<records>") -> list[Connection]:
    """The same validation for records already in memory (a scenario bound to a running simulator)."""
    return parse_connections(yaml.safe_dump({"connections": [dict(r) for r in records]}, sort_keys=False),
                             workspace_id, source=source)


def read_connections(path: Path, workspace_id: str, **kw: Any) -> list[Connection]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc})") from exc
    return parse_connections(text, workspace_id, source=str(path), **kw)


def connections_to_records(connections: Sequence[Connection]) -> list[dict[str, Any]]:
    """The import format without tokens (for export and display)."""
    return [
        {
            "id": c.id, "name": c.name, "owner_email": c.owner_email, "crm": c.crm.value,
            "crm_user_email": c.crm_user_email, "mailbox_provider": c.mailbox_provider.value,
            "mailbox_email": c.mailbox_email,
            "calendar_provider": c.calendar_provider.value if c.calendar_provider else None,
            "grants": [{"role": g.role.value, "provider": g.provider.value, "account": g.account}
                       for g in c.grants],
        }
        for c in connections
    ]
