"""Sync-log classifier benchmark: our Classifier against trying every catalog regex in turn, on one core."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from chatops.classify import Classifier, classify_stream, load_catalog

RESULTS: Final = Path(__file__).parent / "results" / "classify.json"
QUICK_LINES: Final = 100_000
FULL_LINES: Final = 1_000_000
# The naive baseline manages a few hundred lines/s on this machine: 1M lines would take most of an hour per run.
BASELINE_LINES: Final = 20_000
ERROR_SHARE: Final = 0.35  # the rest is the info noise a sync engine prints between errors
ODD_SHARE: Final = 0.03  # lines with free text, so some shapes never repeat (cache misses)
START: Final = datetime(2024, 5, 20, 6, 0, tzinfo=UTC)

# Error lines as the sync engines print them; {…} fields get fresh values on every line.
ERRORS: Final = (
    ("{iso} ERROR crm_sync.google.auth: google.auth.exceptions.RefreshError: ('invalid_grant: Token has "
     "been expired or revoked.', {{'error': 'invalid_grant', 'error_description': 'Token has been "
     "expired or revoked.'}})"),
    ("{iso} ERROR gmail history.list failed for {email}: 403 Forbidden "
     "{{\"error\":{{\"errors\":[{{\"domain\":\"usageLimits\",\"reason\":\"userRateLimitExceeded\",\"mess"
     "age\":\"User Rate Limit Exceeded\"}}],\"code\":403}}}}"),
    ("{py} WARNING googleapiclient.http: Encountered 429 Too Many Requests for user {hex}: {{\"error\": "
     "{{\"code\": 429, \"message\": \"Too many concurrent requests for user\", \"status\": "
     "\"RESOURCE_EXHAUSTED\"}}}}"),
    ("{py} ERROR gmail: <HttpError 400 when requesting https://gmail.googleapis.com/gmail/v1/users/me/pr"
     "ofile?alt=json returned \"Mail service not enabled\". Details: \"[{{'reason': "
     "'failedPrecondition'}}]\">"),
    ("{iso} WARN [cal-sync] events.insert id=crm{hex} -> 403 "
     "{{\"error\":{{\"errors\":[{{\"domain\":\"calendar\",\"reason\":\"requiredAccessLevel\",\"message\""
     ":\"You need to have writer access to this calendar.\"}}]}}}}"),
    ("{py} ERROR crm_sync.microsoft: refresh failed: {{'error': 'invalid_grant', 'error_description': "
     "\"AADSTS700082: The refresh token has expired due to inactivity. The token was issued on "
     "{iso_old} and was inactive for 90.00:00:00. Trace ID: {guid} Correlation ID: {guid2} Timestamp: "
     "{iso}\", 'error_codes': [700082]}}"),
    ("Microsoft.Identity.Client.MsalUiRequiredException: AADSTS50076: Due to a configuration change "
     "made by your administrator, or because you moved to a new location, you must use multi-factor "
     "authentication to access '00000003-0000-0000-c000-000000000000'. Trace ID: {guid} Correlation ID: "
     "{guid2} Timestamp: {iso}"),
    ("{iso} ERROR token 401 {{\"error\":\"invalid_client\",\"error_description\":\"AADSTS700024: Client "
     "assertion is not within its valid time range. Current time: {iso}, assertion valid from "
     "{iso_late}.\"}}"),
    ("{iso} ERROR GET /v1.0/users/{guid}/messages -> 403 {{\"error\":{{\"code\":\"ErrorAccessDenied\",\""
     "message\":\"Access is denied. Check credentials and try "
     "again.\",\"innerError\":{{\"request-id\":\"{guid2}\"}}}}}}"),
    ("{iso} WARN [graph] GET /me/messages -> 429 Retry-After: {small} "
     "{{\"error\":{{\"code\":\"TooManyRequests\",\"message\":\"Please retry again "
     "later.\",\"innerError\":{{\"request-id\":\"{guid}\"}}}}}}"),
    ("{py} ERROR graph.mail: 404 {{\"error\": {{\"code\": \"MailboxNotEnabledForRESTAPI\", \"message\": "
     "\"REST API is not yet supported for this mailbox.\"}}}} user={email}"),
    ("{py} ERROR graph: GET /users/{email}/mailboxSettings 404 "
     "{{\"error\":{{\"code\":\"ErrorInvalidUser\",\"message\":\"The requested user '{email}' is "
     "invalid.\"}}}}"),
    ("{py} ERROR crm.salesforce: simple_salesforce.exceptions.SalesforceExpiredSession: Expired session "
     "for https://acme.my.salesforce.com/services/data/v59.0/query/?q=SELECT+Id+FROM+Task+WHERE+Id%3D%27"
     "{sfid}%27. Response content: [{{'message': 'Session expired or invalid', 'errorCode': "
     "'INVALID_SESSION_ID'}}]"),
    ("{iso} WARN [sf-sync] POST /services/data/v60.0/composite/sobjects -> 403 "
     "[{{\"message\":\"TotalRequests Limit exceeded.\",\"errorCode\":\"REQUEST_LIMIT_EXCEEDED\"}}]"),
    ("{iso} ERROR [sf-sync] upsert Event failed [{{\"message\":\"unable to obtain exclusive access to "
     "this record or 1 records: {sfid}\",\"errorCode\":\"UNABLE_TO_LOCK_ROW\",\"fields\":[]}}]"),
    ("{iso} ERROR [hubspot] token refresh 400 {{\"status\":\"BAD_REFRESH_TOKEN\",\"message\":\"missing "
     "or invalid refresh token\",\"correlationId\":\"{guid}\"}}"),
    ("{py} WARNING hubspot: 429 {{\"status\": \"error\", \"message\": \"You have reached your "
     "ten_secondly_rolling limit.\", \"errorType\": \"RATE_LIMIT\", \"correlationId\": \"{guid}\", "
     "\"policyName\": \"TEN_SECONDLY_ROLLING\"}}"),
    ("{py} WARNING dataverse: 429 Retry-After: {small} {{\"error\":{{\"code\":\"0x80072322\",\"message\""
     ":\"Number of requests exceeded the limit of 6000 over time window of 300 seconds.\"}}}}"),
    ("{iso} Error tracelog mailbox={name}: Email can't be received for the mailbox {name} because the "
     "credentials specified in the associated email server profile are incorrect or have expired."),
    ("{py} ERROR mailer.smtp: smtplib.SMTPAuthenticationError: (535, b'5.7.139 Authentication "
     "unsuccessful, SmtpClientAuthentication is disabled for the Tenant. [{host} {iso} {hex}]')"),
    ("{py} ERROR mailer.smtp: smtplib.SMTPDataError: (550, b'5.7.60 SMTP; Client does not have "
     "permissions to send as this sender [{host} {iso} {hex}]')"),
    "{syslog} mail01 crm-mailer[{pid}]: 535 5.7.8 Username and Password not accepted for {email}",
    ("{iso} ERROR [imap] a{pid} NO [ALERT] Please log in via your web browser: "
     "https://support.google.com/mail/accounts/answer/78754 (Failure)"),
    ("{py} ERROR crm_sync.http: requests.exceptions.ConnectionError: "
     "HTTPSConnectionPool(host='oauth2.googleapis.com', port=443): Max retries exceeded with url: "
     "/token (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x{hex}>: "
     "Failed to establish a new connection: [Errno 111] Connection refused'))"),
    "{iso} error [hubspot-worker] Error: getaddrinfo ENOTFOUND api.hubapi.com code=ENOTFOUND req={hex}",
    ("{py} ERROR crm_sync.http: requests.exceptions.ProxyError: "
     "HTTPSConnectionPool(host='api.hubapi.com', port=443): Max retries exceeded with url: "
     "/crm/v3/owners (Caused by ProxyError('Unable to connect to proxy', "
     "ReadTimeoutError(\"HTTPSConnectionPool(host='proxy.acme.local', port=8080): Read timed out. (read "
     "timeout={small})\")))"),
    ("{py} ERROR crm_sync.http: ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] "
     "certificate verify failed: self signed certificate in certificate chain (_ssl.c:{pid})"),
    ("ERROR {py} [pool-{small}-thread-{small}] c.a.sync.HttpClient - java.net.SocketTimeoutException: "
     "Read timed out"),
    ("{py} ERROR crm_sync.calendar: pytz.exceptions.UnknownTimeZoneError: 'Pacific Standard Time' "
     "(event {pid})"),
    ("{py} WARNING crm_sync.scheduler: another sync is already running for mailbox {email} (started "
     "{iso} by job gmail-sync-{small}); skipping"),
    ("{py} WARNING apscheduler.scheduler: Execution of job \"sync_mailbox (trigger: interval[0:05:00], "
     "next run at: {py} UTC)\" skipped: maximum number of running instances reached (1)"),
    ("{py} WARNING crm_sync.matcher: No CRM user found for email {email} (mailbox {email2}); {small} "
     "messages not logged"),
    ("{iso} ERROR [smtp] 554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; Failed to "
     "process message due to a permanent exception with message WASCL UserAction verdict is not None. "
     "Actual verdict is RefuseQuota."),
    "{py} ERROR crm_sync.mapper: could not map event {pid}: KeyError: 'attendees'",
)
NOISE: Final = (
    "{iso} INFO [sync.worker-{small}] req={hex} synced {count} messages for {email} in {ms} ms",
    "{py} INFO crm_sync.google: token for {email} refreshed, new expiry {iso}",
    ("{py} DEBUG crm_sync.http: GET https://graph.microsoft.com/v1.0/me/messages?$top=50&$skiptoken={hex"
     "} -> 200 in {ms} ms"),
    "{iso} INFO [cal-sync] {count} events upserted for {email} (calendar primary, sync token {hex})",
    ("{syslog} sync01 crm-sync[{pid}]: heartbeat ok worker={small} queue=outlook-sync depth={count} "
     "lag_ms={ms}"),
    ("level=info ts={iso} caller=runner.go:{count} msg=\"run finished\" connection=c-{pid} "
     "duration={ms}ms"),
    "{iso} INFO [sf-sync] Sforce-Limit-Info: api-usage={count}/100000 for org 00D5g000004XyzA",
    "{py} INFO crm_sync: sync completed for {count} mailboxes: {count} new, {small} updated, 0 failed",
    "{iso} DEBUG [hubspot] X-HubSpot-RateLimit-Remaining={small} of 100 per 10s (correlation {guid})",
    "{py} INFO crm_sync.scheduler: next run of job {hex} at {iso}",
)
WORDS: Final = ("pricing", "renewal", "demo", "Q3", "contract", "follow-up", "intro", "invoice", "webinar",
                "call", "proposal", "kickoff", "onboarding", "review", "budget", "roadmap", "lunch")
NAMES: Final = ("ana", "bob", "carl", "dee", "eve", "finn")


class Generator:
    """A deterministic stream of log lines: fresh ids, times and addresses on every line."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.now = START
        self.users = [f"{self.rnd.choice(NAMES)}.{n}@acme.com" for n in range(400)]

    def hexid(self, size: int) -> str:
        return f"{self.rnd.getrandbits(size * 4):0{size}x}"

    def guid(self) -> str:
        h = self.hexid(32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def line(self) -> str:
        rnd = self.rnd
        self.now += timedelta(milliseconds=rnd.randint(1, 900))
        roll = rnd.random()
        if roll < ODD_SHARE:
            subject = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 6)))
            number = rnd.randint(1, 99)
            return f"{self.now:%Y-%m-%d %H:%M:%S} INFO crm_sync.mapper: logged email \"{subject} {number}\""
        shape = rnd.choice(ERRORS if roll < ODD_SHARE + ERROR_SHARE else NOISE)
        return shape.format(
            iso=f"{self.now:%Y-%m-%dT%H:%M:%S}.{self.now.microsecond // 1000:03d}Z",
            iso_old=f"{self.now - timedelta(days=120):%Y-%m-%dT%H:%M:%S}.8511467Z",
            iso_late=f"{self.now + timedelta(minutes=6):%Y-%m-%dT%H:%M:%S}.0000000Z",
            py=f"{self.now:%Y-%m-%d %H:%M:%S},{self.now.microsecond // 1000:03d}",
            syslog=f"{self.now:%b %d %H:%M:%S}",
            email=rnd.choice(self.users), email2=rnd.choice(self.users), name=f"User {rnd.randint(1, 400)}",
            guid=self.guid(), guid2=self.guid(), hex=self.hexid(16), sfid=f"00U5g0000{self.hexid(9).upper()}",
            host=f"DM6PR07CA{rnd.randint(1000, 9999)}.namprd07.prod.outlook.com",
            pid=rnd.randint(1000, 65000),
            small=rnd.randint(1, 16), count=rnd.randint(0, 5000), ms=rnd.randint(3, 30000),
        )

    def lines(self, count: int) -> Iterator[str]:
        for _ in range(count):
            yield self.line()


def write_log(path: Path, count: int, seed: int) -> int:
    """Write `count` generated lines; returns the file size in bytes."""
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in Generator(seed).lines(count))
    return path.stat().st_size


@dataclass
class Pass:
    seconds: float
    lines: int
    causes: dict[str, int]
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def ours(path: Path) -> Pass:
    """Stream the file through a fresh Classifier (cold cache), as `chatops classify` does."""
    classifier = Classifier()
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for _, _, result in classify_stream(handle, classifier):
            counts[result.cause] += 1
    seconds = time.perf_counter() - started
    return Pass(seconds, sum(counts.values()), dict(counts), *classifier.cache_stats())


def naive(path: Path, limit: int | None) -> Pass:
    """The baseline: each catalog regex with re.search, in catalog order, until one matches."""
    compiled = [(re.compile(s.pattern, re.IGNORECASE).search, s.cause.value) for s in load_catalog()]
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for number, raw in enumerate(handle, 1):
            if limit is not None and number > limit:
                break
            line = raw.rstrip("\r\n")
            counts[next((cause for search, cause in compiled if search(line)), "other")] += 1
    return Pass(time.perf_counter() - started, sum(counts.values()), dict(counts))


def peak_memory(path: Path) -> int:
    """tracemalloc's peak while our classifier streams the file (a separate pass: tracing slows it down)."""
    tracemalloc.start()
    ours(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"cpu {core}"
    return "not pinned"


def median_pass(run: Callable[[], Pass], repeat: int, label: str) -> tuple[Pass, list[float]]:
    passes = []
    for n in range(1, repeat + 1):
        done = run()
        print(f"  {label} run {n}/{repeat}: {done.rate:,.0f} lines/s ({done.seconds:.1f} s)", file=sys.stderr)
        passes.append(done)
    rates = [p.rate for p in passes]
    middle = statistics.median(rates)
    return min(passes, key=lambda p: abs(p.rate - middle)), rates


def summary(median: Pass, rates: list[float]) -> dict[str, object]:
    return {"lines_per_s": round(statistics.median(rates)), "runs_lines_per_s": [round(r) for r in rates],
            "lines": median.lines, "seconds": round(median.seconds, 3), "causes": median.causes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classify", description=__doc__)
    parser.add_argument("--lines", type=int, default=FULL_LINES,
                        help=f"generated log lines (default {FULL_LINES:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_LINES:,} lines")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; the median is reported")
    parser.add_argument("--seed", type=int, default=20240520)
    parser.add_argument("--baseline-lines", type=int, default=BASELINE_LINES,
                        help="stream only the first N lines through the naive baseline; lines/s is per line, "
                             f"so a sample keeps the run short (default {BASELINE_LINES:,}; 0: all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    count = QUICK_LINES if args.quick else args.lines
    if count < 1 or args.repeat < 1:
        parser.error("--lines and --repeat must be at least 1")
    core = pin_to_one_core()
    with tempfile.TemporaryDirectory(prefix="bench-classify-") as folder:
        path = Path(folder) / "sync.log"
        print(f"generating {count:,} lines (seed {args.seed}) ...", file=sys.stderr)
        size = write_log(path, count, args.seed)
        our, our_rates = median_pass(lambda: ours(path), args.repeat, "classifier")
        base, base_rates = median_pass(lambda: naive(path, args.baseline_lines or None), args.repeat, "naive")
        peak = peak_memory(path)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    result = {
        "benchmark": "classify", "lines": count, "bytes": size, "seed": args.seed, "repeat": args.repeat,
        "mix": {"errors": ERROR_SHARE, "free_text": ODD_SHARE,
                "noise": round(1 - ERROR_SHARE - ODD_SHARE, 2)},
        "catalog_entries": len(load_catalog()), "core": core, "python": platform.python_version(),
        "machine": platform.machine(), "at": datetime.now(UTC).isoformat(),
        "classifier": {**summary(our, our_rates),
                       "cache": {"hits": our.cache_hits, "misses": our.cache_misses}},
        "naive": {**summary(base, base_rates),
                  "note": "matches raw lines, so digits inside timestamps and ids (',403', '-501') can hit "
                          "status-code entries that the classifier's masked lines never see"},
        "speedup": round(statistics.median(our_rates) / statistics.median(base_rates), 1),
        "memory": {"tracemalloc_peak_bytes": peak, "ru_maxrss_bytes": maxrss},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    print(f"\nwrote {args.out}")
    return 0


def table(result: dict[str, Any]) -> str:
    """The results as a small text table."""
    our, base, memory = result["classifier"], result["naive"], result["memory"]
    rows = [("contender", "lines", "lines/s (median)", "runs")]
    for name, part in (("Classifier (literal pre-filter + cache)", our),
                       ("naive (re.search each entry in order)", base)):
        runs = ", ".join(f"{rate:,}" for rate in part["runs_lines_per_s"])
        rows.append((name, f"{part['lines']:,}", f"{part['lines_per_s']:,}", runs))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    peak, rss = memory["tracemalloc_peak_bytes"] / 2**20, memory["ru_maxrss_bytes"] / 2**20
    lines.append("")
    lines.append(f"speedup: {result['speedup']}x on one core ({result['core']}), "
                 f"{result['catalog_entries']} catalog entries, Python {result['python']}")
    lines.append(f"memory: tracemalloc peak {peak:.1f} MiB while streaming, "
                 f"ru_maxrss {rss:.1f} MiB (whole process)")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
