"""The forms' views (bot.modals) within Slack's limits, their outside text escaped, what a submission stands for,
and a form Slack would not open in time: the ack says to type the command."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import replace
from typing import Any

import pytest
from harness import (
    BOT_TOKEN,
    DEPLOYER,
    SIGNING_SECRET,
    Bot,
    cold_ack,
    config_data,
    signed_headers,
)
from slack_payloads import problems

from bot.command_names import CommandNames
from bot.commands import Parser
from bot.config import Config, parse_config
from bot.modals import (
    ENV_BLOCK,
    MAX_OPTIONS,
    SERVICE_BLOCK,
    Choices,
    Picked,
    RevisionChoice,
    TagChoice,
    check,
    form,
    read_view,
    typed,
)
from sandbox.slack_api import SlackStandIn

SETTINGS: Config = parse_config(config_data())


def view_problems(view: dict[str, Any]) -> list[str]:
    return problems("views.open", {"trigger_id": "t", "view": view})


def select_options(view: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    block = next(b for b in view["blocks"] if str(b.get("block_id", "")).startswith(prefix))
    return list(block["element"]["options"])


def context_of(view: dict[str, Any]) -> str:
    return "\n".join(e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"])


def picked(kind: str, values: dict[str, str], channel: str = "C0OPS") -> Picked:
    """A form submitted with `values`, showing the choices loaded for its env and service."""
    env, service = values.get(ENV_BLOCK), values.get(SERVICE_BLOCK)
    shown = (ENV_BLOCK, SERVICE_BLOCK, *values, f"choices:{kind}:{env}:{service}")
    return Picked(kind, "V1", "h1", channel, env, service, values, shown)


@pytest.mark.parametrize("kind", ["deploy", "scale", "rollback"])
def test_the_first_form_is_one_slack_opens(kind: str) -> None:
    view = form(kind, SETTINGS, "C0OPS")
    assert view_problems(view) == []
    assert [b["block_id"] for b in view["blocks"]][:2] == [ENV_BLOCK, SERVICE_BLOCK]
    assert all(b.get("dispatch_action") for b in view["blocks"][:2])  # each pick loads the choices


def test_many_long_tags_fit_slacks_limits_and_outside_text_is_escaped() -> None:
    tags = tuple(TagChoice(f"v{n}-" + "x" * 120, 1.7e9 - n, bad="failed" if n % 7 == 0 else "") for n in range(150))
    odd = TagChoice("v9&<!channel>", 1.8e9, running=True)  # ECR would refuse it; the view must not care
    choices = Choices("deploy", "production", "service-a", tags=(odd, *tags), current_tag=odd.tag)
    view = form("deploy", SETTINGS, "C0OPS", "production", "service-a", choices)
    assert view_problems(view) == []
    shown = select_options(view, "tag:production:service-a")
    assert len(shown) == MAX_OPTIONS
    assert all(len(o["text"]["text"]) <= 75 for o in shown)
    assert shown[0]["text"]["text"].startswith("v9&<!channel> · pushed ")  # plain_text: shown as it is
    assert "running now" in shown[0]["text"]["text"]
    assert "known bad: failed" in shown[1]["text"]["text"]
    assert "`v9&amp;&lt;!channel&gt;`" in context_of(view)
    assert "<!channel>" not in context_of(view)


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("v1.4.0-rc1", "v1.4.0-rc1"),
        ("release-2026-12-01-build-4711-" + "x" * 40, "release-2026-12-01-b"),  # at least 20 of a long tag
    ],
)
def test_a_tag_with_every_mark_keeps_its_name_in_the_option(tag: str, shown: str) -> None:
    """Running now, rolled back from and a pre-release at once: the marks are shortened, not the tag hidden."""
    choice = TagChoice(tag, 1.7e9, running=True, bad="rolled back from", pre_release=True)
    view = form(
        "deploy",
        SETTINGS,
        "C0OPS",
        "production",
        "service-a",
        Choices("deploy", "production", "service-a", tags=(choice,)),
    )
    text = select_options(view, "tag:")[0]["text"]["text"]
    assert text.startswith(shown)
    assert len(text) <= 75
    for mark in ("running", "rolled back", "pre-release", "2023-11-14"):
        assert mark in text, text
    assert view_problems(view) == []


def test_revisions_show_image_deployer_and_date_and_a_bad_deployer_id_is_escaped() -> None:
    revisions = (
        RevisionChoice(5, "v1.4.0", "U0DEPLOYER", 86400.0),
        RevisionChoice(4, "v1.3.0", "<!here>", None),
    )
    choices = Choices("rollback", "production", "service-a", revisions=revisions, current_revision=6)
    view = form("rollback", SETTINGS, "C0OPS", "production", "service-a", choices)
    assert view_problems(view) == []
    texts = [o["text"]["text"] for o in select_options(view, "revision:")]
    assert texts == ["revision 5 · v1.4.0 · 1970-01-02 00:00 UTC", "revision 4 · v1.3.0 · ?"]
    assert "deployed by <@U0DEPLOYER>" in context_of(view)
    assert "&lt;!here&gt;" in context_of(view)


def test_choices_of_another_service_are_not_shown_as_this_ones() -> None:
    # The person switched service while the first one's choices loaded: those are not shown for the second.
    choices = Choices("deploy", "production", "service-a", tags=(TagChoice("v1", 1.0),))
    view = form("deploy", SETTINGS, "C0OPS", "production", "service-b", choices)
    assert not [b for b in view["blocks"] if str(b.get("block_id", "")).startswith("tag:")]
    assert "Loading its newest image tags of *service-b*" in context_of(view)


def test_a_submission_stands_for_the_typed_command() -> None:
    parser = Parser(SETTINGS)
    values = {ENV_BLOCK: "staging", SERVICE_BLOCK: "service-a", "tag:staging:service-a": "v1.3.0"}
    command, text, errors = check(picked("deploy", values), parser)
    assert errors == {}
    assert text is not None
    assert text.shown == "/deploy service-a v1.3.0 staging"
    assert command == parser.parse("/deploy", "service-a v1.3.0 staging")
    # The same values give the same key (Slack's retries); other values another.
    again = typed(picked("deploy", values), parser.names)[0]
    other = typed(picked("deploy", {**values, "tag:staging:service-a": "v1.2.0"}), parser.names)[0]
    assert again is not None
    assert other is not None
    assert again.key == text.key != other.key


@pytest.mark.parametrize(
    ("kind", "values", "errors"),
    [
        ("deploy", {}, {ENV_BLOCK: "Pick an environment.", SERVICE_BLOCK: "Pick a service."}),
        (
            "scale",
            {ENV_BLOCK: "production", SERVICE_BLOCK: "service-a"},
            {"count:production:service-a": "Give a number of tasks, or auto."},
        ),
        (
            "deploy",
            {ENV_BLOCK: "production", SERVICE_BLOCK: "service-a", "tag:production:service-a": "latest"},
            {
                "tag:production:service-a": "latest cannot be deployed: it moves, so the deploy could not be "
                "reproduced or rolled back."
            },
        ),
        (
            "scale",
            {ENV_BLOCK: "production", SERVICE_BLOCK: "service-a", "count:production:service-a": "3 staging"},
            {"count:production:service-a": "One word only."},
        ),
        (
            "rollback",
            {ENV_BLOCK: "production", SERVICE_BLOCK: "service-a", "revision:production:service-a": "x"},
            {
                "revision:production:service-a": "x is not a revision number (revision numbers are positive integers, "
                "for example 41)."
            },
        ),
        (
            "deploy",
            {ENV_BLOCK: "production", SERVICE_BLOCK: "service-x"},
            {SERVICE_BLOCK: "Pick a service."},
        ),
    ],
)
def test_what_the_parser_refuses_goes_back_into_the_form(
    kind: str, values: dict[str, str], errors: dict[str, str]
) -> None:
    parser = Parser(SETTINGS)
    found = read_view(
        {
            "callback_id": f"modal_{kind}",
            "id": "V1",
            "hash": "h",
            "private_metadata": '{"channel": "C0OPS"}',
            "state": {"values": {b: {"a": {"type": "x", "value": v}} for b, v in values.items()}},
            "blocks": [{"block_id": f"choices:{kind}:{values.get(ENV_BLOCK)}:{values.get(SERVICE_BLOCK)}"}],
        },
        SETTINGS,
    )
    assert found is not None
    assert check(found, parser)[2] == errors


@pytest.mark.parametrize(
    ("shown", "error"),
    [
        (
            ("tag:production:service-a", "choices:deploy:production:service-a"),
            "The choices shown are service-a's in production, not service-b's in production: pick the service again.",
        ),
        (
            ("choices",),  # still loading
            "The choices of service-b in production have not loaded yet: wait a moment, or pick the service again.",
        ),
        (
            ("choices:deploy:staging:service-b",),
            "The choices shown are service-b's in staging, not service-b's in production: pick the service again.",
        ),
    ],
)
def test_a_submit_showing_other_choices_than_the_picked_ones_is_refused(shown: tuple[str, ...], error: str) -> None:
    values = {ENV_BLOCK: "production", SERVICE_BLOCK: "service-b", "tag:production:service-a": "v1.3.0"}
    stale = replace(picked("deploy", values), blocks=(ENV_BLOCK, SERVICE_BLOCK, *shown))
    assert typed(stale, Parser(SETTINGS).names) == (None, {SERVICE_BLOCK: error})


def test_each_services_count_and_choices_have_blocks_of_their_own() -> None:
    """Slack keeps an input's value while its block id stays: a count typed or shown for service-a has a block
    service-b's form never has, and what the choices say names whose they are."""
    a = Choices("scale", "production", "service-a", running=2, desired=2)
    b = Choices("scale", "production", "service-b", running=6, desired=6)
    kept = {"count:production:service-a": "2"}
    view = form("scale", SETTINGS, "C0OPS", "production", "service-b", b, kept)
    assert [blk["block_id"] for blk in view["blocks"]] == [
        "env",
        "service",
        "count:production:service-b",
        "choices:scale:production:service-b",
    ]
    assert view["blocks"][2]["element"]["initial_value"] == "6"
    before = form("scale", SETTINGS, "C0OPS", "production", "service-b", a, kept)  # service-a's, still loading b's
    assert [blk["block_id"] for blk in before["blocks"]] == ["env", "service", "choices"]


@pytest.mark.parametrize("metadata", ["", "{", '{"channel": "<!channel>"}', '{"channel": 5}', "[]"])
def test_a_form_whose_channel_is_not_a_channel_id_is_not_read(metadata: str) -> None:
    assert read_view({"callback_id": "modal_scale", "private_metadata": metadata}, SETTINGS) is None


class Later:
    """The stand-in's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def later() -> Later:
    return Later()


@pytest.fixture
def slack(later: Later) -> Any:
    stand_in = SlackStandIn(clock=later).start()
    yield stand_in
    stand_in.stop()


def test_a_form_slack_would_not_open_in_time_tells_to_type_the_command(bot: Bot, later: Later) -> None:
    body = bot.command_body("", DEPLOYER, command="/scale")
    later.now += 3.5  # the ack came after the trigger's 3 seconds (a cold start, say)
    status, ack = bot.send(body)
    bot.drain()
    assert status == 200
    assert "Slack did not open the form in time" in ack["text"]
    assert "Usage: `/scale &lt;service&gt; &lt;count|auto&gt; [env]`" in ack["text"]
    assert bot.slack.modal(DEPLOYER) is None


def test_a_cold_ack_opens_the_form_without_pydantic() -> None:
    """The form opens in the ack of a fresh process configured as the Slack function (docs/architecture.md,
    "Cold path"): from the ack's settings, without the config model or the dispatcher."""
    # Time stands still for the stand-in: the subprocess's start (its imports, on a loaded machine) is no ack's.
    stand_in = SlackStandIn(clock=lambda: 0.0).start()
    try:
        body = urllib.parse.urlencode(
            {"command": "/deploy", "text": "", "user_id": DEPLOYER, "channel_id": "C0OPS", "team_id": "T0TEST"}
            | {"trigger_id": stand_in.trigger(DEPLOYER), "response_url": "http://127.0.0.1:9/respond/cold"}
        )
        assert cold_ack(body, ("pydantic", "bot.config", "bot.dispatch"), slack_api_url=stand_in.api_url).loaded == []
        modal = stand_in.modal(DEPLOYER)
        assert modal is not None
        assert modal["callback_id"] == "modal_deploy"
    finally:
        stand_in.stop()


@pytest.mark.parametrize(
    ("names", "slash", "text", "kind"),
    [
        (CommandNames(), "/deploy", "", "deploy"),
        (CommandNames(), "/deploy", "  ", "deploy"),
        (CommandNames(), "/deploy", "service-a", None),  # a command of its own: the newest tag
        (CommandNames(), "/ops", "rollback", "rollback"),
        (CommandNames(), "/ops", "rollback service-a", None),
        (CommandNames(), "/status", "", None),
        (CommandNames("ops-"), "/ops-scale", "", "scale"),
        (CommandNames(single=True), "/ops", "Scale", "scale"),
        (CommandNames(single=True), "/ops", "", None),
    ],
)
def test_which_commands_open_a_form(names: CommandNames, slash: str, text: str, kind: str | None) -> None:
    from bot.app import _form_of

    data = config_data()
    data["slack"] = {"commands": {"prefix": names.prefix}} if names.prefix else {}
    if names.single:
        data["slack"] = {"commands": {"style": "single"}}
    assert _form_of(Parser(parse_config(data)), slash, text) == kind


class SlowSlack:
    """A Web API on 127.0.0.1 that answers every call after `delay` seconds (Slack having a slow moment)."""

    def __init__(self, delay: float) -> None:
        import http.server
        import threading

        delay_of = delay

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(delay_of)
                body = json.dumps({"ok": True, "view": {"id": "V1"}}).encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("left", "delay", "gave_up"), [(0.3, 1.0, True), (2.0, 0.5, False)])
def test_a_form_opened_late_in_the_ack_waits_for_slack_only_as_long_as_the_ack_has_left(
    left: float, delay: float, gave_up: bool
) -> None:
    """The ack's views.open waits no longer than the request has left of Slack's 3 s (a cold start and the replay
    record spent the rest): Slack slow to open it, the ack says in time to type the command instead. Slack
    opens the form after `delay`: an ack that waited for it would show the form, not the message. (How long the
    ack takes is the benchmark's: bench.ack_latency.)"""
    from slack_bolt import BoltRequest
    from slack_sdk import WebClient

    from bot.app import build_app

    slack = SlowSlack(delay=delay)
    try:
        client = WebClient(token=BOT_TOKEN, base_url=slack.url)
        app = build_app(
            Parser(SETTINGS), lambda: pytest.fail("no lazy work"), SIGNING_SECRET, client, ack_time_left=lambda: left
        )
        body = urllib.parse.urlencode(
            {"command": "/deploy", "text": "", "user_id": DEPLOYER, "channel_id": "C0OPS", "team_id": "T0TEST"}
            | {"trigger_id": "t1", "response_url": "http://127.0.0.1:9/respond"}
        )
        started = time.perf_counter()
        response = app.dispatch(BoltRequest(body=body, headers=signed_headers(body), mode="http"))
        elapsed = time.perf_counter() - started
    finally:
        slack.stop()
    assert response.status == 200
    if gave_up:
        assert "Slack did not open the form in time" in response.body
    else:
        assert elapsed >= delay
        assert response.body == ""


def test_the_ack_counts_its_time_from_the_requests_arrival(monkeypatch: pytest.MonkeyPatch) -> None:
    """handlers.slack gives bot.app the time left: 2.4 s from the arrival (the cold start's loading included in
    Lambda's on-demand start), never under 0.3 s."""
    import handlers
    from handlers import slack

    now = time.perf_counter()
    monkeypatch.setattr(slack, "_arrived", slack.ContextVar("arrived", default=now - 2.2))
    assert slack.ack_time_left() == pytest.approx(0.3)
    monkeypatch.setattr(slack, "_arrived", slack.ContextVar("arrived", default=now - 0.4))
    assert slack.ack_time_left() == pytest.approx(2.0, abs=0.05)

    monkeypatch.setattr(handlers, "LOADING_STARTED", now - 1.5)
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    for kind, first in [("on-demand", now - 1.5), ("snap-start", now), ("provisioned-concurrency", now)]:
        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", kind)
        monkeypatch.setattr(slack, "_first_request", True)
        assert (slack.arrival(now), slack.arrival(now)) == (first, now), kind  # the first request only
