"""Cold start: `chatops --help`, and `chatops serve` until GET /readyz answers, against their floors.

Floors: for `--help`, a one-command Typer app printing its help on the same Typer and Rich (what any
Typer CLI pays); for `serve`, a bare aiohttp app whose /readyz answers 200 as soon as it listens. Each
figure is the median wall time of several fresh processes, spawn to exit (help) or spawn to the first
200 from /readyz (serve; polled every 5 ms). `serve` runs with Slack configured (slack-bolt is loaded at
start), on an SQLite database migrated beforehand (a restart) and on a fresh one (first start, with the
migrations).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from bench.common import (
    BOT_TOKEN,
    PYTHON,
    ROOT,
    SIGNING_SECRET,
    Result,
    Row,
    child_env,
    free_port,
    median,
    ms,
    report,
    say,
    stop,
    wait_http,
)

CHATOPS: Final = str(Path(PYTHON).with_name("chatops"))
HELP_TARGET_S: Final = 0.300
# The floor of --help: what a one-command Typer app costs to print its help, on the same Typer and Rich.
TYPER_FLOOR: Final = """
import typer
app = typer.Typer(help="floor", no_args_is_help=True, add_completion=False)
@app.command()
def serve(port: int = 3000) -> None:
    \"\"\"Serve.\"\"\"
@app.command()
def other() -> None:
    \"\"\"Other.\"\"\"
app()
"""
# The floor of serve: a bare aiohttp app whose /readyz answers 200.
AIOHTTP_FLOOR: Final = """
import sys
from aiohttp import web
async def ready(request):
    return web.json_response({"status": "ok"})
app = web.Application()
app.router.add_get("/readyz", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def timed_run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv!r} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def serve_env(data_dir: Path, key: str) -> dict[str, str]:
    return child_env({
        "CHATOPS_DATA_DIR": str(data_dir), "CHATOPS_DATABASE_URL": f"sqlite:///{data_dir / 'chatops.db'}",
        "CHATOPS_ENCRYPTION_KEYS": key, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
        "CHATOPS_SLACK_API_URL": "http://127.0.0.1:9/api/",  # never called before the first command
    })


def time_to_ready(argv: list[str], env: dict[str, str], port: int, log: Path) -> float:
    with log.open("ab") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=sink, stderr=sink, cwd=ROOT)
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60, process=process)
            return time.perf_counter() - started
        finally:
            stop(process)


def run(quick: bool, repeat: int | None = None) -> Result:
    runs = repeat or (3 if quick else 9)
    env = child_env()
    result = Result("cold_start", quick)
    say(f"cold start: {runs} runs each")
    timed_run([CHATOPS, "--help"], env)  # page the files in once; every measured run is then alike
    help_times = [timed_run([CHATOPS, "--help"], env) for _ in range(runs)]
    floor_times = [timed_run([PYTHON, "-c", TYPER_FLOOR, "--help"], env) for _ in range(runs)]
    bare_times = [timed_run([PYTHON, "-c", "pass"], env) for _ in range(runs)]
    help_s, floor_s = median(help_times), median(floor_times)
    result.rows.append(Row("chatops --help", ms(help_s), "ms", ms(floor_s), "< 300 ms", help_s < HELP_TARGET_S,
                           note="floor: a one-command Typer app's --help"))

    from chatops.store.crypto import GrantCipher

    key = GrantCipher.generate_key()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as folder:
        data = Path(folder)
        log = data / "serve.log"
        # Migrate once, as a deployment that restarts has: `chatops connections list` opens the store.
        subprocess.run([CHATOPS, "connections", "list"], env=serve_env(data, key), cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        restart, first, bare = [], [], []
        for n in range(runs):
            port = free_port()
            restart.append(time_to_ready([CHATOPS, "serve", "--port", str(port)], serve_env(data, key), port, log))
            fresh = data / f"fresh-{n}"
            fresh.mkdir()
            port = free_port()
            first.append(time_to_ready([CHATOPS, "serve", "--port", str(port)], serve_env(fresh, key), port, log))
            port = free_port()
            bare.append(time_to_ready([PYTHON, "-c", AIOHTTP_FLOOR, str(port)], env, port, log))
    bare_s = median(bare)
    result.rows.append(Row("chatops serve -> /readyz (restart)", ms(median(restart)), "ms", ms(bare_s),
                           note="floor: a bare aiohttp app answering /readyz; Slack configured"))
    result.rows.append(Row("chatops serve -> /readyz (first start)", ms(median(first)), "ms", ms(bare_s),
                           note="a fresh SQLite database: the migrations run first"))
    result.details = {
        "runs": runs,
        "help_s": help_times, "help_floor_s": floor_times, "python_startup_s": bare_times,
        "serve_restart_s": restart, "serve_first_start_s": first, "serve_floor_s": bare,
        "python_startup_ms": ms(median(bare_times)),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs each (CI smoke)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (default 9, quick 3)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeat)
    report(result, args.out)
    print(f"(python -c pass: {result.details['python_startup_ms']} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
