"""The Slack stand-in rejects what Slack rejects, and the page talks to the bot exactly as Slack does.

Tests that post what Slack refuses on purpose are marked slack_invalid_payloads_expected, so that the
suite-wide payload check (tests/slack_payloads.py) leaves what they send out.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from harness import SIGNING_SECRET, Bot, signed_headers
from slack_payloads import problems
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot.config import parse_config
from bot.model import LogLine
from bot.render import logs_message
from sandbox.clock import SimulatedClock
from sandbox.slack_api import RateLimit, SlackStandIn
from sandbox.workspace import SlackWorkspace, users_from_roles

TOKEN = "xoxb-test"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn().start()
    yield stand_in
    stand_in.stop()


def call(
    slack: SlackStandIn, method: str, params: Any, content_type: str = "application/json"
) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    request = urllib.request.Request(
        slack.api_url + method,
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": "go", **extra}


GOOD = [
    {"type": "header", "text": {"type": "plain_text", "text": "Deploy"}},
    section("*bold* `code`"),
    {"type": "section", "fields": [{"type": "mrkdwn", "text": "a"}, {"type": "mrkdwn", "text": "b"}]},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "small"}]},
    {"type": "divider"},
    {"type": "actions", "elements": [button(style="primary", value="1"), button("No", style="danger", action_id="no")]},
]

REFUSED = {
    "51 blocks": ([section("x")] * 51, "invalid_blocks"),
    "blocks over 13k characters": ([section("x" * 2900)] * 5, "msg_blocks_too_long"),
    "section text over 3000": ([section("x" * 3001)], "invalid_blocks"),
    "header over 150": ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "invalid_blocks"),
    "header in mrkdwn": ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "invalid_blocks"),
    "11 fields": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        "invalid_blocks",
    ),
    "empty section": ([{"type": "section"}], "invalid_blocks"),
    "11 context elements": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "invalid_blocks",
    ),
    "26 buttons": ([{"type": "actions", "elements": [button(action_id=f"b{i}") for i in range(26)]}], "invalid_blocks"),
    "button text over 75": ([{"type": "actions", "elements": [button("b" * 76)]}], "invalid_blocks"),
    "button value over 2000": ([{"type": "actions", "elements": [button(value="v" * 2001)]}], "invalid_blocks"),
    "unknown button style": ([{"type": "actions", "elements": [button(style="green")]}], "invalid_blocks"),
    "unknown block type": ([{"type": "banner", "text": "x"}], "invalid_blocks"),
    "block without type": ([{"text": {"type": "mrkdwn", "text": "x"}}], "invalid_blocks"),
    "blocks not a list": ({"type": "divider"}, "invalid_blocks_format"),
    "two buttons with one action_id in a block": (
        [{"type": "actions", "elements": [button("Yes"), button("No")]}],
        "invalid_blocks",
    ),
    "two blocks with one block_id": (
        [{**section("a"), "block_id": "same"}, {**section("b"), "block_id": "same"}],
        "invalid_blocks",
    ),
    "button url over 3000": (
        [{"type": "actions", "elements": [button(url="https://example.com/" + "u" * 2981)]}],
        "invalid_blocks",
    ),
    "accessory button url over 3000": (
        [{**section("x"), "accessory": button(url="https://example.com/" + "u" * 2981)}],
        "invalid_blocks",
    ),
    "image url over 3000": (
        [{"type": "image", "image_url": "https://example.com/" + "i" * 2981, "alt_text": "chart"}],
        "invalid_blocks",
    ),
    "image without alt_text": ([{"type": "image", "image_url": "https://example.com/a.png"}], "invalid_blocks"),
    "image alt_text over 2000": (
        [{"type": "image", "image_url": "https://example.com/a.png", "alt_text": "a" * 2001}],
        "invalid_blocks",
    ),
    "image with both image_url and slack_file": (
        [{"type": "image", "image_url": "https://e.com/a.png", "slack_file": {"id": "F1"}, "alt_text": "a"}],
        "invalid_blocks",
    ),
    "image with neither image_url nor slack_file": ([{"type": "image", "alt_text": "a"}], "invalid_blocks"),
    "image slack_file without id or url": ([{"type": "image", "slack_file": {}, "alt_text": "a"}], "invalid_blocks"),
    "image title in mrkdwn": (
        [
            {
                "type": "image",
                "image_url": "https://e.com/a.png",
                "alt_text": "a",
                "title": {"type": "mrkdwn", "text": "*t*"},
            }
        ],
        "invalid_blocks",
    ),
    "context image url over 3000": (
        [
            {
                "type": "context",
                "elements": [{"type": "image", "image_url": "https://e.com/" + "i" * 2988, "alt_text": "a"}],
            }
        ],
        "invalid_blocks",
    ),
}

ACCEPTED = {
    "one action_id in two blocks": [
        {"type": "actions", "elements": [button("Yes")]},
        {"type": "actions", "elements": [button("No")]},
    ],
    "a url of exactly 3000": [{"type": "actions", "elements": [button(url="https://example.com/" + "u" * 2980)]}],
    "blocks without block_id": [section("a"), section("b")],
    "an image by url with alt_text of exactly 2000 and a title": [
        {
            "type": "image",
            "image_url": "https://example.com/chart.png",
            "alt_text": "a" * 2000,
            "title": {"type": "plain_text", "text": "CPU"},
        }
    ],
}


def test_well_formed_block_kit_is_accepted_and_kept(slack: SlackStandIn) -> None:
    status, body, _ = call(slack, "chat.postMessage", {"channel": "C1", "text": "fallback", "blocks": GOOD})
    assert (status, body["ok"]) == (200, True)
    assert slack.channel("C1")[0].blocks == GOOD


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.slack_invalid_payloads_expected
def test_block_kit_that_slack_refuses_is_refused(slack: SlackStandIn, case: str) -> None:
    blocks, error = REFUSED[case]
    _, body, _ = call(slack, "chat.postMessage", {"channel": "C1", "text": "t", "blocks": blocks})
    assert body == {"ok": False, "error": error}
    assert slack.channel("C1") == []


@pytest.mark.parametrize("case", ACCEPTED)
def test_what_slack_accepts_near_those_limits_is_accepted(slack: SlackStandIn, case: str) -> None:
    _, body, _ = call(slack, "chat.postMessage", {"channel": "C1", "text": "t", "blocks": ACCEPTED[case]})
    assert body["ok"], body
    assert slack.channel("C1")[0].blocks == ACCEPTED[case]


@pytest.mark.slack_invalid_payloads_expected
def test_too_long_text_and_missing_text_are_refused(slack: SlackStandIn) -> None:
    assert call(slack, "chat.postMessage", {"channel": "C1", "text": "x" * 40_001})[1]["error"] == "msg_too_long"
    assert call(slack, "chat.postMessage", {"channel": "C1"})[1]["error"] == "no_text"
    assert call(slack, "chat.postMessage", {"text": "where?"})[1]["error"] == "channel_not_found"


@pytest.mark.slack_invalid_payloads_expected
def test_malformed_payloads_are_refused(slack: SlackStandIn) -> None:
    assert call(slack, "chat.postMessage", b"{not json")[1]["error"] == "invalid_json"
    assert call(slack, "chat.postMessage", b"[1, 2]")[1]["error"] == "invalid_json"
    form = urllib.parse.urlencode({"channel": "C1", "text": "t", "blocks": "[{"}).encode()
    assert call(slack, "chat.postMessage", form, "application/x-www-form-urlencoded")[1]["error"] == "invalid_json"
    assert slack.channel("C1") == []


def test_updates_only_the_bots_own_existing_messages(slack: SlackStandIn) -> None:
    assert call(slack, "chat.update", {"channel": "C1", "ts": "1.000001", "text": "x"})[1]["error"] == (
        "message_not_found"
    )
    ephemeral = call(slack, "chat.postEphemeral", {"channel": "C1", "user": "U1", "text": "only you"})[1]
    update = {"channel": "C1", "ts": ephemeral["message_ts"], "text": "x"}
    assert call(slack, "chat.update", update)[1]["error"] == "message_not_found"
    assert call(slack, "chat.postEphemeral", {"channel": "C1", "text": "to nobody"})[1]["error"] == (
        "user_not_in_channel"
    )


def test_a_reply_to_a_thread_that_does_not_exist_is_refused(slack: SlackStandIn) -> None:
    body = call(slack, "chat.postMessage", {"channel": "C1", "text": "r", "thread_ts": "9.000009"})[1]
    assert body["error"] == "thread_not_found"


def test_posting_faster_than_slack_allows_gets_429_with_retry_after() -> None:
    slack = SlackStandIn(rate_limit=RateLimit(burst=3, per_second=1.0)).start()
    try:
        answers = [call(slack, "chat.postMessage", {"channel": "C1", "text": str(i)}) for i in range(5)]
        other_channel = call(slack, "chat.postMessage", {"channel": "C2", "text": "elsewhere"})
    finally:
        slack.stop()
    assert [status for status, _, _ in answers] == [200, 200, 200, 429, 429]
    assert answers[3][1] == {"ok": False, "error": "ratelimited"}
    assert int(answers[3][2]["Retry-After"]) >= 1
    assert other_channel[0] == 200
    assert len(slack.channel("C1")) == 3


def respond(slack: SlackStandIn, name: str, body: Any) -> tuple[int, bytes]:
    request = urllib.request.Request(
        slack.response_url(name),
        data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.slack_invalid_payloads_expected
def test_response_url_refuses_malformed_bodies_and_a_sixth_use(slack: SlackStandIn) -> None:
    assert respond(slack, "r1", b"{oops") == (400, b"invalid_payload")
    assert respond(slack, "r1", [1]) == (400, b"invalid_payload")
    assert respond(slack, "r1", {"blocks": [section("x" * 3001)]}) == (400, b"invalid_blocks")
    assert [respond(slack, "r1", {"text": f"answer {i}"})[0] for i in range(6)] == [200] * 5 + [404]
    assert respond(slack, "r2", {"text": "another url"})[0] == 200


def test_response_url_expires_30_minutes_after_the_interaction() -> None:
    clock = SimulatedClock()
    slack = SlackStandIn(clock=clock).start()
    try:
        slack.response_url("click")  # Slack hands the URL out with the interaction
        clock.at += 29 * 60
        in_time = respond(slack, "click", {"text": "still in time"})
        clock.at += 61
        late = respond(slack, "click", {"text": "too late"})
        slack.response_url("other")
        fresh = respond(slack, "other", {"text": "a newer interaction"})
    finally:
        slack.stop()
    assert in_time == (200, b"ok")
    assert late == (404, b"expired_url")
    assert fresh == (200, b"ok")
    assert [r["text"] for r in slack.responses()] == ["still in time", "a newer interaction"]


def test_the_five_uses_of_a_response_url_are_counted_within_its_30_minutes() -> None:
    clock = SimulatedClock()
    slack = SlackStandIn(clock=clock).start()
    try:
        slack.response_url("r")
        answers = []
        for i in range(6):
            clock.at += 60
            answers.append(respond(slack, "r", {"text": f"answer {i}"})[1])
    finally:
        slack.stop()
    assert answers == [b"ok"] * 5 + [b"used_url"]


# --- the page's side: commands and clicks are sent as Slack sends them ------------------------------


class FakeApp:
    """Stands where the bot's API Gateway would: records each request and acks."""

    def __init__(self, ack: bytes = b"") -> None:
        self.requests: list[tuple[dict[str, str], str]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                app.requests.append((dict(self.headers.items()), raw))
                self.send_response(200)
                self.send_header("Content-Length", str(len(ack)))
                self.end_headers()
                self.wfile.write(ack)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CONFIG = parse_config(
    {
        "project": "ecs-microservices",
        "environments": [
            {
                "name": "production",
                "region": "us-east-1",
                "account_id": "123456789012",
                "roles": {"admin": ["U0ADMIN"], "deployer": ["U0DEPLOYER", "S0GROUP"], "viewer": ["*"]},
            }
        ],
        "services": [{"name": "service-a"}],
    }
)


@pytest.fixture
def app() -> Iterator[FakeApp]:
    fake = FakeApp(ack=json.dumps({"text": "Usage: /deploy <service> <tag>"}).encode())
    yield fake
    fake.stop()


@pytest.fixture
def workspace(app: FakeApp) -> Iterator[SlackWorkspace]:
    page = SlackWorkspace(CONFIG, app.url, "page-secret", None)
    page.start()
    yield page
    page.stop()


def test_the_composers_people_come_from_the_configs_roles() -> None:
    users = {(u.id, u.role) for u in users_from_roles(CONFIG)}
    assert users == {("U0ADMIN", "admin"), ("U0DEPLOYER", "deployer"), ("U0SOMEONE", "viewer (everyone)")}


def test_a_slash_command_is_form_encoded_and_signed_as_slack_signs_it(workspace: SlackWorkspace, app: FakeApp) -> None:
    assert workspace.command("U0DEPLOYER", "/deploy service-a v1.3.0")["ok"]
    ((headers, body),) = app.requests
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier("page-secret").is_valid(
        body=body, timestamp=headers["X-Slack-Request-Timestamp"], signature=headers["X-Slack-Signature"]
    )
    assert not SignatureVerifier("another-secret").is_valid(
        body=body, timestamp=headers["X-Slack-Request-Timestamp"], signature=headers["X-Slack-Signature"]
    )
    form = dict(urllib.parse.parse_qsl(body))
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == (
        "/deploy",
        "service-a v1.3.0",
        "U0DEPLOYER",
        "C0OPS",
    )
    assert form["response_url"].startswith(workspace.base_url + "/respond/")
    opened = call(workspace, "views.open", {"trigger_id": form["trigger_id"], "view": modal_view()})[1]
    assert opened["ok"], opened  # a trigger_id the stand-in issued: the app can open a modal with it
    # The ack's text is shown to that person only, as Slack shows it.
    seen_by_them = [m["text"] for m in workspace.visible("U0DEPLOYER")]
    assert "Usage: /deploy <service> <tag>" in seen_by_them
    assert not [m for m in workspace.visible("U0ADMIN") if m["ephemeral"]]


def test_a_click_sends_the_signed_block_actions_payload(workspace: SlackWorkspace, app: FakeApp) -> None:
    _, posted, _ = call(workspace, "chat.postMessage", {"channel": "C0OPS", "text": "plan", "blocks": GOOD})
    assert posted["ok"]
    assert workspace.click("U0ADMIN", posted["ts"], "go")["ok"]
    headers, body = app.requests[-1]
    assert SignatureVerifier("page-secret").is_valid(
        body=body, timestamp=headers["X-Slack-Request-Timestamp"], signature=headers["X-Slack-Signature"]
    )
    payload = json.loads(dict(urllib.parse.parse_qsl(body))["payload"])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0ADMIN"
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C0OPS",
        "is_ephemeral": False,
    }
    assert payload["actions"][0]["action_id"] == "go"
    assert payload["actions"][0]["value"] == "1"
    assert payload["message"]["blocks"] == GOOD
    assert call(workspace, "views.open", {"trigger_id": payload["trigger_id"], "view": modal_view()})[1]["ok"]
    assert workspace.click("U0ADMIN", posted["ts"], "no-such-button") == {
        "ok": False,
        "error": "no such button on that message",
    }


def test_response_url_answers_reach_only_the_person_who_asked(workspace: SlackWorkspace, app: FakeApp) -> None:
    workspace.command("U0DEPLOYER", "/status")
    url = dict(urllib.parse.parse_qsl(app.requests[-1][1]))["response_url"]
    name = urllib.parse.unquote(url.rpartition("/respond/")[2])
    assert respond(workspace, name, {"text": "all good", "response_type": "ephemeral"})[0] == 200
    assert "all good" in [m["text"] for m in workspace.visible("U0DEPLOYER")]
    assert "all good" not in [m["text"] for m in workspace.visible("U0ADMIN")]
    assert respond(workspace, name, {"text": "for everyone", "response_type": "in_channel"})[0] == 200
    assert "for everyone" in [m["text"] for m in workspace.visible("U0ADMIN")]


def test_a_command_the_app_does_not_declare_never_reaches_it(workspace: SlackWorkspace, app: FakeApp) -> None:
    assert workspace.command("U0DEPLOYER", "/deploi service-a v1")["error"] == "unknown command"
    assert app.requests == []
    assert "/deploi is not a valid command" in workspace.visible("U0DEPLOYER")[-1]["text"]


def test_what_a_person_types_is_escaped_as_slack_escapes_it(workspace: SlackWorkspace, app: FakeApp) -> None:
    assert workspace.command("U0DEPLOYER", "/ops lock service-a db & <migration>")["ok"]
    form = dict(urllib.parse.parse_qsl(app.requests[-1][1]))
    assert form["text"] == "lock service-a db &amp; &lt;migration&gt;"
    assert workspace.command("U0ADMIN", "<b>x</b> & co")["ok"]  # not a command: a message in the channel
    assert len(app.requests) == 1
    said = [m for m in workspace.visible("U0DEPLOYER") if m["user"] == "U0ADMIN"]
    assert [(m["text"], m["ephemeral"]) for m in said] == [("&lt;b&gt;x&lt;/b&gt; &amp; co", False)]
    echo = next(m for m in workspace.visible("U0DEPLOYER") if m["user"] == "U0DEPLOYER")
    assert echo["text"] == "/ops lock service-a db &amp; &lt;migration&gt;"


def test_a_message_typed_to_the_channel_gets_a_note_that_the_app_answers_slash_commands(
    workspace: SlackWorkspace, app: FakeApp
) -> None:
    assert workspace.command("U0DEPLOYER", "can someone deploy service-a?") == {"ok": True, "posted": True}
    assert app.requests == []  # the app hears slash commands only
    seen_by_author = [(m["user_name"], m["text"], m["ephemeral"]) for m in workspace.visible("U0DEPLOYER")]
    assert seen_by_author == [
        ("deployer", "can someone deploy service-a?", False),
        ("Slackbot", "fargate-chatops answers slash commands, not messages: type one, e.g. `/ops help`.", True),
    ]
    assert [(m["text"], m["ephemeral"]) for m in workspace.visible("U0ADMIN")] == [
        ("can someone deploy service-a?", False)
    ]


def test_logs_of_fifty_long_lines_fit_in_one_message_slack_accepts_with_the_newest_lines() -> None:
    from sandbox.slack_api import block_problems

    lines = service_log_lines(50)
    message = logs_message("service-a", "production", lines, "15m", None, "https://example.com/logs", 50)
    assert block_problems(message["blocks"]) is None  # not msg_blocks_too_long
    boxes = [b["text"]["text"].strip("`").splitlines() for b in message["blocks"] if "```" in str(b)]
    shown = [line for box in boxes for line in box]
    assert shown == [log_text(line) for line in lines[-len(shown) :]]  # the newest, in order
    assert max(map(len, boxes)) - min(map(len, boxes)) <= 1  # even boxes, no lone last line
    note = message["blocks"][-1]["elements"][0]["text"]
    assert note.startswith(f"50 lines (at most 50); the oldest {50 - len(shown)} left out to fit Slack")


def service_log_lines(count: int) -> list[LogLine]:
    """Request log lines as the sandbox's services write them (about 250 characters of JSON each)."""
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    return [
        LogLine(
            start + timedelta(seconds=i),
            json.dumps(
                {
                    "timestamp": (start + timedelta(seconds=i)).isoformat(),
                    "level": "INFO",
                    "service": "service-a",
                    "logger": "service_a.access",
                    "message": "request",
                    "request_id": f"{i:032x}",
                    "method": "GET",
                    "path": "/api/backend",
                    "status": 200,
                    "duration_ms": 12.5,
                }
            ),
            "ecs/service-a/1",
        )
        for i in range(count)
    ]


def log_text(line: LogLine) -> str:
    return f"{line.timestamp:%H:%M:%S} {line.message}"


# --- files: the external upload flow, through slack_sdk's own files_upload_v2 ------------------------------

PNG = bytes.fromhex("89504e470d0a1a0a") + b"\0" * 64  # enough of a PNG for the stand-in, which keeps bytes


def web_client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url)


def image(file_id: str) -> dict[str, Any]:
    return {"type": "image", "slack_file": {"id": file_id}, "alt_text": "CPU of service-a", "title": plain("CPU")}


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def test_files_upload_v2_without_a_channel_keeps_the_file_private_and_posts_nothing(slack: SlackStandIn) -> None:
    answer = web_client(slack).files_upload_v2(filename="cpu.png", content=PNG, title="CPU", alt_txt="CPU graph")
    file = answer["file"]
    assert (file["title"], file["name"], file["channels"], file["is_public"]) == ("CPU", "cpu.png", [], False)
    assert slack.calls("files.getUploadURLExternal")[0].params["length"] == str(len(PNG))
    assert [c.method for c in slack.calls()] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert slack.channel("C1") == []
    with urllib.request.urlopen(f"{slack.base_url}/files/{file['id']}", timeout=5) as response:
        assert (response.read(), response.headers["Content-Type"]) == (PNG, "image/png")


def test_a_just_uploaded_file_is_processed_after_the_first_files_info(slack: SlackStandIn) -> None:
    client = web_client(slack)
    file_id = client.files_upload_v2(filename="cpu.png", content=PNG, title="CPU")["file"]["id"]
    assert client.files_info(file=file_id)["file"]["mimetype"] == ""  # Slack processes uploads asynchronously
    info = client.files_info(file=file_id)["file"]
    assert (info["mimetype"], info["filetype"], info["size"]) == ("image/png", "png", len(PNG))
    with pytest.raises(SlackApiError) as refused:
        client.files_info(file="F404")
    assert refused.value.response["error"] == "file_not_found"


@pytest.mark.slack_invalid_payloads_expected  # an image block the stand-in must refuse, on purpose
def test_an_image_block_with_an_unprocessed_or_unknown_slack_file_is_refused_as_slack_refuses_it(
    slack: SlackStandIn,
) -> None:
    client = web_client(slack)
    file_id = client.files_upload_v2(filename="cpu.png", content=PNG, title="CPU")["file"]["id"]
    for blocks in ([section("card"), image(file_id)], [image("F0000000404")]):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel="C1", text="card", blocks=blocks)
        index = len(blocks) - 1
        assert refused.value.response.data == {
            "ok": False,
            "error": "invalid_blocks",
            "errors": [f"invalid slack file [json-pointer:/blocks/{index}/slack_file]"],
        }
    posted = client.chat_postMessage(channel="C1", text="card", blocks=[section("card")])
    with pytest.raises(SlackApiError):
        client.chat_update(channel="C1", ts=posted["ts"], text="card", blocks=[section("card"), image(file_id)])


def test_a_processed_file_shows_in_an_image_block_by_id_or_by_its_url(slack: SlackStandIn) -> None:
    client = web_client(slack)
    file = client.files_upload_v2(filename="cpu.png", content=PNG, title="CPU")["file"]
    while not client.files_info(file=file["id"])["file"]["mimetype"]:
        pass
    posted = client.chat_postMessage(channel="C1", text="card", blocks=[section("card")])
    client.chat_update(channel="C1", ts=posted["ts"], text="card", blocks=[section("card"), image(file["id"])])
    by_url = {**image(file["id"]), "slack_file": {"url": file["url_private"]}}
    client.chat_postMessage(channel="C1", text="again", blocks=[by_url])
    assert [m.blocks[-1]["type"] for m in slack.channel("C1")] == ["image", "image"]


def test_a_file_completed_with_a_channel_and_thread_is_shared_there_as_a_message(slack: SlackStandIn) -> None:
    client = web_client(slack)
    card = client.chat_postMessage(channel="C1", text="card")
    answer = client.files_upload_v2(
        channel="C1",
        thread_ts=card["ts"],
        content="# Postmortem\n",
        filename="postmortem.md",
        title="Postmortem draft",
        snippet_type="markdown",
        initial_comment="A draft to edit",
    )
    reply = slack.channel("C1")[-1]
    assert (reply.thread_ts, reply.text) == (card["ts"], "A draft to edit")
    assert [(f["id"], f["title"], f["mode"]) for f in reply.files] == [
        (answer["file"]["id"], "Postmortem draft", "snippet")
    ]
    assert answer["file"]["shares"]["public"]["C1"][0]["ts"] == reply.ts
    with pytest.raises(SlackApiError) as refused:
        client.files_upload_v2(channel="C1", thread_ts="1.000404", content="x", filename="x.md", title="x")
    assert refused.value.response["error"] == "invalid_thread_ts"


def test_a_failed_upload_url_fails_files_upload_v2_and_nothing_is_completed(slack: SlackStandIn) -> None:
    slack.inject("upload", 500)
    with pytest.raises(urllib.error.HTTPError):  # slack_sdk lets urllib's error out of files_upload_v2
        web_client(slack).files_upload_v2(filename="cpu.png", content=PNG, title="CPU")
    assert slack.calls("files.completeUploadExternal") == []


def test_the_upload_flow_refuses_what_slack_refuses(slack: SlackStandIn) -> None:
    assert call(slack, "files.getUploadURLExternal", {"filename": "a.png", "length": 0})[1]["error"] == "invalid_length"
    assert call(slack, "files.getUploadURLExternal", {"length": 5})[1]["error"] == "invalid_arguments"
    announced = call(slack, "files.getUploadURLExternal", {"filename": "a.png", "length": 5})[1]
    not_uploaded = call(slack, "files.completeUploadExternal", {"files": [{"id": announced["file_id"]}]})[1]
    assert not_uploaded["error"] == "file_not_found"  # its bytes never reached the upload_url


def test_the_payload_check_knows_the_image_rules() -> None:
    assert problems("chat.postMessage", {"text": "t", "blocks": [image("F1")]}) == []
    found = problems("chat.postMessage", {"text": "t", "blocks": [{"type": "image", "slack_file": {}}]})
    assert any("alt_text missing" in p for p in found)
    assert any("slack_file needs an id" in p for p in found)


# --- views: trigger_ids, Block Kit limits for views, update/push/publish ------------------------------------------


def modal_view(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "title": plain("Deploy"), "blocks": list(blocks) or [section("hi")]}
    return view | extra


def select_input(
    block_id: str = "service", values: tuple[str, ...] = ("service-a", "service-b"), **extra: Any
) -> dict[str, Any]:
    element = {
        "type": "static_select",
        "action_id": "pick",
        "placeholder": plain("Pick one"),
        "options": [{"text": plain(v), "value": v} for v in values],
    }
    return {"type": "input", "block_id": block_id, "label": plain("Service"), "element": element} | extra


def text_input(block_id: str = "reason") -> dict[str, Any]:
    element = {"type": "plain_text_input", "action_id": "text"}
    return {"type": "input", "block_id": block_id, "label": plain("Reason"), "element": element, "optional": True}


def texts(view: dict[str, Any] | None) -> list[str]:
    """The texts of a stored view's sections (Slack gave each block a block_id)."""
    assert view is not None
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


class Ticking:
    """The stand-in's clock, moved by hand."""

    def __init__(self) -> None:
        self.at = 100.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def ticking() -> Iterator[tuple[SlackStandIn, Ticking]]:
    clock = Ticking()
    stand_in = SlackStandIn(clock=clock).start()
    yield stand_in, clock
    stand_in.stop()


def test_views_open_takes_a_trigger_id_once_and_records_the_modal(slack: SlackStandIn) -> None:
    trigger = slack.trigger("U1")
    view = modal_view(select_input(), submit=plain("Deploy"), callback_id="deploy", private_metadata="m")
    status, body, _ = call(slack, "views.open", {"trigger_id": trigger, "view": view})
    assert status == 200, body
    assert body["ok"], body
    opened = body["view"]
    assert opened["id"].startswith("V")
    assert opened["root_view_id"] == opened["id"]
    assert opened["hash"]
    assert opened["callback_id"] == "deploy"
    assert opened["private_metadata"] == "m"
    assert slack.modal("U1") == opened
    assert slack.modal("U2") is None
    assert [(e.method, e.user) for e in slack.views("U1")] == [("views.open", "U1")]
    again = call(slack, "views.open", {"trigger_id": trigger, "view": view})[1]
    assert again == {"ok": False, "error": "exchanged_trigger_id"}


@pytest.mark.slack_invalid_payloads_expected
def test_an_unknown_or_missing_trigger_id_is_refused(slack: SlackStandIn) -> None:
    assert call(slack, "views.open", {"trigger_id": "12345.98765.abcd", "view": modal_view()})[1]["error"] == (
        "invalid_trigger_id"
    )
    missing = call(slack, "views.open", {"view": modal_view()})[1]
    assert missing["error"] == "invalid_arguments"
    assert "trigger_id" in missing["response_metadata"]["messages"][0]


def test_a_trigger_id_expires_three_seconds_after_the_interaction(ticking: tuple[SlackStandIn, Ticking]) -> None:
    slack, clock = ticking
    in_time, late = slack.trigger("U1"), slack.trigger("U1")
    clock.at += 2.9
    assert call(slack, "views.open", {"trigger_id": in_time, "view": modal_view()})[1]["ok"]
    clock.at += 0.2
    assert call(slack, "views.open", {"trigger_id": late, "view": modal_view()})[1] == {
        "ok": False,
        "error": "expired_trigger_id",
    }


VIEW_REFUSED = {
    "no title": ({"type": "modal", "blocks": [section("x")]}, "/view/title"),
    "title over 24": (modal_view(title=plain("t" * 25)), "/view/title/text"),
    "mrkdwn title": (modal_view(title={"type": "mrkdwn", "text": "t"}), "/view/title/type"),
    "submit over 24": (modal_view(select_input(), submit=plain("s" * 25)), "/view/submit/text"),
    "close over 24": (modal_view(close=plain("c" * 25)), "/view/close/text"),
    "input without submit": (modal_view(select_input()), "/view/submit"),
    "101 blocks": (modal_view(*[section("x")] * 101), "/view/blocks"),
    "private_metadata over 3000": (modal_view(private_metadata="m" * 3001), "/view/private_metadata"),
    "callback_id over 255": (modal_view(callback_id="c" * 256), "/view/callback_id"),
    "unknown type": ({"type": "dialog", "blocks": []}, "/view/type"),
    "input without label": (
        modal_view({"type": "input", "element": {"type": "plain_text_input"}}, submit=plain("Go")),
        "/view/blocks/0/label",
    ),
    "input with a button": (
        modal_view({"type": "input", "label": plain("L"), "element": button()}, submit=plain("Go")),
        "/view/blocks/0/element/type",
    ),
    "label over 2000": (
        modal_view(select_input(label=plain("l" * 2001)), submit=plain("Go")),
        "/view/blocks/0/label/text",
    ),
    "select without options": (
        modal_view(
            {
                "type": "input",
                "label": plain("L"),
                "element": {"type": "static_select", "action_id": "a", "options": []},
            },
            submit=plain("Go"),
        ),
        "/view/blocks/0/element/options",
    ),
    "option value over 150": (modal_view(select_input(values=("v" * 151,)), submit=plain("Go")), "/value"),
    "initial option not offered": (
        modal_view(
            select_input()
            | {"element": select_input()["element"] | {"initial_option": {"text": plain("x"), "value": "x"}}},
            submit=plain("Go"),
        ),
        "/view/blocks/0/element/initial_option",
    ),
    "repeated block_id": (
        modal_view(section("a") | {"block_id": "b"}, section("c") | {"block_id": "b"}),
        "/view/blocks",
    ),
    "bad section": (modal_view(section("x" * 3001)), "/view/blocks/0"),
}


@pytest.mark.slack_invalid_payloads_expected
@pytest.mark.parametrize("case", sorted(VIEW_REFUSED))
def test_a_view_slack_refuses_gets_invalid_arguments_saying_where(slack: SlackStandIn, case: str) -> None:
    view, where = VIEW_REFUSED[case]
    status, body, _ = call(slack, "views.open", {"trigger_id": slack.trigger("U1"), "view": view})
    assert status == 200, body
    assert body["error"] == "invalid_arguments", body
    assert any(where in m and m.startswith("[ERROR]") for m in body["response_metadata"]["messages"]), body
    assert slack.modal("U1") is None
    assert problems("views.open", {"view": view}), f"the suite's payload check misses: {case}"


def test_a_view_at_slacks_limits_is_taken(slack: SlackStandIn) -> None:
    view = modal_view(
        *[section("x")] * 98,
        select_input(label=plain("l" * 2000), values=tuple(f"v{i}" for i in range(100))),
        text_input(),
        title=plain("t" * 24),
        submit=plain("s" * 24),
        close=plain("c" * 24),
        private_metadata="m" * 3000,
        callback_id="c" * 255,
    )
    assert call(slack, "views.open", {"trigger_id": slack.trigger("U1"), "view": view})[1]["ok"]
    assert problems("views.open", {"view": view}) == []


@pytest.mark.slack_invalid_payloads_expected
def test_views_update_by_id_or_external_id_keeps_input_and_refuses_a_stale_hash(slack: SlackStandIn) -> None:
    view = modal_view(select_input(), text_input(), submit=plain("Go"), external_id="deploy-U1")
    opened = call(slack, "views.open", {"trigger_id": slack.trigger("U1"), "view": view})[1]["view"]
    slack.select("U1", opened["id"], "service", "pick", "service-b")
    changed = modal_view(select_input(), section("the tags of service-b"), submit=plain("Go"), external_id="deploy-U1")
    updated = call(slack, "views.update", {"view_id": opened["id"], "hash": opened["hash"], "view": changed})[1]
    assert updated["ok"]
    assert updated["view"]["id"] == opened["id"]
    assert updated["view"]["hash"] != opened["hash"]
    assert updated["view"]["state"]["values"]["service"]["pick"]["selected_option"]["value"] == "service-b"
    stale = call(slack, "views.update", {"view_id": opened["id"], "hash": opened["hash"], "view": changed})[1]
    assert stale == {"ok": False, "error": "hash_conflict"}
    by_external = call(slack, "views.update", {"external_id": "deploy-U1", "view": changed})[1]
    assert by_external["ok"]
    assert by_external["view"]["id"] == opened["id"]
    assert call(slack, "views.update", {"view_id": "V404", "view": changed})[1]["error"] == "not_found"
    assert call(slack, "views.update", {"view": changed})[1]["error"] == "invalid_arguments"
    other = call(slack, "views.open", {"trigger_id": slack.trigger("U2"), "view": view})[1]
    assert other["error"] == "duplicate_external_id"
    home = call(slack, "views.update", {"view_id": opened["id"], "view": {"type": "home", "blocks": [section("x")]}})[1]
    assert home["error"] == "invalid_arguments"


@pytest.mark.slack_invalid_payloads_expected
def test_views_push_stacks_at_most_three_modals(slack: SlackStandIn) -> None:
    assert call(slack, "views.push", {"trigger_id": slack.trigger("U1"), "view": modal_view()})[1]["error"] == (
        "invalid_arguments"  # nothing open to push onto
    )
    root = call(slack, "views.open", {"trigger_id": slack.trigger("U1"), "view": modal_view()})[1]["view"]
    for _ in range(2):
        pushed = call(slack, "views.push", {"trigger_id": slack.trigger("U1"), "view": modal_view()})[1]
        assert pushed["ok"]
        assert pushed["view"]["root_view_id"] == root["id"]
    assert call(slack, "views.push", {"trigger_id": slack.trigger("U1"), "view": modal_view()})[1]["error"] == (
        "push_limit_reached"
    )
    assert len(slack.modal_stack("U1")) == 3


@pytest.mark.slack_invalid_payloads_expected
def test_views_publish_keeps_one_home_view_per_user(slack: SlackStandIn) -> None:
    home = {"type": "home", "blocks": [section("*production*")], "private_metadata": "p"}
    first = call(slack, "views.publish", {"user_id": "U1", "view": home})[1]
    assert first["ok"]
    assert first["view"]["type"] == "home"
    second = call(slack, "views.publish", {"user_id": "U1", "view": home | {"blocks": [section("v2")]}})[1]
    assert second["view"]["id"] == first["view"]["id"]
    assert texts(slack.home("U1")) == ["v2"]
    assert slack.home("U2") is None
    assert call(slack, "views.publish", {"user_id": "U1", "hash": first["view"]["hash"], "view": home})[1] == {
        "ok": False,
        "error": "hash_conflict",
    }
    assert call(slack, "views.publish", {"user_id": "U1", "view": modal_view()})[1]["error"] == "invalid_arguments"
    assert call(slack, "views.publish", {"view": home})[1]["error"] == "invalid_arguments"
    assert call(slack, "views.open", {"trigger_id": slack.trigger("U1"), "view": home})[1]["error"] == (
        "invalid_arguments"
    )
    assert [e.method for e in slack.views("U1")] == ["views.publish", "views.publish"]


def test_slack_sdk_opens_updates_and_publishes_views_on_the_stand_in(slack: SlackStandIn) -> None:
    client = web_client(slack)
    opened = client.views_open(trigger_id=slack.trigger("U1"), view=modal_view(select_input(), submit=plain("Go")))
    client.views_update(view_id=opened["view"]["id"], view=modal_view(section("done")))
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("home")]})
    assert texts(slack.modal("U1")) == ["done"]
    with pytest.raises(SlackApiError) as refused:
        client.views_open(trigger_id="nope", view=modal_view())
    assert refused.value.response["error"] == "invalid_trigger_id"


def test_a_submission_answer_is_applied_as_slack_applies_it(slack: SlackStandIn) -> None:
    view = modal_view(select_input(), text_input(), submit=plain("Go"))
    opened = call(slack, "views.open", {"trigger_id": slack.trigger("U1"), "view": view})[1]["view"]
    assert slack.fill("U1", opened["id"], {}) == {"service": "Please complete this required field."}
    assert slack.fill("U1", opened["id"], {"service": "service-a"}) == {}
    errors = {"response_action": "errors", "errors": {"service": "service-a is locked"}}
    assert slack.answered("U1", opened["id"], 200, errors) is None
    assert slack.modal_errors("U1") == {"service": "service-a is locked"}
    assert slack.answered("U1", opened["id"], 200, {"response_action": "errors", "errors": {"nope": "x"}})
    update = {"response_action": "update", "view": modal_view(section("plan posted"))}
    assert slack.answered("U1", opened["id"], 200, update) is None
    assert texts(slack.modal("U1")) == ["plan posted"]
    assert slack.modal_errors("U1") == {}
    assert slack.answered("U1", opened["id"], 200, {"response_action": "push", "view": modal_view()}) is None
    assert len(slack.modal_stack("U1")) == 2
    assert slack.answered("U1", slack.modal("U1")["id"], 200, {}) is None  # closes the top view only
    assert slack.modal("U1")["id"] == opened["id"]
    assert slack.answered("U1", opened["id"], 200, {"response_action": "clear"}) is None
    assert slack.modal("U1") is None
    assert [e.method for e in slack.views("U1")][-3:] == [
        "response_action:push",
        "response_action:close",
        "response_action:clear",
    ]


def test_the_payload_check_knows_the_view_rules() -> None:
    good = modal_view(select_input(), submit=plain("Go"), callback_id="deploy")
    assert problems("views.open", {"view": good}) == []
    assert problems("views.publish", {"view": {"type": "home", "blocks": [section("x")]}}) == []
    assert any("submit" in p for p in problems("views.open", {"view": modal_view(select_input())}))
    assert any("title" in p for p in problems("views.open", {"view": {"type": "modal", "blocks": []}}))
    assert any(
        "label" in p
        for p in problems("views.open", {"view": modal_view(select_input(label=plain("l" * 2001)), submit=plain("Go"))})
    )


# --- tests/harness.py's view helpers, through Slack's own framework ------------------------------------------------


class BoltBot(Bot):
    """The harness's Bot posting into a small slack_bolt App instead of the deployed handler: the helpers'
    payloads are signed, parsed and routed by Bolt as the bot's are."""

    def __init__(self, slack: SlackStandIn, app: Any) -> None:
        super().__init__(slack)
        self.app = app

    def send(
        self, body: str, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, dict[str, Any]]:
        from slack_bolt.request import BoltRequest

        sent = headers if headers is not None else signed_headers(body)
        response = self.app.dispatch(BoltRequest(body=body, headers={k: [v] for k, v in sent.items()}))
        return response.status, json.loads(response.body) if response.body else {}

    def drain(self) -> None:
        pass


REASON_LABEL = "Reason <i>why</i> & how"  # plain_text: shown as typed


def deploy_modal(*blocks: dict[str, Any]) -> dict[str, Any]:
    env = select_input("env", ("staging", "production")) | {"dispatch_action": True}
    reason = text_input("reason") | {"label": plain(REASON_LABEL)}
    return modal_view(env, reason, *blocks, submit=plain("Plan"), callback_id="deploy")


HOME_TEXT = "<img src=x onerror=alert(1)> & <b>not bold</b>"  # plain_text a page must show as typed


def views_app(api_url: str, secret: str = SIGNING_SECRET) -> tuple[Any, list[Any]]:
    """A small slack_bolt App using views as the bot does: /deploy opens a modal whose environment select
    (dispatch_action) adds a tag select by views.update; submitting tag "bad" answers response_action errors;
    the Home tab is published on app_home_opened with a Deploy button opening the modal. Returns the App
    and what its listeners saw."""
    from slack_bolt import App

    seen: list[Any] = []
    app = App(
        client=WebClient(token=TOKEN, base_url=api_url),
        signing_secret=secret,
        token_verification_enabled=False,
        ssl_check_enabled=False,
        process_before_response=True,  # listeners done when the answer is
    )

    @app.command("/deploy")
    def open_modal(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=deploy_modal())

    @app.action("pick")
    def environment_picked(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append(("action", body))
        tags = select_input("tag", ("v1", "bad"))
        client.views_update(view_id=body["view"]["id"], hash=body["view"]["hash"], view=deploy_modal(tags))

    @app.view("deploy")
    def submitted(ack: Any, view: dict[str, Any]) -> None:
        seen.append(("submission", view))
        tag = view["state"]["values"]["tag"]["pick"]["selected_option"]["value"]
        if tag == "bad":
            ack(response_action="errors", errors={"tag": "v-bad failed its health checks"})
        else:
            ack()

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        seen.append(("home", event))
        button_ = button("Deploy", action_id="home_deploy", value="service-a")
        blocks = [
            {"type": "header", "text": plain("production")},
            {"type": "section", "text": plain(HOME_TEXT)},
            {"type": "actions", "block_id": "do", "elements": [button_]},
        ]
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": blocks})

    @app.action("home_deploy")
    def home_deploy(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append(("home action", body))
        client.views_open(trigger_id=body["trigger_id"], view=deploy_modal())

    return app, seen


class BoltServer:
    """The views app behind a loopback HTTP port, where the page posts Slack's requests."""

    def __init__(self, app: Any) -> None:
        from slack_bolt.request import BoltRequest

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                headers = {k.lower(): [v] for k, v in self.headers.items()}
                response = app.dispatch(BoltRequest(body=body, headers=headers))
                raw = (response.body or "").encode()
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bolt_bot(slack: SlackStandIn) -> tuple[BoltBot, list[Any]]:
    app, seen = views_app(slack.api_url)
    return BoltBot(slack, app), seen


def test_the_harness_opens_picks_in_and_submits_a_modal_as_slack_does(bolt_bot: tuple[BoltBot, list[Any]]) -> None:
    bot, seen = bolt_bot
    assert bot.command("", user="U1", command="/deploy").status == 200
    modal = bot.slack.modal("U1")
    assert modal is not None
    assert modal["callback_id"] == "deploy"

    bot.view_action("U1", modal, "env", "pick", "staging")
    ((_, action_body),) = [s for s in seen if s[0] == "action"]
    assert action_body["container"] == {"type": "view", "view_id": modal["id"]}
    assert action_body["actions"][0]["selected_option"]["value"] == "staging"
    updated = bot.slack.modal("U1")
    assert [b["block_id"] for b in updated["blocks"]] == ["env", "reason", "tag"]
    assert updated["state"]["values"]["env"]["pick"]["selected_option"]["value"] == "staging"  # input kept

    refused = bot.submit_view("U1", updated, {"tag": "bad"})
    assert refused.ack == {"response_action": "errors", "errors": {"tag": "v-bad failed its health checks"}}
    assert bot.slack.modal_errors("U1") == {"tag": "v-bad failed its health checks"}
    assert bot.submit_view("U1", updated["id"], {"tag": "v1"}).ack == {}
    assert bot.slack.modal("U1") is None
    submitted = [s[1] for s in seen if s[0] == "submission"][-1]
    assert submitted["state"]["values"] == {
        "env": {"pick": {"type": "static_select", "selected_option": {"text": plain("staging"), "value": "staging"}}},
        "reason": {"text": {"type": "plain_text_input", "value": None}},  # untouched: null, as Slack sends it
        "tag": {"pick": {"type": "static_select", "selected_option": {"text": plain("v1"), "value": "v1"}}},
    }


def test_the_harness_refuses_what_slacks_client_would_not_send(bolt_bot: tuple[BoltBot, list[Any]]) -> None:
    bot, _ = bolt_bot
    bot.command("", user="U1", command="/deploy")
    modal = bot.slack.modal("U1")
    with pytest.raises(AssertionError, match="required"):
        bot.submit_view("U1", modal, {})
    with pytest.raises(AssertionError, match="dispatch_action"):
        bot.view_action("U1", bot.slack.modal("U1") | {"blocks": []}, "nope", "pick", "x")


def test_the_harness_opens_the_home_tab_and_presses_its_buttons(bolt_bot: tuple[BoltBot, list[Any]]) -> None:
    bot, seen = bolt_bot
    assert bot.open_home("U1").status == 200
    home = bot.slack.home("U1")
    assert home is not None
    assert [s[1]["tab"] for s in seen if s[0] == "home"] == ["home"]
    bot.view_action("U1", home, "do", "home_deploy")
    ((_, pressed),) = [s for s in seen if s[0] == "home action"]
    assert pressed["actions"][0]["value"] == "service-a"
    assert pressed["view"]["type"] == "home"
    assert bot.slack.modal("U1")["callback_id"] == "deploy"  # opened with the press's trigger_id
    assert bot.open_home("U1").status == 200
    assert [s[1].get("view", {}).get("id") for s in seen if s[0] == "home"] == [None, home["id"]]


# --- the page's routes for views: a modal and the Home tab, with the views app behind the page -------------------


@pytest.fixture
def views_workspace() -> Iterator[tuple[SlackWorkspace, list[Any]]]:
    page = SlackWorkspace(CONFIG, "http://127.0.0.1:9", "page-secret", None)
    page.start()
    app, seen = views_app(page.api_url, "page-secret")
    server = BoltServer(app)
    page.bot_url = server.url
    yield page, seen
    server.stop()
    page.stop()


def page_post(page: SlackWorkspace, route: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        page.base_url + route, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def page_state(page: SlackWorkspace, user: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{page.base_url}/page/state?user={user}&since=-1", timeout=10) as response:
        state: dict[str, Any] = json.loads(response.read())
    return state


def test_the_page_opens_fills_and_submits_a_modal_as_slack_does(
    views_workspace: tuple[SlackWorkspace, list[Any]],
) -> None:
    page, seen = views_workspace
    assert page_post(page, "/page/command", {"user": "U0DEPLOYER", "text": "/deploy"})[1]["ok"]
    modal = page_state(page, "U0DEPLOYER")["modal"]
    assert modal["title"]["text"] == "Deploy"
    assert page_state(page, "U0ADMIN")["modal"] is None  # only the one who typed it sees it
    pick = {"user": "U0DEPLOYER", "view_id": modal["id"], "block_id": "env", "action_id": "pick", "value": "staging"}
    assert page_post(page, "/page/view_action", pick)[1] == {"ok": True, "sent": True}  # dispatch_action
    updated = page_state(page, "U0DEPLOYER")["modal"]
    assert [b["block_id"] for b in updated["blocks"]] == ["env", "reason", "tag"]
    tag = pick | {"block_id": "tag", "value": "bad"}
    assert page_post(page, "/page/view_action", tag)[1] == {"ok": True, "sent": False}  # no dispatch_action: kept
    assert len([s for s in seen if s[0] == "action"]) == 1

    empty = {"user": "U0DEPLOYER", "view_id": modal["id"], "values": {"tag": None}}
    status, refused = page_post(page, "/page/view_submit", empty)
    assert status == 400
    assert refused["errors"] == {"tag": "Please complete this required field."}
    assert not [s for s in seen if s[0] == "submission"]  # Slack's client never sent it
    submit = empty | {"values": {"env": "staging", "tag": "bad"}}
    assert page_post(page, "/page/view_submit", submit)[1]["ack"]["response_action"] == "errors"
    state = page_state(page, "U0DEPLOYER")
    assert state["modal_errors"] == {"tag": "v-bad failed its health checks"}
    assert state["modal"]["id"] == modal["id"]
    assert page_post(page, "/page/view_submit", submit | {"values": {"tag": "v1"}})[1]["ok"]
    assert page_state(page, "U0DEPLOYER")["modal"] is None
    submitted = [s[1] for s in seen if s[0] == "submission"][-1]
    assert submitted["state"]["values"]["env"]["pick"]["selected_option"]["value"] == "staging"
    assert submitted["state"]["values"]["tag"]["pick"]["selected_option"]["value"] == "v1"


def test_the_page_opens_the_home_tab_and_its_buttons_open_a_modal(
    views_workspace: tuple[SlackWorkspace, list[Any]],
) -> None:
    page, seen = views_workspace
    assert page_state(page, "U0DEPLOYER")["home"] is None
    assert page_post(page, "/page/home", {"user": "U0DEPLOYER"})[1] == {"ok": True}
    home = page_state(page, "U0DEPLOYER")["home"]
    assert home["type"] == "home"
    assert [s[1]["user"] for s in seen if s[0] == "home"] == ["U0DEPLOYER"]
    press = {"user": "U0DEPLOYER", "view_id": home["id"], "block_id": "do", "action_id": "home_deploy"}
    assert page_post(page, "/page/view_action", press)[1]["sent"]
    assert page_state(page, "U0DEPLOYER")["modal"]["callback_id"] == "deploy"
    assert page_post(page, "/page/view_close", {"user": "U0DEPLOYER"})[1] == {"ok": True}
    assert page_state(page, "U0DEPLOYER")["modal"] is None
    assert page_post(page, "/page/home", {"user": "U0NOBODY"})[0] == 400
    wrong = press | {"user": "U0ADMIN"}
    assert page_post(page, "/page/view_action", wrong)[0] == 400  # another person's Home tab
