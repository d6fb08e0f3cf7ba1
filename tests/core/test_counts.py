"""ConnectionCounts: what the /syncstatus placeholder announces, kept a while per workspace and member."""

from __future__ import annotations

from chatops.counts import ConnectionCounts


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_count_is_kept_for_its_time_per_workspace_and_member_whatever_the_case_of_the_email() -> None:
    clock = Clock()
    counts = ConnectionCounts(ttl_s=60, clock=clock)
    counts.note("slack:T1", 2, "Ana@Acme.example")
    counts.note("slack:T1", 7)

    assert counts.get("slack:T1", "ana@acme.example ") == 2
    assert counts.get("slack:T1") == 7
    assert counts.get("slack:T2", "ana@acme.example") is None
    assert counts.get("slack:T1", "bob@acme.example") is None

    clock.now += 59.9
    assert counts.get("slack:T1", "ana@acme.example") == 2
    clock.now += 0.1
    assert counts.get("slack:T1", "ana@acme.example") is None
    assert counts.get("slack:T1") is None


def test_forgetting_a_workspace_drops_only_its_counts() -> None:
    counts = ConnectionCounts()
    counts.note("slack:T1", 2, "ana@acme.example")
    counts.note("slack:T2", 3, "ana@acme.example")
    counts.forget("slack:T1")

    assert counts.get("slack:T1", "ana@acme.example") is None
    assert counts.get("slack:T2", "ana@acme.example") == 3
