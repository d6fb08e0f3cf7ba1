"""The core speaks no platform: no adapter, chat SDK, HTTP library or vendor URL in chatops/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import adapters
import chatops

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IMPORTS = ("adapters", "slack_bolt", "slack_sdk", "botbuilder", "httpx", "aiohttp", "authlib")
VENDOR_HOSTS = re.compile(r"googleapis\.com|microsoftonline\.com|graph\.microsoft\.com|salesforce\.com|"
                          r"hubapi\.com|dynamics\.com|slack\.com|botframework\.com")


def _core_files() -> list[Path]:
    return sorted((ROOT / "chatops").rglob("*.py"))


def test_the_core_imports_no_adapter_or_platform_library() -> None:
    offenders = []
    for path in _core_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name.split(".")[0] in FORBIDDEN_IMPORTS]
    assert offenders == []


def test_the_core_names_no_vendor_host() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _core_files() if VENDOR_HOSTS.search(p.read_text("utf-8"))]
    assert offenders == []


def test_the_packages_resolve_into_this_project() -> None:
    # `adapters` is a generic top-level name: make sure no other distribution's package shadows ours.
    assert Path(adapters.__file__).resolve().parent == ROOT / "adapters"
    assert Path(chatops.__file__).resolve().parent == ROOT / "chatops"


def test_every_module_has_a_one_line_docstring() -> None:
    missing = []
    for path in sorted([*(ROOT / "chatops").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]):
        if "migrations" in path.parts:
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not docstring:
            missing.append(str(path.relative_to(ROOT)))
    assert missing == []
