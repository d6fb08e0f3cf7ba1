"""Every check chatops runs, in the order cards show them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from chatops.checks import calendar, credentials, identity, network, quota, schedule, synclog, testsync
from chatops.checks.base import CheckSpec

CHECKS: Final[Mapping[str, CheckSpec]] = MappingProxyType({
    spec.name: spec
    for spec in (
        credentials.CHECK,
        network.CHECK,
        quota.CHECK,
        identity.CHECK,
        schedule.CHECK,
        calendar.CHECK,
        synclog.CHECK,
        testsync.CHECK,
    )
})
