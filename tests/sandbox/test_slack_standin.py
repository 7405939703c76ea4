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
    assert form["trigger_id"]
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
