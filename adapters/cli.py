"""The `chatops` command line: demo, diagnose, connections, simulator, keys. Exit 0 healthy, 1 problems, 2 errors."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:  # heavy imports (asyncio too) stay inside the commands, so `chatops --help` starts fast
    from rich.console import Console

    from adapters.wiring import Services
    from chatops.model import Connection
    from chatops.report import Report

T = TypeVar("T")

app = typer.Typer(help="chatops: find out why CRM email and calendar sync broke, and how to fix it.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
connections_app = typer.Typer(help="List, add, import and remove connections.", no_args_is_help=True)
logs_app = typer.Typer(help="Feed sync-engine logs to chatops.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage the keys that encrypt stored grants.", no_args_is_help=True)
app.add_typer(connections_app, name="connections")
app.add_typer(keys_app, name="keys")
app.add_typer(logs_app, name="logs")
manifest_app = typer.Typer(help="Print chat app manifests with your public URL filled in.", no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")

DEFAULT_WORKSPACE = "local"
WorkspaceOption = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id the command acts in.")]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    _console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def _logging() -> None:
    import logging

    from adapters.logs import configure

    configure(logging.WARNING)


@contextmanager
def _errors() -> Iterator[None]:
    """ChatopsError (config, store, not found, import) -> one line on stderr and exit code 2."""
    from chatops.errors import ChatopsError

    try:
        yield
    except ChatopsError as exc:
        raise _fail(str(exc)) from None


def _run(make: Callable[[Services], Awaitable[T]], overrides: dict[str, str] | None = None) -> T:
    import asyncio

    from adapters.wiring import Config, build

    _logging()
    with _errors():
        services = build(Config.load(overrides))
        if services.key_created is not None:
            _console(stderr=True).print(
                f"Created an encryption key for stored grants in {services.key_created} (mode 0600). "
                "Back it up, or set CHATOPS_ENCRYPTION_KEYS.")

        async def main() -> T:
            try:
                return await make(services)
            finally:
                await services.close()

        return asyncio.run(main())


def _finish(report: Report, as_json: bool) -> None:
    from adapters.console import print_report

    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        print_report(_console(), report)
    raise typer.Exit(0 if report.healthy else 1)


async def _diagnose(services: Services, workspace: str, connections: list[Connection], as_json: bool,
                    checks: list[str] | None) -> Report:
    from rich.progress import Progress

    total = len(connections) * len(checks or services.core.runner.checks)
    show = not as_json and len(connections) > 3 and sys.stderr.isatty()
    with Progress(console=_console(stderr=True), transient=True, disable=not show) as progress:
        task = progress.add_task("Diagnosing", total=total)
        seen: set[tuple[str, str]] = set()

        def advance(finding) -> None:  # type: ignore[no-untyped-def]
            if (finding.connection_id, finding.check) not in seen:
                seen.add((finding.connection_id, finding.check))
                progress.advance(task)

        return await services.core.diagnose(workspace, connections, only=checks, on_finding=advance)


@app.command()
def diagnose(
    connection: Annotated[list[str] | None, typer.Option("--connection", "-c", help="Connection id or name.")] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Every connection of this email.")] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Every connection of the workspace.")] = False,
    check: Annotated[list[str] | None, typer.Option("--check", help="Run only this check (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per finding.")] = False,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Diagnose connections and show what is wrong, the evidence and the fix."""
    if sum(bool(x) for x in (connection, user, all_)) != 1:
        raise _fail("choose what to diagnose: --connection ID, --user EMAIL or --all")

    async def run(services: Services) -> Report:
        import asyncio

        from chatops.checks import CHECKS
        from chatops.errors import NotFound

        unknown = sorted(set(check or ()) - set(CHECKS))
        if unknown:
            raise NotFound(f"unknown check {', '.join(unknown)}; known checks: {', '.join(CHECKS)}")
        store = services.store
        if all_:
            targets = await asyncio.to_thread(store.list_connections, workspace)
        elif user:
            targets = await asyncio.to_thread(store.connections_for, workspace, user)
            if not targets:
                raise NotFound(f"no connection of {user} in workspace {workspace}")
        else:
            targets = [await asyncio.to_thread(store.get_connection, workspace, key) for key in connection or ()]
        if not targets:
            raise NotFound(f"workspace {workspace} has no connections; add some with `chatops connections import`")
        return await _diagnose(services, workspace, targets, as_json, check)

    _finish(_run(run), as_json)


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Diagnose every demo connection, print, exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --once: JSON findings.")] = False,
    port: Annotated[int, typer.Option(help="Port of the sandbox page and the bot (0: any free port).")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL, don't open it.")] = False,
    first_digest: Annotated[float, typer.Option(
        "--first-digest", min=0, help="Post #general's first digest this many seconds after start (0: don't).")
    ] = 20.0,
) -> None:
    """Open the offline sandbox: a Slack channel and a Teams chat in the browser, against the demo organisation.

    It runs the provider simulator (`demo` scenario), the bot on a fresh database and the workspace emulator
    at one URL; Ctrl-C stops them. With --once: diagnose every demo connection in the terminal and exit.
    """
    import tempfile

    from adapters.sandbox.simulator import start_simulator

    _logging()
    if not once:
        from adapters.sandbox.demo_server import run

        with _errors():
            run(host=host, port=port, open_browser=not no_browser, first_digest_s=first_digest,
                say=lambda line: _console().print(line, soft_wrap=True, markup=False))
        return
    import asyncio

    with _errors(), tempfile.TemporaryDirectory(prefix="chatops-demo-") as data_dir:

        async def main() -> Report:
            from adapters.sandbox.demo import install_async
            from adapters.wiring import Config, build
            from chatops.model import Workspace

            simulator = await start_simulator("demo")
            try:
                overrides = {**simulator.settings_env(), "CHATOPS_DATA_DIR": data_dir,
                             "CHATOPS_DATABASE_URL": f"sqlite:///{Path(data_dir) / 'demo.db'}",
                             "CHATOPS_ENCRYPTION_KEYS": ""}
                services = build(Config.load(overrides))
                try:
                    scenario = simulator.scenario
                    workspace = Workspace(DEFAULT_WORKSPACE, scenario.organisation.name)
                    connections = await install_async(services.store, simulator, workspace)
                    if not as_json:
                        _console().print(f"[bold]Demo:[/] {scenario.description}\n"
                                         f"Provider simulator at {simulator.base_url}; "
                                         f"{len(connections)} connections.\n")
                    return await _diagnose(services, DEFAULT_WORKSPACE, connections, as_json, None)
                finally:
                    await services.close()
            finally:
                await simulator.stop()

        report = asyncio.run(main())
    _finish(report, as_json)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    socket: Annotated[bool, typer.Option("--socket", help="Slack over Socket Mode (SLACK_APP_TOKEN): "
                                                          "no public URL needed.")] = False,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Don't run scheduled digests and alerts "
                                                                      "here (run `chatops scheduler`).")] = False,
) -> None:
    """Run the web server: health and readiness endpoints, the chat platforms configured, and the scheduler."""
    import logging

    from aiohttp import web

    from adapters.logs import configure
    from adapters.web import build_app
    from adapters.wiring import Config, build

    configure(logging.INFO)
    with _errors():
        services = build(Config.load())
        if socket:
            from adapters.slack import SOCKET_MODE

            services.extras[SOCKET_MODE] = True
        web_app = build_app(services)
        if not no_scheduler:  # one leader among the replicas runs the jobs (a PostgreSQL advisory lock)
            from adapters import scheduler as scheduling

            scheduling.mount(web_app, services)
        web.run_app(web_app, host=host, port=port, print=lambda line: _console().print(line))


@app.command()
def scheduler() -> None:
    """Run only the scheduler: weekly digests and the alert sweep (one leader among all processes)."""
    import asyncio
    import logging

    from adapters import scheduler as scheduling
    from adapters.logs import configure
    from adapters.wiring import Config, build

    configure(logging.INFO)
    with _errors():
        services = build(Config.load())

        async def main() -> None:
            try:
                await scheduling.run_forever(services)
            finally:
                await services.close()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())


@app.command()
def audit(
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    post: Annotated[bool, typer.Option("--post", help="Post it to the workspace's subscribed channels.")] = False,
) -> None:
    """Run the digest now: audit every connection and print it (with --post: post it where subscribed)."""

    async def run(services: Services) -> int:
        if not post:
            from adapters.console import print_card

            reply = await services.core.audits.preview(workspace)
            if reply.card is not None:
                print_card(_console(), reply.card)
            return 0
        from adapters.scheduler import attach_sinks
        from chatops.audits.delivery import Outcome

        attach_sinks(services)
        outcomes = await services.core.audits.post_now(workspace)
        if not outcomes:
            _console(stderr=True).print(f"Workspace {workspace} has no subscriptions: nothing was posted. "
                                        "Subscribe a channel with /syncstatus subscribe.")
            return 1
        for subscription, outcome in outcomes.items():
            _console().print(f"{subscription}: {outcome.value}")
        return 0 if all(o is Outcome.SENT for o in outcomes.values()) else 1

    raise typer.Exit(_run(run))


@app.command()
def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8900,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    scenario: Annotated[str, typer.Option(help="Built-in scenario name or a scenario file.")] = "demo",
) -> None:
    """Run the provider simulator until stopped, and print the settings that point chatops at it."""
    import asyncio

    from adapters.sandbox.scenario import load_scenario
    from adapters.sandbox.simulator import start_simulator

    with _errors():
        loaded = load_scenario(scenario)

        async def main() -> None:
            running = await start_simulator(loaded, host=host, port=port)
            console = _console()
            console.print(f"Provider simulator ({loaded.name}) listening on {running.base_url}")
            console.print("Point chatops at it with:")
            for key, value in running.settings_env().items():
                console.print(f"  export {key}={value}")
            try:
                await asyncio.Event().wait()
            finally:
                await running.stop()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())


@connections_app.command("list")
def connections_list(workspace: WorkspaceOption = DEFAULT_WORKSPACE,
                     as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the connections of a workspace (tokens are never shown)."""
    from adapters.console import print_connections
    from chatops.imports import connections_to_records

    async def run(services: Services) -> list[Connection]:
        import asyncio

        return await asyncio.to_thread(services.store.list_connections, workspace)

    found = _run(run)
    if as_json:
        sys.stdout.write(json.dumps(connections_to_records(found), indent=2) + "\n")
    else:
        print_connections(_console(), found)


@connections_app.command("import")
def connections_import(file: Annotated[Path, typer.Argument(help="YAML or JSON file of connections.")],
                       workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """Import connections from a file; one bad record imports nothing."""
    from chatops.imports import read_connections
    from chatops.model import Workspace

    with _errors():
        records = read_connections(file, workspace)

    async def run(services: Services) -> list[Connection]:
        import asyncio

        await asyncio.to_thread(services.store.ensure_workspace, Workspace(workspace, workspace))
        return await asyncio.to_thread(services.store.import_connections, workspace, records)

    stored = _run(run)
    _console().print(f"Imported {len(stored)} connections into workspace {workspace}: "
                     + ", ".join(c.name for c in stored))


@connections_app.command("add")
def connections_add(
    name: Annotated[str, typer.Option(help="A short unique name, e.g. ana-salesforce-gmail.")],
    crm: Annotated[str, typer.Option(help="salesforce, hubspot or dynamics.")],
    crm_user: Annotated[str, typer.Option(help="The CRM user's email.")],
    mailbox_provider: Annotated[str, typer.Option(help="google, microsoft or imap.")],
    mailbox: Annotated[str, typer.Option(help="The mailbox address.")],
    calendar: Annotated[str | None, typer.Option(help="google or microsoft.")] = None,
    owner: Annotated[str | None, typer.Option(help="The chat member who owns it (default: the CRM user).")] = None,
    mail_host: Annotated[str, typer.Option(help="IMAP/SMTP host for imap mailboxes.")] = "",
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Add one connection (its grants are added by Reconnect or by import)."""
    import yaml

    from chatops.imports import parse_connections
    from chatops.model import Workspace

    record = {"name": name, "crm": crm, "crm_user_email": crm_user, "mailbox_provider": mailbox_provider,
              "mailbox_email": mailbox, "calendar_provider": calendar, "owner_email": owner or crm_user,
              "mail_host": mail_host}
    with _errors():
        [parsed] = parse_connections(yaml.safe_dump([record]), workspace, source="options")

    async def run(services: Services) -> object:
        import asyncio

        await asyncio.to_thread(services.store.ensure_workspace, Workspace(workspace, workspace))
        return await asyncio.to_thread(services.store.add_connection, workspace, parsed)

    stored = _run(run)
    _console().print(f"Added connection {stored.name} with id {stored.id}.")  # type: ignore[attr-defined]


@connections_app.command("remove")
def connections_remove(key: Annotated[str, typer.Argument(help="Connection id or name.")],
                       workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """Remove a connection and its grants."""

    async def run(services: Services) -> None:
        import asyncio

        await asyncio.to_thread(services.store.remove_connection, workspace, key)

    _run(run)
    _console().print(f"Removed connection {key}.")


def _lines(source: str) -> Iterator[str]:
    """Lines of a file or stdin ('-'), decoded leniently (binary junk becomes U+FFFD), one at a time."""
    import io

    if source == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
        yield from stream
        return
    try:
        with open(source, encoding="utf-8", errors="replace", newline="") as handle:
            yield from handle
    except OSError as exc:
        raise _fail(f"{source}: cannot be read ({exc.strerror or exc})") from None


@app.command()
def classify(
    source: Annotated[str, typer.Argument(help="A log file, or - for standard input.")] = "-",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input line.")] = False,
) -> None:
    """Classify sync-engine log lines into causes, with the explanation and the fix."""
    from chatops.classify import classify_stream, default_classifier, group

    classifier = default_classifier()
    if as_json:
        write = sys.stdout.write
        for number, _line, result in classify_stream(_lines(source), classifier):
            write(json.dumps({"line": number, "cause": result.cause.value, "provider": result.provider,
                              "signature": result.signature, "explanation": result.explanation,
                              "fix": result.fix}, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    patterns = group(((line.rstrip("\r\n"), None, "") for line in _lines(source)), classifier)
    table = Table("count", "cause", "signature", "explanation", "fix", header_style="bold")
    for p in patterns:
        table.add_row(str(p.count), p.cause.value, p.signature[:80], p.explanation, p.fix)
    _console().print(table)


@logs_app.command("ingest")
def logs_ingest(
    file: Annotated[str, typer.Argument(help="A sync-engine log file, or - for standard input.")],
    connection: Annotated[str, typer.Option("--connection", "-c", help="Connection id or name.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Store log lines as sync events of a connection; `chatops diagnose` then reads them."""
    from chatops.classify import parse_timestamp
    from chatops.model import SyncEvent

    async def run(services: Services) -> int:
        import asyncio

        target = await asyncio.to_thread(services.store.get_connection, workspace, connection)
        events = (SyncEvent(target.id, line.rstrip("\r\n")[:8192], parse_timestamp(line))
                  for line in _lines(file) if line.strip())
        return await asyncio.to_thread(services.store.add_events, workspace, target.id, events)

    count = _run(run)
    _console().print(f"Stored {count} log lines for connection {connection}.")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored grant with the current (first) key of CHATOPS_ENCRYPTION_KEYS."""

    async def run(services: Services) -> int:
        import asyncio

        return await asyncio.to_thread(services.store.rotate_keys)

    count = _run(run)
    _console().print(f"Re-encrypted {count} grants with the current key.")


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new key to put first in CHATOPS_ENCRYPTION_KEYS."""
    from chatops.store.crypto import GrantCipher

    sys.stdout.write(GrantCipher.generate_key() + "\n")


@manifest_app.command("slack")
def manifest_slack(
    url: Annotated[str, typer.Option("--url", help="The public https URL chatops serve is reached at.")],
    socket: Annotated[bool, typer.Option("--socket", help="Socket Mode instead of request URLs.")] = False,
) -> None:
    """Print the Slack app manifest (manifest/slack.yaml) for https://api.slack.com/apps -> From a manifest."""
    from adapters.slack import manifest

    with _errors():
        sys.stdout.write(manifest(url, socket_mode=socket))


@manifest_app.command("teams")
def manifest_teams(
    app_id: Annotated[str, typer.Option("--app-id", help="The bot's Microsoft App ID (Azure Bot registration).")],
    url: Annotated[str, typer.Option("--url", help="The public https URL chatops serve is reached at.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the app package.")] = Path("app.zip"),
) -> None:
    """Build the Teams app package (manifest/teams/) to upload in Teams -> Apps -> Upload a custom app."""
    from adapters.teams import package

    with _errors():
        written = package(app_id, url, out)
    _console().print(f"Wrote {written}: upload it in Teams (Apps -> Manage your apps -> Upload an app).")


def main() -> None:  # pragma: no cover - console script entry for `python -m adapters.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
