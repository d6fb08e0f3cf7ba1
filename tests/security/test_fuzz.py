"""Property tests: whatever the input, the parser, the core, the renderers, the classifier and the import never
crash and never produce invalid output. Longer runs of the same properties sit behind the `slow` marker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.slack import render as slack_render
from chatops.cards import Card, Header, finding_blocks, report_card, text_card
from chatops.chat import ActionRequest, ChatUser, CommandRequest, MessageRef, Reply
from chatops.checks.base import CheckContext, CheckSpec, reconnect_action
from chatops.classify import Classification, default_classifier, group, mask, parse_timestamp, template
from chatops.clock import SystemClock
from chatops.commands import COMMANDS, WORDS, grammar
from chatops.commands.help import help_reply
from chatops.core import Chatops
from chatops.errors import CommandError
from chatops.findings import ActionKind, Cause, Finding
from chatops.imports import ImportFileError, parse_connections
from chatops.model import CALENDAR_PROVIDERS, CRM_PROVIDERS, MAIL_PROVIDERS, Connection, GrantRole, Provider, Workspace
from chatops.ports import Providers
from chatops.report import Report
from chatops.runner import Runner
from chatops.store import Store
from chatops.store.crypto import GrantCipher
from tests.security import strategies as s
from tests.security.rendered import assert_valid_slack_reply, assert_valid_teams_reply

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")  # huge texts are the point

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
LONG = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])


def both(prop: Callable[..., None], *strategies: st.SearchStrategy, fast: int = 60,
         long: int = 800) -> tuple[Callable, Callable]:
    """The property run briefly in every test run, and at length behind the slow marker."""
    quick = settings(FAST, max_examples=fast)(given(*strategies)(prop))
    slow = pytest.mark.timeout(900)(pytest.mark.slow(settings(LONG, max_examples=long)(given(*strategies)(prop))))
    return quick, slow


# ---------------------------------------------------------------- the command grammar


def grammar_never_fails_oddly(text: str) -> None:
    try:
        parsed = grammar.parse(text, WORDS)
    except CommandError as exc:
        assert len(text) > grammar.MAX_TEXT and str(exc)
        return
    assert parsed.word == "" or parsed.word in WORDS
    assert all(arg and not any(c.isspace() for c in arg) for arg in parsed.args if not arg.startswith("<mailto:"))
    assert grammar.suggest(text, WORDS) in (None, *WORDS)


command_texts = st.one_of(s.any_text, st.builds(" ".join, st.lists(st.one_of(
    st.sampled_from(sorted(WORDS) + ["ALL", "Logs", "hepl", "lgos", "<mailto:ana@acme.example|ana@acme.example>",
                                     "<mailto:x|y>", "<@U0ZOE>", "@ana"]), s.short_text), max_size=6)))
test_the_grammar_never_fails_oddly, test_the_grammar_never_fails_oddly_at_length = both(
    grammar_never_fails_oddly, command_texts, fast=300)


# ---------------------------------------------------------------- the core, through a real store

A, B = "slack:T0ACME", "slack:T0OTHER"
SECRET_MARKERS = ("zoe-hidden", "zoe@other-hidden.example", "c_bsecret01")  # workspace B's data


async def echo(ctx: CheckContext) -> list[Finding]:
    """A check that repeats the connection's name and emails in its finding, as real checks do."""
    c = ctx.connection
    if c.name.startswith("broken"):
        return [ctx.fail(f"{c.name}: access for {c.mailbox_email} was revoked.",
                         evidence=[("account", c.mailbox_email), ("name", c.name)],
                         remedy=[f"Reconnect {c.name}."], actions=[reconnect_action(c, GrantRole.MAIL,
                                                                                   Provider.GOOGLE)])]
    return [ctx.ok(f"{c.name} works.")]


def people(workspace: str, names: list[tuple[str, str]], ids: list[str] | None = None) -> list[Connection]:
    return [Connection(id=(ids or [""] * len(names))[n], workspace_id=workspace, name=name, owner_email=email,
                       crm=Provider.SALESFORCE, crm_user_email=email, mailbox_provider=Provider.GOOGLE,
                       mailbox_email=email) for n, (name, email) in enumerate(names)]


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chatops, asyncio.AbstractEventLoop]]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    store = Store.open(f"sqlite:///{path}", GrantCipher([GrantCipher.generate_key()]))
    store.ensure_workspace(Workspace(A, "Acme"))
    store.ensure_workspace(Workspace(B, "Other"))
    store.import_connections(A, people(A, [("ana-gmail", "ana@acme.example"), ("broken-ana", "ana@acme.example"),
                                           ("<!channel> *ben*", "ben@acme.example"),
                                           ("broken-[x](https://evil.example)", "ben@acme.example")]))
    store.import_connections(B, people(B, [("zoe-hidden", "zoe@other-hidden.example"),
                                           ("broken-zoe-hidden", "zoe@other-hidden.example")],
                                       ids=["c_bsecret01", "c_bsecret02"]))
    runner = Runner(checks={"credentials": CheckSpec("credentials", Cause.CREDENTIALS, echo)},
                    providers=Providers(oauth={}, mail={}, calendar={}, crm={}, endpoints={}),
                    probe=None, clock=SystemClock(), deadline_s=5)  # type: ignore[arg-type]
    chatops = Chatops(store, runner, link=lambda c, target, viewer: f"https://chatops.example/connect/{target}")
    loop = asyncio.new_event_loop()
    yield chatops, loop
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    store.close()


users = st.one_of(
    st.sampled_from([ChatUser("slack", "U0ADMIN", "admin@acme.example", "Ada", is_admin=True),
                     ChatUser("slack", "U0ANA", "ana@acme.example", "Ana"),
                     ChatUser("slack", "U0NOBODY", "", ""),
                     ChatUser("slack", "U0ZOE", "zoe@other-hidden.example", "Zoe in A")]),
    st.builds(ChatUser, st.just("slack"), s.short_text, s.emails, s.any_text, st.booleans()))
core_texts = st.one_of(command_texts, st.builds(" ".join, st.lists(st.sampled_from(
    ["all", "logs", "help", "ana-gmail", "broken-ana", "ana@acme.example", "ben@acme.example", "zoe-hidden",
     "c_bsecret01", "c_bsecret02", "zoe@other-hidden.example", "<!channel>", "x" * 600]), max_size=3)))


def assert_no_secret_of_b(reply: Reply, said: str) -> None:
    shown = reply.text + json.dumps(slack_render.response(reply), ensure_ascii=False)
    for marker in SECRET_MARKERS:
        assert marker not in shown or marker in said, f"workspace B's {marker!r} shown in workspace A"


def command_always_replies(core: tuple[Chatops, asyncio.AbstractEventLoop], user: ChatUser, text: str,
                           word: str) -> None:
    chatops, loop = core
    request = CommandRequest(A, user, text, channel_id="C1", command=word)
    placeholder = loop.run_until_complete(chatops.placeholder(request))
    reply = loop.run_until_complete(chatops.handle_command(request))
    for answer in (placeholder, reply):
        assert isinstance(answer, Reply) and answer.text.strip()
        assert_valid_slack_reply(answer)
        assert_valid_teams_reply(answer)
        assert_no_secret_of_b(answer, text)


test_a_command_always_gets_a_valid_reply, test_a_command_always_gets_a_valid_reply_at_length = both(
    command_always_replies, users, core_texts, st.sampled_from(["/syncstatus", "syncstatus"]), fast=40, long=500)


def action_always_replies(core: tuple[Chatops, asyncio.AbstractEventLoop], user: ChatUser, kind: ActionKind,
                          target: str, value: str) -> None:
    chatops, loop = core
    request = ActionRequest(A, user, kind, target, value, MessageRef("C1", "1.2", "https://hooks.example/x"))
    reply = loop.run_until_complete(chatops.handle_action(request))
    assert isinstance(reply, Reply) and reply.text.strip()
    assert_valid_slack_reply(reply)
    assert_valid_teams_reply(reply)
    assert_no_secret_of_b(reply, target + value)


targets = st.one_of(s.short_text, st.sampled_from(["c_bsecret01", "c_bsecret02", "c_bsecret01:mail", "zoe-hidden",
                                                   "ana-gmail", "../c_bsecret01", "c_bsecret01%00", "*", "%"]))
test_a_button_always_gets_a_valid_reply, test_a_button_always_gets_a_valid_reply_at_length = both(
    action_always_replies, users, st.sampled_from(list(ActionKind)), targets,
    st.one_of(st.integers(-5, 10**6).map(str), s.short_text), fast=40)


# ---------------------------------------------------------------- the card renderers, for any findings


def any_report_renders(report: Report, page: int, viewer: ChatUser, linked: bool) -> None:
    link = (lambda c, target, who: f"https://chatops.example/connect/{target}") if linked else None
    card = report_card(report, link=link, page=page, viewer=viewer)
    reply = Reply(f"{len(report.connections)} connection(s)", card=card, replace_original=True)
    assert_valid_slack_reply(reply)
    assert_valid_teams_reply(reply)
    for part in report.connections:  # the Details view of each
        title = f"Details: {part.connection.name}"
        details = Card(title, (Header(title), *finding_blocks(part.findings)))
        assert_valid_slack_reply(Reply(title, card=details, ephemeral=True))
        assert_valid_teams_reply(Reply(title, card=details, ephemeral=True))


test_any_report_renders_valid_cards, test_any_report_renders_valid_cards_at_length = both(
    any_report_renders, s.reports(), st.integers(-3, 5), users, st.booleans(), fast=60, long=150)


def any_text_card_renders(title: str, lines: list[str], problem: str, suggestion: str | None) -> None:
    for reply in (Reply(title, card=text_card(title, lines)),
                  help_reply(COMMANDS, word=title, problem=problem, suggestion=suggestion)):
        assert_valid_slack_reply(reply)
        assert_valid_teams_reply(reply)
    cards = [text_card(title, lines), help_reply(COMMANDS, problem=problem).card]
    home = slack_render.home([c for c in cards if c is not None])
    from tests.security.rendered import assert_valid_blocks

    assert_valid_blocks(home["blocks"], limit=slack_render.MAX_VIEW_BLOCKS)


test_any_text_card_renders, test_any_text_card_renders_at_length = both(
    any_text_card_renders, s.any_text, st.lists(s.any_text, max_size=60), s.any_text, st.none() | s.any_text,
    fast=60, long=300)


# ---------------------------------------------------------------- the log classifier


def classifier_never_raises(lines: list[str]) -> None:
    classifier = default_classifier()
    for line in lines:
        result = classifier.classify(line)
        assert isinstance(result, Classification) and isinstance(result.cause, Cause)
        assert isinstance(result.signature, str) and result.explanation and result.fix
        assert result.signature or not line.strip() or not result.known
        assert isinstance(mask(line), str) and isinstance(template(line), str)
        stamp = parse_timestamp(line)
        assert stamp is None or stamp.tzinfo is not None
    patterns = group(((line, None, "c1") for line in lines), classifier)
    assert sum(p.count for p in patterns) == len(lines)
    assert all(isinstance(p.cause, Cause) for p in patterns)


test_the_classifier_never_raises, test_the_classifier_never_raises_at_length = both(
    classifier_never_raises, st.lists(s.log_lines, max_size=20), fast=150)


# ---------------------------------------------------------------- the import format


def import_is_refused_clearly_or_valid(text: str) -> None:
    try:
        found = parse_connections(text, "ws", source="fuzz.yaml")
    except ImportFileError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml") and "\n" not in message.strip() or "YAML" in message, message
        return
    for c in found:
        assert isinstance(c, Connection) and c.name.strip() and c.workspace_id == "ws"
        assert c.crm in CRM_PROVIDERS and c.mailbox_provider in MAIL_PROVIDERS
        assert c.calendar_provider is None or c.calendar_provider in CALENDAR_PROVIDERS
        assert "@" in c.crm_user_email and "@" in c.mailbox_email
        assert len({g.role for g in c.grants}) == len(c.grants)
        assert c.calls_per_sync >= 0


test_the_import_refuses_clearly_or_is_valid, test_the_import_refuses_clearly_or_is_valid_at_length = both(
    import_is_refused_clearly_or_valid, s.import_texts, fast=200)


@pytest.mark.parametrize(("name", "text"), [
    ("deep flow nesting", "[" * 5000 + "]" * 5000),
    ("deep mapping nesting", "{a: " * 3000 + "1" + "}" * 3000),
    ("deep block nesting", "".join(" " * n + "- \n" for n in range(0, 4000, 2))),
    ("alias expansion (billion laughs)", "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))
        + "connections: *j\n"),
    ("a python object tag", "connections: !!python/object/apply:os.system ['true']\n"),
    ("a NUL byte", "connections:\n  - name: a\x00b\n"),
])
def test_hostile_import_documents_are_refused_quickly(name: str, text: str) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(ImportFileError):
        parse_connections(text, "ws", source="hostile.yaml")
    assert time.monotonic() - started < 2.0, name
