"""Sync-log classifier: corpus accuracy, the catalog contract, templates, timestamps, grouping, bad input."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatops.classify import (
    MAX_LINE,
    CatalogError,
    Classification,
    Classifier,
    Signature,
    classify_stream,
    default_classifier,
    group,
    load_catalog,
    mask,
    parse_timestamp,
    required_literals,
    template,
)
from chatops.findings import Cause

CORPUS = Path(__file__).parents[1] / "fixtures" / "synclog" / "labelled.jsonl"
CATALOG = load_catalog()
ROWS = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def naive(masked: str) -> str | None:
    """The reference semantics: the first catalog entry, in order, whose regex matches the masked line."""
    for signature in CATALOG:
        if re.search(signature.pattern, masked, re.IGNORECASE):
            return signature.id
    return None


# --- the corpus -----------------------------------------------------------------------------------


def test_corpus_is_classified_at_least_90_percent_right(capsys: pytest.CaptureFixture[str]) -> None:
    classifier = Classifier()
    pairs = [(row["cause"], classifier.classify(row["line"]).cause.value) for row in ROWS]
    right = sum(want == got for want, got in pairs)
    with capsys.disabled():
        print(f"\n\nsync-log corpus: {right}/{len(pairs)} right ({right / len(pairs):.1%})")
        print(_confusion(pairs))
        for row, (want, got) in zip(ROWS, pairs, strict=True):
            if want != got:
                print(f"  want {want}, got {got}: {row['line'][:140]}")
    assert len(ROWS) >= 220
    assert right / len(pairs) >= 0.90


def _confusion(pairs: list[tuple[str, str]]) -> str:
    causes = [c.value for c in Cause]
    counts = Counter(pairs)
    short = {c: c[:6] for c in causes}
    lines = ["expected \\ got".ljust(22) + " ".join(short[c].rjust(6) for c in causes)]
    for want in causes:
        cells = " ".join(str(counts[(want, got)] or ".").rjust(6) for got in causes)
        lines.append(want.ljust(22) + cells)
    return "\n".join(lines)


def test_hard_cases_are_classified_at_least_90_percent_right() -> None:
    classifier = Classifier()
    hard = [row for row in ROWS if row["note"].startswith("hard")]
    right = sum(classifier.classify(row["line"]).cause.value == row["cause"] for row in hard)
    assert len(hard) >= 30
    assert right / len(hard) >= 0.90


def test_corpus_labels_are_causes_and_lines_are_unique() -> None:
    assert {row["cause"] for row in ROWS} <= {c.value for c in Cause}
    assert len({row["line"] for row in ROWS}) == len(ROWS)
    assert all(row["note"].strip() for row in ROWS)


@pytest.mark.parametrize("line", [
    '403 {"error":{"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}],"code":403}}',
    "GoogleJsonResponseException: 403 Forbidden {\"reason\" : \"userRateLimitExceeded\"}",
])
def test_a_403_that_says_rate_limit_exceeded_is_rate_limit(line: str) -> None:
    assert default_classifier().classify(line).cause is Cause.RATE_LIMIT


@pytest.mark.parametrize("line", [
    "401 invalid_client AADSTS700024: Client assertion is not within its valid time range.",
    "jwt.exceptions.ImmatureSignatureError: The token is not yet valid (nbf)",
    '{"error":"invalid_grant","error_description":"iat is in the future"}',
    "401 Unauthorized: allowed clock skew exceeded",
])
def test_a_401_from_clock_skew_is_credentials_with_a_clock_fix(line: str) -> None:
    result = default_classifier().classify(line)
    assert result.cause is Cause.CREDENTIALS
    assert "clock" in (result.explanation + result.fix).lower()


def test_every_clock_skew_entry_has_the_one_chosen_cause() -> None:
    skew = [s for s in CATALOG if "clock" in s.explanation.lower() and not s.id.startswith("tls-")]
    assert len(skew) >= 5
    assert {s.cause for s in skew} == {Cause.CREDENTIALS}


@pytest.mark.parametrize("line", [
    "ProxyError('Unable to connect to proxy', "
    "OSError('Tunnel connection failed: 407 Proxy Authentication Required'))",
    "proxy answered 407; ReadTimeoutError(\"HTTPSConnectionPool(host='proxy', port=8080): Read timed out.\")",
    "curl: (56) CONNECT tunnel failed, response 403",
])
def test_a_timeout_or_403_behind_the_proxy_is_network(line: str) -> None:
    assert default_classifier().classify(line).cause is Cause.NETWORK


# --- the catalog ----------------------------------------------------------------------------------


def test_the_packaged_catalog_is_large_and_its_ids_are_unique() -> None:
    ids = [s.id for s in CATALOG]
    assert len(ids) >= 120
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i) for i in ids)


def test_every_cause_is_produced_by_some_catalog_entry() -> None:
    assert {s.cause for s in CATALOG} == set(Cause)


def test_catalog_sentences_are_single_sentences() -> None:
    for s in CATALOG:
        assert s.explanation.endswith(".") and s.fix.endswith("."), s.id
        assert "\n" not in s.explanation + s.fix, s.id


def test_specific_entries_come_before_the_provider_neutral_fallbacks() -> None:
    order = {s.id: n for n, s in enumerate(CATALOG)}
    assert order["google-user-rate-limit"] < order["forbidden-generic"]
    assert order["proxy-407"] < order["socket-timeout"] < order["auth-failed-generic"]
    assert order["smtp-auth-disabled"] < order["smtp-535-573"] < order["smtp-535-generic"]
    assert order["aadsts-700024-clock-skew"] < order["aadsts-other"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signatures.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
- id: ok-entry
  pattern: 'ECONNREFUSED'
  cause: network
  provider: network
  explanation: The server refused the connection.
  fix: Check the port.
"""


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace("cause: network", "cause: weather"), "'ok-entry': field 'cause': unknown cause 'weather'"),
    (GOOD.replace("'ECONNREFUSED'", "'(unclosed'"), "'ok-entry': field 'pattern': not a valid regex"),
    (GOOD.replace("  fix: Check the port.\n", ""), "'ok-entry': field 'fix': missing"),
    (GOOD.replace("provider: network", "provider: myspace"),
     "'ok-entry': field 'provider': unknown provider"),
    (GOOD.replace("'ECONNREFUSED'", "'x?'"), "'ok-entry': field 'pattern': matches the empty string"),
    (GOOD.replace("explanation: The server refused the connection.", "explanation: ''"),
     "'ok-entry': field 'explanation': must be a non-empty string"),
    (GOOD + "  severity: high\n", "'ok-entry': field 'severity': unknown field"),
    (GOOD + GOOD, "'ok-entry': field 'id': duplicate id"),
    (GOOD.replace("- id: ok-entry\n  pattern", "- pattern"), "entry #1: field 'id': missing"),
    ("- just a string\n", "entry #1: expected a mapping"),
    ("id: not-a-list\n", "expected a non-empty list"),
    ("- [unclosed\n", "not valid YAML"),
])
def test_a_bad_catalog_entry_is_a_catalog_error_naming_entry_and_field(tmp_path: Path, text: str,
                                                                        message: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(_write(tmp_path, text))


def test_a_missing_catalog_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "nope.yaml")


def test_a_valid_custom_catalog_loads_into_signatures(tmp_path: Path) -> None:
    [signature] = load_catalog(_write(tmp_path, GOOD))
    assert signature == Signature("ok-entry", "ECONNREFUSED", Cause.NETWORK, "network",
                                  "The server refused the connection.", "Check the port.")


def test_the_first_matching_entry_in_catalog_order_wins() -> None:
    general = Signature("general", r"timed out", Cause.NETWORK, "network", "Timed out.", "Retry.")
    specific = Signature("specific", r"lock wait timed out", Cause.SCHEDULE_CONFLICT, "generic",
                         "Locked.", "Wait.")
    line = "ERROR db: lock wait timed out after 50 s"
    assert Classifier([specific, general]).classify(line).signature == "specific"
    assert Classifier([general, specific]).classify(line).signature == "general"


# --- the fast path agrees with the naive one ------------------------------------------------------


def test_the_fast_classifier_agrees_with_trying_every_pattern_in_order() -> None:
    classifier = Classifier()
    lines = [row["line"] for row in ROWS] + [f"{row['line']} retry {n}" for n, row in enumerate(ROWS)]
    for line in lines:
        masked = mask(line)
        result = classifier.classify(line)
        assert (result.signature if result.known else None) == naive(masked), line
        assert classifier.classify_masked(masked) == result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_match_of_a_pattern_contains_one_of_its_required_literals(data: st.DataObject) -> None:
    signature = data.draw(st.sampled_from(CATALOG))
    literals = required_literals(signature.pattern)
    assert literals, signature.id
    text = data.draw(st.from_regex(re.compile(signature.pattern, re.IGNORECASE)))
    found = re.search(signature.pattern, text, re.IGNORECASE)
    assert found is not None
    assert any(literal in found.group().lower() for literal in literals), (signature.id, found.group())


def test_required_literals_read_alternations_and_repeats() -> None:
    assert required_literals(r"invalid_grant.{0,200}Bad Request") == {"invalid_grant"}
    assert required_literals(r"ECONNREFUSED|Connection refused") == {"econnrefused", "connection refused"}
    assert required_literals(r"(?:token|jwt) is not yet valid") == {" is not yet valid"}
    assert required_literals(r"(?:abc|de)+x") == {"abc", "de"}
    assert required_literals(r"\d+|foo") is None


@pytest.mark.parametrize(("line", "cause"), [
    ("Connection refu\u017fed", Cause.NETWORK),  # long s
    ("proxy said Proxy Authent\u0131cation Required", Cause.NETWORK),  # dotless i
    ("deadloc\u212a detected", Cause.SCHEDULE_CONFLICT),  # Kelvin sign
    ("\u0130NVALID_GRANT from the token endpoint", Cause.CREDENTIALS),  # capital I with dot
])
def test_unicode_case_variants_that_ignorecase_matches_are_not_lost_by_the_prefilter(line: str,
                                                                                      cause: Cause) -> None:
    assert re.search(r"refused|authentication|deadlock|invalid_grant", line, re.IGNORECASE)
    assert default_classifier().classify(line).cause is cause


def test_the_fast_classifier_is_much_faster_than_trying_every_pattern() -> None:
    lines = [f"{row['line']} req={n:08x}" for n, row in enumerate(ROWS * 4)]
    compiled = [re.compile(s.pattern, re.IGNORECASE) for s in CATALOG]
    started = time.perf_counter()
    for line in lines[:300]:
        next((p for p in compiled if p.search(line)), None)
    naive_rate = 300 / (time.perf_counter() - started)
    classifier = Classifier()
    started = time.perf_counter()
    for line in lines:
        classifier.classify(line)
    fast_rate = len(lines) / (time.perf_counter() - started)
    assert fast_rate > 5 * naive_rate


# --- templates and masking ------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("2024-05-20T08:14:03.123Z INFO [sync.worker-7] req=9f1c2a3b4d5e6f70 synced 42 messages for ana@acme.com",
     "[sync.worker-<num>] req=<id> synced <num> messages for <email>"),
    ("2024-05-20 08:14:03,123 ERROR Trace ID: 0000aaaa-11bb-cccc-dd33-eeeeee333333 at 10.0.4.21:443",
     "Trace ID: <id> at <ip>"),
    ("May 20 08:14:03 host app[2231]: GET https://graph.microsoft.com/v1.0/me?x=1 -> 503",
     "host app[<num>]: GET <url> -> <num>"),
    ("[ERROR] mailbox 'Ana Ruiz' code 0x80072322 issued on 2024-01-19T17:26:59.8511467Z",
     "mailbox <str> code <id> issued on <ts>"),
    ("WARNING:root:   lots     of\tspace  ", "root: lots of space"),
    ("level=error msg=\"refresh failed\" user=\"ana\"", "msg=<str> user=<str>"),
    ("", ""),
])
def test_a_template_keeps_the_shape_and_drops_the_values(line: str, expected: str) -> None:
    assert template(line) == expected


def test_a_template_is_at_most_300_characters() -> None:
    assert len(template("word " * 1000)) == 300


def test_lines_that_differ_only_in_values_share_a_template() -> None:
    one = "2024-05-20T08:14:03Z WARN sync for bo@x.com took 812 ms (job 3a4b5c6d-2f0e-ec11-b6e6-000d3a5c1a2b)"
    two = "2024-05-21T11:00:59Z WARN sync for ana@x.io took 95 ms (job 9d4e1a2b-2f0e-ec11-b6e6-000d3a5c1a2b)"
    assert template(one) == template(two)


def test_masking_keeps_status_codes_and_provider_codes() -> None:
    masked = mask("2024-05-20 ERROR 535 5.7.8 AADSTS700082 0x80072322 port 993 after 1500 ms")
    assert masked == "535 5.7.8 AADSTS700082 0x80072322 port <num> after <num> ms"


def test_a_status_like_number_with_a_unit_is_a_quantity() -> None:
    masked = mask("synced 404 messages in 403 ms, 500 KB, 429 %")
    assert masked == "synced <num> messages in <num> ms, <num> KB, <num> %"
    assert not default_classifier().classify("INFO synced 404 messages in 403 ms").known
    assert default_classifier().classify("GET /me -> 403 in 12 ms").cause is Cause.CREDENTIALS


def test_masked_urls_keep_host_and_word_path_segments() -> None:
    masked = mask("GET https://www.googleapis.com/calendar/v3/calendars/ana%40acme.com/events?alt=json 404")
    assert masked == "GET <url:https://www.googleapis.com/calendar/v3/calendars/*/events> 404"


# --- timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("2024-05-20T08:14:03Z ERROR x", datetime(2024, 5, 20, 8, 14, 3, tzinfo=UTC)),
    ("2024-05-20T08:14:03.123+02:00 x", datetime(2024, 5, 20, 6, 14, 3, 123000, tzinfo=UTC)),
    ("2024-05-20 08:14:03,412 WARNING x", datetime(2024, 5, 20, 8, 14, 3, 412000, tzinfo=UTC)),
    ("[2024-05-20 08:14:03] production.ERROR: x", datetime(2024, 5, 20, 8, 14, 3, tzinfo=UTC)),
    ("<11>1 2024-05-20T08:14:03.5Z host app - - x", datetime(2024, 5, 20, 8, 14, 3, 500000, tzinfo=UTC)),
    ("ERROR 2024-05-20 08:14:03,001 [main] x", datetime(2024, 5, 20, 8, 14, 3, 1000, tzinfo=UTC)),
    ("[20/May/2024:10:14:03 +0200] GET /", datetime(2024, 5, 20, 8, 14, 3, tzinfo=UTC)),
    ("1716192843.25 worker x", datetime(2024, 5, 20, 8, 14, 3, 250000, tzinfo=UTC)),
    ("2024-05-20 x", datetime(2024, 5, 20, tzinfo=UTC)),
])
def test_a_leading_timestamp_is_read_as_utc(line: str, expected: datetime) -> None:
    assert parse_timestamp(line) == expected


def test_a_syslog_timestamp_gets_a_year_in_the_past() -> None:
    stamp = parse_timestamp("May 20 08:14:03 host crm-sync[1]: x")
    assert stamp is not None and stamp.tzinfo is UTC
    assert (stamp.month, stamp.day, stamp.hour, stamp.minute) == (5, 20, 8, 14)
    assert stamp <= datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize("line", ["", "no time", "2024-13-45 10:00:00 x", "Foo 20 08:14:03 x", "ERROR x"])
def test_a_line_without_a_valid_leading_timestamp_has_none(line: str) -> None:
    assert parse_timestamp(line) is None


# --- grouping -------------------------------------------------------------------------------------

T0 = datetime(2024, 5, 20, 8, 0, tzinfo=UTC)


def test_known_lines_group_by_signature_with_count_first_last_and_connections() -> None:
    lines = [
        ("AADSTS700082: The refresh token has expired due to inactivity.", T0 + timedelta(hours=2), "c1"),
        ("Error: connect ECONNREFUSED 10.0.0.5:443", T0, "c2"),
        ("AADSTS700082: The refresh token has expired due to inactivity (again).", T0, "c2"),
        ("AADSTS700082: The refresh token has expired due to inactivity.", T0 + timedelta(hours=1), "c1"),
    ]
    [first, second] = group(lines, default_classifier())
    assert (first.signature, first.count, first.cause) == ("aadsts-700082", 3, Cause.CREDENTIALS)
    assert (first.first_seen, first.last_seen) == (T0, T0 + timedelta(hours=2))
    assert first.connections == {"c1", "c2"}
    assert first.example.startswith("AADSTS700082")
    assert (second.signature, second.count, second.connections) == ("socket-refused", 1, {"c2"})


def test_unknown_lines_group_by_template_and_read_their_own_timestamps() -> None:
    lines = [
        ("2024-05-20T08:00:00Z INFO synced 42 messages for ana@acme.com", None, "c1"),
        ("2024-05-20T09:30:00Z INFO synced 7 messages for bob@acme.com", None, "c1"),
        ("no timestamp: something odd", None, ""),
    ]
    [synced, odd] = group(lines, default_classifier())
    assert synced.signature == "synced <num> messages for <email>"
    assert (synced.count, synced.cause) == (2, Cause.OTHER)
    assert (synced.first_seen, synced.last_seen) == (T0, T0 + timedelta(minutes=90))
    assert synced.provider == "unknown"
    assert (odd.count, odd.first_seen, odd.last_seen, odd.connections) == (1, None, None, set())


def test_naive_and_offset_timestamps_compare_as_utc() -> None:
    lines = [("Connection refused", datetime(2024, 5, 20, 8, 0), "c"),
             ("Connection refused", datetime(2024, 5, 20, 10, 30, tzinfo=timezone(timedelta(hours=2))), "c")]
    [pattern] = group(lines, default_classifier())
    assert (pattern.first_seen, pattern.last_seen) == (T0, T0 + timedelta(minutes=30))


def test_patterns_are_sorted_by_count_descending() -> None:
    lines = [("Connection refused", None, "c")] + [("Broken pipe", None, "c")] * 3 + [("odd", None, "c")] * 2
    assert [p.count for p in group(lines, default_classifier())] == [3, 2, 1]


def test_group_of_nothing_is_empty() -> None:
    assert group([], default_classifier()) == []


# --- streaming ------------------------------------------------------------------------------------


def test_classify_stream_numbers_lines_from_one_and_strips_newlines() -> None:
    out = list(classify_stream(["Connection refused\r\n", "odd line\n", "last"], default_classifier()))
    assert [(n, line) for n, line, _ in out] == [(1, "Connection refused"), (2, "odd line"), (3, "last")]
    assert out[0][2].cause is Cause.NETWORK and not out[1][2].known


def test_classify_stream_is_lazy() -> None:
    endless = itertools.cycle(["Broken pipe\n", "INFO all good\n"])
    first = list(itertools.islice(classify_stream(endless, default_classifier()), 5))
    assert [n for n, _, _ in first] == [1, 2, 3, 4, 5]


# --- bad input ------------------------------------------------------------------------------------


def _unknown(result: Classification) -> bool:
    return (result.cause, result.known, result.provider) == (Cause.OTHER, False, "unknown")


def test_an_empty_or_blank_line_is_unknown() -> None:
    for line in ("", "   ", "\n", "\t\r\n"):
        result = default_classifier().classify(line)
        assert _unknown(result)
        assert result.explanation == "No known signature matches this line."
        assert result.fix == "Send this line to support so the catalog can learn it."


def test_binary_garbage_decoded_with_replacement_is_unknown() -> None:
    garbage = bytes(range(256)).decode("utf-8", errors="replace") * 3
    assert _unknown(default_classifier().classify(garbage))
    assert _unknown(default_classifier().classify("\x00\x01\x02\ud800\udfff"))


def test_invalid_utf8_around_an_error_still_finds_the_error() -> None:
    raw = b"\xff\xfe ERROR \xc3(: getaddrinfo ENOTFOUND api.hubapi.com \x80\x81"
    assert default_classifier().classify(raw.decode("utf-8", errors="replace")).cause is Cause.NETWORK


def test_a_1mb_line_is_cut_to_8kb_and_stays_fast() -> None:
    classifier = Classifier()
    huge = "calendar " * 120_000 + "ECONNREFUSED"
    started = time.perf_counter()
    result = classifier.classify(huge)
    assert time.perf_counter() - started < 1.0
    assert _unknown(result)  # the error is beyond the first 8 KB
    assert len(result.signature) <= 300
    assert classifier.classify("ECONNREFUSED " + "x" * 1_000_000).cause is Cause.NETWORK
    assert len(mask("y" * 1_000_000)) == MAX_LINE


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=3000))
def test_classify_never_raises_and_returns_a_valid_cause(line: str) -> None:
    result = default_classifier().classify(line)
    assert isinstance(result.cause, Cause)
    if result.known:
        assert result.signature in {s.id for s in CATALOG}
    else:
        assert result.signature == template(line)
    assert len(result.signature) <= 300


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([row["line"] for row in ROWS]), max_size=5), st.text(max_size=40))
def test_noise_around_known_lines_never_breaks_classification(lines: list[str], noise: str) -> None:
    line = noise.join(lines)
    result = default_classifier().classify(line)
    assert (result.signature if result.known else None) == naive(mask(line))


def test_default_classifier_is_built_once() -> None:
    assert default_classifier() is default_classifier()
