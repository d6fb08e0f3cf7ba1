"""Sync-log classifier: the signature catalog, a fast matcher, line templates and pattern grouping."""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import yaml

from chatops.findings import Cause

MAX_LINE: Final = 8192  # longer lines are cut before matching, so a 1 MB line costs what an 8 KB one does
TEMPLATE_CAP: Final = 300
CACHE_SIZE: Final = 32768
PROVIDERS: Final = frozenset(
    {"google", "microsoft", "salesforce", "hubspot", "dynamics", "smtp", "imap", "network", "generic"})
FIELDS: Final = ("id", "pattern", "cause", "provider", "explanation", "fix")
UNKNOWN_PROVIDER: Final = "unknown"
UNKNOWN_EXPLANATION: Final = "No known signature matches this line."
UNKNOWN_FIX: Final = "Send this line to support so the catalog can learn it."


@dataclass(frozen=True, slots=True)
class Signature:
    """One catalog entry: a regex over the masked line and what a match means."""

    id: str
    pattern: str
    cause: Cause
    provider: str
    explanation: str
    fix: str


class CatalogError(ValueError):
    """The signature catalog is malformed; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class Classification:
    cause: Cause
    provider: str
    signature: str  # the catalog id, or the line's template when no signature matches
    explanation: str
    fix: str
    known: bool


@dataclass
class Pattern:
    """Lines that share a signature (or, when unknown, a template), with when and where they were seen."""

    signature: str
    cause: Cause
    provider: str
    explanation: str
    fix: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    example: str
    connections: set[str] = field(default_factory=set)


# --- the catalog -------------------------------------------------------------------------------------------


def load_catalog(path: Path | None = None) -> tuple[Signature, ...]:
    """Read and validate the signature catalog (default: the packaged `catalog/signatures.yaml`)."""
    if path is None:
        text = (files("chatops") / "catalog" / "signatures.yaml").read_text(encoding="utf-8")
        where = "signatures.yaml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{path}: cannot be read ({exc})") from exc
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(data, list) or not data:
        raise CatalogError(f"{where}: expected a non-empty list of signature entries")
    signatures = tuple(_signature(entry, number) for number, entry in enumerate(data, 1))
    seen: set[str] = set()
    for signature in signatures:
        if signature.id in seen:
            raise CatalogError(f"catalog entry {signature.id!r}: field 'id': duplicate id")
        seen.add(signature.id)
    return signatures


def _signature(entry: Any, number: int) -> Signature:
    if not isinstance(entry, dict):
        raise CatalogError(f"catalog entry #{number}: expected a mapping with the fields {', '.join(FIELDS)}")
    name = entry.get("id")
    named = isinstance(name, str) and name.strip()
    label = f"catalog entry {name!r}" if named else f"catalog entry #{number}"
    for key in FIELDS:
        value = entry.get(key)
        if value is None:
            raise CatalogError(f"{label}: field {key!r}: missing")
        if not isinstance(value, str) or not value.strip():
            raise CatalogError(f"{label}: field {key!r}: must be a non-empty string")
    extra = sorted(set(entry) - set(FIELDS), key=str)
    if extra:
        raise CatalogError(f"{label}: field {extra[0]!r}: unknown field")
    try:
        cause = Cause(entry["cause"])
    except ValueError:
        raise CatalogError(f"{label}: field 'cause': unknown cause {entry['cause']!r} "
                           f"(one of {', '.join(c.value for c in Cause)})") from None
    if entry["provider"] not in PROVIDERS:
        raise CatalogError(f"{label}: field 'provider': unknown provider {entry['provider']!r} "
                           f"(one of {', '.join(sorted(PROVIDERS))})")
    try:
        compiled = re.compile(entry["pattern"], re.IGNORECASE)
    except re.error as exc:
        raise CatalogError(f"{label}: field 'pattern': not a valid regex ({exc})") from exc
    if compiled.search("") is not None:
        raise CatalogError(f"{label}: field 'pattern': matches the empty string "
                           "(so it would match every line)")
    return Signature(id=entry["id"], pattern=entry["pattern"], cause=cause, provider=entry["provider"],
                     explanation=" ".join(entry["explanation"].split()), fix=" ".join(entry["fix"].split()))


# --- masking and templates -------------------------------------------------------------------------------

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_ISO = (r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?"
        r"(?:\s?(?:Z|UTC|GMT)|[+-]\d\d:?\d\d)?)?(?![\d:])")
_TIMESTAMP = (rf"(?:{_ISO}|\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?"
              rf"|{_MONTH} [ \d]\d \d\d:\d\d:\d\d|\d\d/{_MONTH}/\d{{4}}:\d\d:\d\d:\d\d [+-]\d{{4}}"
              r"|1\d{9}(?:\.\d+)?(?!\d))")
_LEVEL = (r"(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|SEVERE)\b"
          r"|\[(?i:trace|debug|info|notice|warn|warning|error|crit|critical|fatal|severe)\]"
          r"|(?i:level|lvl|severity)=\"?\w+\"?")
# Leading timestamps and levels, in any order and number: "2024-05-20T08:14:03Z ERROR", "[INFO] 2024-...",
# "<11>1 2024-...", "May 20 08:14:03", "[20/May/2024:08:14:03 +0000]".
_PREFIX = re.compile(rf"(?:[\s\[(]*(?:<\d{{1,3}}>\d?\s*)?(?:{_TIMESTAMP}|{_LEVEL})[\])]?[\s,:|-]*)+")
_URL = re.compile(r"(?:https?|wss?|ftps?|imaps?|smtps?|ldaps?)://[^\s\"'<>()\[\]{}|\\^`]+", re.IGNORECASE)
_EMAIL_DOMAIN = re.compile(r"@[\w-]+(?:\.[\w-]+)+")  # starts with a literal, so re finds it fast
_EMAIL_LOCAL: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+%-'")
_HEX = "0-9a-fA-F"
# A 4xx/5xx number followed by a unit is a duration or a count ("in 403 ms", "404 messages"), not a status.
_NOT_A_QUANTITY = (r"(?!\s?(?i:ms|s|sec|secs|seconds|min|mins|minutes|h|hours|days|bytes|[kmg]i?b|%"
                   r"|messages|mails|emails|events|items|records|rows|contacts|users|mailboxes"
                   r"|requests|calls)(?![\w%]))")
# Volatile values that contain digits. Standalone 4xx/5xx codes and dotted status codes (5.7.8) are kept:
# catalog patterns need "403" and "535 5.7.3"; everything else with digits is an id, a count or a time.
_VOLATILE = re.compile(
    rf"(?<![\w.%+-])(?:"
    rf"(?P<ts>\d{{4}}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)?"
    rf"|\d\d:\d\d:\d\d(?:[.,]\d+)?Z?)"
    rf"|(?P<guid>[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}})"
    rf"|(?P<ip>\d{{1,3}}(?:\.\d{{1,3}}){{3}}(?::\d{{1,5}})?)"
    rf"|(?P<keep>[45]\d\d(?![\w.]){_NOT_A_QUANTITY}|[245]\.\d{{1,3}}\.\d{{1,3}})(?![\w.])"
    rf"|(?P<hex>(?=[{_HEX}]*[a-fA-F])(?=[{_HEX}]*\d)[{_HEX}]{{8,}})(?![\w-])"
    rf"|(?P<token>(?=[A-Za-z-]*\d)(?=[\d-]*[A-Za-z])[A-Za-z\d-]{{16,}})(?![\w-])"
    rf"|(?P<num>\d+(?:[.,:]\d+)*)(?![\w])"
    rf")", re.ASCII)  # ASCII classes are faster, and ids and counts are ASCII
_PLACEHOLDER = {"ts": "<ts>", "guid": "<id>", "ip": "<ip>", "hex": "<id>", "token": "<id>", "num": "<num>"}
_ID_SEGMENT = re.compile(r"[%@]|\d.*\d.*\d|^[\w-]{24,}$")


def _volatile(match: re.Match[str]) -> str:
    kind = match.lastgroup or "num"
    return match.group() if kind == "keep" else _PLACEHOLDER[kind]


def _url(match: re.Match[str]) -> str:
    """Keep scheme, host and the word-like path segments (they tell Gmail from Calendar); drop the rest."""
    scheme, _, rest = match.group().partition("://")
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    host, _, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1].lower()
    segments = ["*" if _ID_SEGMENT.search(segment) else segment for segment in path.split("/")[:8]]
    return f"<url:{scheme.lower()}://{host}/{'/'.join(segments)}>"


def _emails(text: str) -> str:
    """Replace e-mail addresses by `<email>`: find each '@domain', then walk back over the local part."""
    pieces: list[str] = []
    done = 0
    for domain in _EMAIL_DOMAIN.finditer(text):
        start = domain.start()
        while start > done and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        while start < domain.start() and text[start] in "'.":  # a leading quote or dot is not part of it
            start += 1
        if start == domain.start():
            continue
        pieces += (text[done:start], "<email>")
        done = domain.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def mask(line: str) -> str:
    """The text catalog patterns see: the line cut to 8 KB, without its leading timestamp and level, and
    with URLs, e-mail addresses, times, GUIDs, ids, IPs and counts replaced by placeholders."""
    text = line[:MAX_LINE]
    prefix = _PREFIX.match(text)
    if prefix is not None:
        text = text[prefix.end():]
    if "://" in text:
        text = _URL.sub(_url, text)
    if "@" in text:
        text = _emails(text)
    return _VOLATILE.sub(_volatile, text).strip()


_FINISH_URL = re.compile(r"<url:[^>]*>")
_FINISH_HEX = re.compile(
    rf"(?<![\w<-])(?:0x[{_HEX}]+|(?=[{_HEX}]*[a-fA-F])(?=[{_HEX}]*\d)[{_HEX}]{{6,}})(?![\w-])")
_FINISH_NUM = re.compile(r"(?<![\w<])\d+(?:[.,]\d+)*(?![\w])")
_FINISH_QUOTED = re.compile(r"(?:(?<=[\s(\[=:,])|^)'[^'\n]{1,200}'(?![\w])|(?<==)\"[^\"\n]{0,200}\"")


def _finish(masked: str) -> str:
    text = _FINISH_URL.sub("<url>", masked)
    text = _FINISH_QUOTED.sub("<str>", text)
    text = _FINISH_HEX.sub("<id>", text)
    text = _FINISH_NUM.sub("<num>", text)
    return " ".join(text.split())[:TEMPLATE_CAP]


def template(line: str) -> str:
    """The shape of a line: no leading timestamp or level; numbers, ids, GUIDs, e-mail addresses, URLs,
    quoted values and IPs replaced by `<num>`, `<id>`, `<email>`, `<url>`, `<str>`, `<ip>` (times by `<ts>`);
    whitespace collapsed; at most 300 characters."""
    return _finish(mask(line))


# --- required literals: a cheap pre-filter in front of the regexes ------------------------------------------

# re's own parser: private, but the same since 3.11 (sre_parse is its deprecated alias). Only the
# pre-filter uses it; a change there would show up in the tests that compare with the naive matcher.
_SRE_PARSER: Any = importlib.import_module("re._parser")
_SRE_CONSTANTS: Any = importlib.import_module("re._constants")
_FOLD: Final = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})  # what re.IGNORECASE also matches


def required_literals(pattern: str) -> frozenset[str] | None:
    """Lower-case strings of which every match of `pattern` (case-insensitive) contains at least one,
    or None when no such set can be read off the pattern."""
    c, parser = _SRE_CONSTANTS, _SRE_PARSER

    def options(items: Any) -> frozenset[str] | None:
        found: list[frozenset[str]] = []
        run: list[str] = []

        def flush() -> None:
            if run:
                found.append(frozenset({"".join(run)}))
                run.clear()

        for op, av in items:
            if op is c.LITERAL and av < 128:
                run.append(chr(av).lower())
                continue
            flush()
            if op is c.SUBPATTERN:
                inner = options(av[3])
            elif op is c.ATOMIC_GROUP:
                inner = options(av)
            elif op is c.BRANCH:
                inner = _union([options(branch) for branch in av[1]])
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[0] >= 1:
                inner = options(av[2])
            else:
                inner = None
            if inner:
                found.append(inner)
        flush()
        return max(found, key=lambda option: (min(map(len, option)), -len(option)), default=None)

    return options(parser.parse(pattern, re.IGNORECASE))


def _union(options: list[frozenset[str] | None]) -> frozenset[str] | None:
    """Literals of an alternation: one per branch, or nothing when a branch has none."""
    found: set[str] = set()
    for option in options:
        if option is None:
            return None
        found |= option
    return frozenset(found)


def _trie_regex(words: Iterable[str]) -> str:
    """One regex for many literals that never tries two branches on the same character (a prefix trie);
    at a position it matches the longest literal that starts there."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if "" in node:
            branches.append("")  # the end of a shorter literal, tried after every longer one
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"

    return emit(trie)


# --- the classifier --------------------------------------------------------------------------------------


class Classifier:
    """Classifies a line by the first catalog entry (in catalog order) whose pattern matches the masked line.

    Fast path: one scan of the lower-cased line for the catalog's required literals picks the few entries
    that can match; only those regexes run, in catalog order. Results are cached by masked line, which is
    all a result depends on, and logs repeat the same shapes with different ids and times.
    """

    def __init__(self, catalog: Sequence[Signature] | None = None) -> None:
        self.catalog: tuple[Signature, ...] = tuple(load_catalog() if catalog is None else catalog)
        self._regexes = tuple(re.compile(s.pattern, re.IGNORECASE) for s in self.catalog)
        self._results = tuple(Classification(s.cause, s.provider, s.id, s.explanation, s.fix, True)
                              for s in self.catalog)
        self._always = 0  # entries without required literals are tried on every line
        needs: dict[str, int] = {}
        for index, signature in enumerate(self.catalog):
            literals = required_literals(signature.pattern)
            if not literals:
                self._always |= 1 << index
                continue
            for literal in literals:
                needs[literal] = needs.get(literal, 0) | 1 << index
        # Finding a literal also finds every literal inside it (the scan reports one literal per position).
        self._implied = {found: functools.reduce(int.__or__, (bits for literal, bits in needs.items()
                                                              if literal in found), 0)
                         for found in needs}
        self._scan = re.compile(_trie_regex(needs)).search if needs else None
        self._lookup = functools.lru_cache(maxsize=CACHE_SIZE)(self._classify_masked)

    def classify(self, line: str) -> Classification:
        return self._lookup(mask(line))

    def cache_stats(self) -> tuple[int, int]:
        """(hits, misses) of the masked-line cache since this classifier was built."""
        info = self._lookup.cache_info()
        return info.hits, info.misses

    def classify_masked(self, masked: str) -> Classification:
        """Classify text that is already masked (see `mask`), bypassing the cache."""
        return self._classify_masked(masked)

    def _candidates(self, masked: str) -> int:
        bits = self._always
        if self._scan is None:
            return bits
        lowered = masked.lower() if masked.isascii() else masked.translate(_FOLD).lower()
        scan, implied = self._scan, self._implied
        found = scan(lowered)
        while found is not None:
            bits |= implied[found.group()]
            found = scan(lowered, found.start() + 1)
        return bits

    def _classify_masked(self, masked: str) -> Classification:
        bits = self._candidates(masked)
        while bits:
            lowest = bits & -bits
            index = lowest.bit_length() - 1
            if self._regexes[index].search(masked) is not None:
                return self._results[index]
            bits ^= lowest
        return Classification(Cause.OTHER, UNKNOWN_PROVIDER, _finish(masked), UNKNOWN_EXPLANATION,
                              UNKNOWN_FIX, known=False)


@functools.lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The classifier over the packaged catalog, built once per process."""
    return Classifier()


def classify_stream(lines: Iterable[str],
                    classifier: Classifier) -> Iterator[tuple[int, str, Classification]]:
    """(line number from 1, line without its newline, classification), one line at a time."""
    classify = classifier.classify
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        yield number, line, classify(line)


# --- timestamps and grouping ------------------------------------------------------------------------------

_MONTHS: Final = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_STAMP = re.compile(
    r"[\s\[(]*(?:<\d{1,3}>\d?\s*)?(?:[A-Z]{4,8}[\]:]?\s+\[?)?(?:"
    r"(?P<y>\d{4})[-/](?P<mo>\d\d)[-/](?P<d>\d\d)"
    r"(?:[T ](?P<h>\d\d):(?P<mi>\d\d)(?::(?P<s>\d\d))?(?:[.,](?P<f>\d+))?"
    r"\s?(?P<z>Z|UTC|GMT|[+-]\d\d:?\d\d)?)?(?![\d:])"
    r"|(?P<smo>[A-Z][a-z]{2}) +(?P<sd>\d{1,2}) (?P<sh>\d\d):(?P<smi>\d\d):(?P<ss>\d\d)"
    r"|(?P<cd>\d\d)/(?P<cmo>[A-Z][a-z]{2})/(?P<cy>\d{4})"
    r":(?P<ch>\d\d):(?P<cmi>\d\d):(?P<cs>\d\d) (?P<cz>[+-]\d{4})"
    r"|(?P<epoch>1\d{9})(?:\.(?P<ef>\d{1,9}))?(?![\d.])"
    r")")


def parse_timestamp(line: str) -> datetime | None:
    """The timestamp a log line starts with (ISO-8601, syslog, common log format or epoch seconds), in UTC.

    A time without a zone is taken as UTC; a syslog time (no year) gets the year that puts it in the past.
    """
    found = _STAMP.match(line[:200])
    if found is None:
        return None
    try:
        return _stamp(found)
    except (ValueError, OverflowError, OSError):
        return None


def _stamp(found: re.Match[str]) -> datetime | None:
    g = found.group
    if g("y"):
        micro = int((g("f") or "0")[:6].ljust(6, "0"))
        moment = datetime(int(g("y")), int(g("mo")), int(g("d")), int(g("h") or 0), int(g("mi") or 0),
                          int(g("s") or 0), micro, tzinfo=_zone(g("z")))
        return moment.astimezone(UTC)
    if g("smo"):
        month = _MONTHS.get(g("smo").lower())
        if month is None:
            return None
        now = datetime.now(UTC)
        moment = datetime(now.year, month, int(g("sd")), int(g("sh")), int(g("smi")), int(g("ss")),
                          tzinfo=UTC)
        return moment.replace(year=now.year - 1) if moment > now + timedelta(days=1) else moment
    if g("cd"):
        month = _MONTHS.get(g("cmo").lower())
        if month is None:
            return None
        moment = datetime(int(g("cy")), month, int(g("cd")), int(g("ch")), int(g("cmi")), int(g("cs")),
                          tzinfo=_zone(g("cz")))
        return moment.astimezone(UTC)
    seconds = int(g("epoch")) + int((g("ef") or "0").ljust(9, "0")) / 1e9
    return datetime.fromtimestamp(seconds, UTC)


def _zone(text: str | None) -> tzinfo:
    if not text or text in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def group(lines: Iterable[tuple[str, datetime | None, str]], classifier: Classifier) -> list[Pattern]:
    """Group (line, timestamp or None, connection id) into patterns, most frequent first.

    Known lines group by signature id, unknown ones by template. A missing timestamp is read from the
    line when it starts with one; naive timestamps are taken as UTC.
    """
    patterns: dict[tuple[bool, str], Pattern] = {}
    for line, at, connection in lines:
        result = classifier.classify(line)
        when = parse_timestamp(line) if at is None else _utc(at)
        key = (result.known, result.signature)
        pattern = patterns.get(key)
        if pattern is None:
            pattern = patterns[key] = Pattern(result.signature, result.cause, result.provider,
                                              result.explanation, result.fix, 0, when, when, line[:MAX_LINE])
        pattern.count += 1
        if when is not None:
            if pattern.first_seen is None or when < pattern.first_seen:
                pattern.first_seen = when
            if pattern.last_seen is None or when > pattern.last_seen:
                pattern.last_seen = when
        if connection:
            pattern.connections.add(connection)
    return sorted(patterns.values(), key=lambda p: -p.count)
