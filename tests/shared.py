"""Where the team's shared material sits: `shared/` beside the repository (as CI lays it out too)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"
PROVIDER_APIS = SHARED / "docs" / "research" / "provider-apis.md"
