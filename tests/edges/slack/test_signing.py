"""The request signer these tests use, and slack_sdk's verifier, proven on Slack's documented signing vector."""

from __future__ import annotations

import json

from slack_sdk.signature import SignatureVerifier

from adapters.sandbox.slack_api import FakeSlack
from tests.shared import CONFORMANCE

SLACK = CONFORMANCE / "slack"
VECTOR = json.loads((SLACK / "signing_test_vector.json").read_text())
DERIVED = json.loads((SLACK / "signed_requests.derived.json").read_text())


class FixedClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_our_signer_reproduces_the_documented_signature() -> None:
    headers = FakeSlack.sign(VECTOR["signing_secret"], VECTOR["raw_body"].encode(), int(VECTOR["clock_for_this_vector"]))
    assert headers == {"X-Slack-Request-Timestamp": VECTOR["headers"]["X-Slack-Request-Timestamp"],
                       "X-Slack-Signature": VECTOR["expected_signature"]}


def test_our_signer_matches_every_derived_signature() -> None:
    for request in DERIVED["requests"]:
        body = (SLACK / request["body_file"]).read_bytes() if request["body_file"].endswith(".txt") \
            else request["body_exact"].encode()
        signed = FakeSlack.sign(DERIVED["signing_secret"], body, int(request["X-Slack-Request-Timestamp"]))
        assert signed["X-Slack-Signature"] == request["X-Slack-Signature"], request["body_file"]


def test_the_verifier_bolt_uses_accepts_the_vector_and_refuses_its_negative_cases() -> None:
    secret, body, ts = VECTOR["signing_secret"], VECTOR["raw_body"], VECTOR["headers"]["X-Slack-Request-Timestamp"]
    at = int(VECTOR["clock_for_this_vector"])
    verifier = SignatureVerifier(secret, clock=FixedClock(at))
    signature = VECTOR["expected_signature"]

    assert verifier.is_valid(body, ts, signature)
    assert not verifier.is_valid(body + "------", ts, signature)  # body modified
    assert not SignatureVerifier(secret, clock=FixedClock(at + 301)).is_valid(body, ts, signature)  # replay
    assert SignatureVerifier(secret, clock=FixedClock(at + 299)).is_valid(body, ts, signature)
    assert not verifier.is_valid(body, ts, "")  # missing signature
    # A missing or non-numeric timestamp makes slack_sdk raise, not refuse: our edge refuses those
    # itself before bolt sees them (test_app.py sends them over HTTP).
