"""The page in a real browser: the README's walkthrough against `python -m sandbox` (what `make run`
starts), and the page's rendering of what the bot writes, which must be what Slack shows.

Walkthrough: a command's usage with its placeholders; deploy from the composer and watch the card reach
COMPLETED (and the service report the new version); fire an alarm from the page, see its graph arrive with
the deploy marked and what the deploy changed in its thread, roll back from its card, check in moto and on
the service that it is on the previous revision and version, and resolve it; read the service's timeline
(the deploy and the alarm) and share its postmortem draft with the channel. Then
issue 15's sequence: a bad build FAILS and the circuit breaker puts revision 3 back (no Roll back on its
card), /rollback plans the last known-good revision below 3, and the alarm fired again offers no "roll
back" forward to the revisions that failed or were rolled back from.
Issue 20's walkthrough, on its own sandbox: /deploy with no arguments opens the form, environment,
service, a tag loaded from moto's ECR, submit, the same plan card as the typed command, Confirm, and the
Home tab shows production's service-a on the new revision and tag (SANDBOX_MODAL_SCREENSHOT and
SANDBOX_HOME_SCREENSHOT save docs/modal.png and docs/app-home.png).

Rendering, against the page served by an in-process workspace (no bot needed): the renderer
(sandbox/static/slack_text.js) on Slack's formatting cases, a message posted through chat.postMessage
as a person sees it, and HTML typed into the composer shown as the characters typed. Views, against the
same page with a small slack_bolt app behind it (tests/sandbox/test_slack_standin.py's views_app): a
modal opened by a command, its dispatch_action select updating it, errors beside their blocks, closed
on submit; the Home tab published on opening it, shown as sent, its button opening the modal.

Debian's Chromium at /usr/bin/chromium, driven by Playwright (never `playwright install`). `make test`
installs it (`make browser`); in CI (CI=true) a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from browser_support import new_page
from sandbox_support import Sandbox
from test_slack_standin import HOME_TEXT, REASON_LABEL, BoltServer, log_text, service_log_lines, views_app

from bot.config import parse_config
from bot.render import logs_message
from sandbox.workspace import SlackWorkspace

pytestmark = pytest.mark.slow

ALARM = "ecs-microservices-production-service-a-cpu-high"


@pytest.fixture
def browser_page(chromium: Any, sandbox: Sandbox, tmp_path: Path) -> Iterator[Any]:
    sandbox.wait_page()
    yield from new_page(chromium, tmp_path)


def running_revision(sandbox: Sandbox) -> str:
    ecs = boto3.client(
        "ecs",
        region_name="us-east-1",
        endpoint_url=sandbox.aws_url,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    service = ecs.describe_services(
        cluster="ecs-microservices-production-cluster", services=["ecs-microservices-production-service-a"]
    )["services"][0]
    return str(service["taskDefinition"]).rpartition(":")[2]


def reported_version(sandbox: Sandbox) -> str:
    """What `curl localhost:8000/api/info` says service-a runs."""
    answer = httpx.get(f"http://127.0.0.1:{sandbox.ports['SERVICE_A_PORT']}/api/info", timeout=5)
    return str(answer.raise_for_status().json()["version"])


def type_command(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_deploy_then_roll_back_from_an_alarm_card_and_never_forward(sandbox: Sandbox, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    started = time.monotonic()
    page.goto(sandbox.page_url)
    expect(page.locator("#user")).to_have_value("U0DEPLOYER")
    assert (running_revision(sandbox), reported_version(sandbox)) == ("3", "v1.2.0")

    # A command typed without all its arguments answers with its usage, placeholders shown (issue 23); with
    # none at all it opens its form (issue 20, below).
    type_command(page, "/scale service-a")
    usage = page.locator("#messages > .msg.ephemeral", has_text="Usage:").last
    expect(usage).to_contain_text("Usage: /scale <service> <count|auto> [env]")
    expect(usage.locator("code", has_text="/scale")).to_have_text("/scale <service> <count|auto> [env]")

    # /deploy, confirm, and the card follows the rollout to COMPLETED; the service says the new version.
    type_command(page, "/deploy service-a v1.3.0")
    plan = page.locator("#messages > .msg", has_text="Plan: deploy service-a (production)")
    plan.get_by_role("button", name="Confirm").click()
    deploy_card = page.locator("#messages > .msg", has_text="deploy service-a (production)").first
    expect(deploy_card).to_contain_text(re.compile(r"Rollout: completed", re.IGNORECASE))
    expect(deploy_card.locator(".thread")).to_contain_text("Completed in")
    assert (running_revision(sandbox), reported_version(sandbox)) == ("4", "v1.3.0")
    deployed = time.monotonic()

    # The alarm fires (moto + the CloudWatch notification on SNS -> SQS -> the relay) and gets its card.
    page.locator(f'.alarm[data-alarm="{ALARM}"] button[data-state="ALARM"]').click()
    alarm_card = page.locator("#messages > .msg", has_text=f"ALARM: {ALARM}")
    expect(alarm_card).to_be_visible()
    alarm_ts = alarm_card.get_attribute("data-ts")
    # Issue 19: after the card, its graph: the metric the sandbox published over the last 3 h, drawn by the
    # sandbox's GetMetricWidgetImage, uploaded to the stand-in, with the deploy just made marked on it (the
    # image's title says so in words); and the deploy's changes in the card's thread.
    graph = alarm_card.locator(".b-image")
    expect(graph).to_contain_text(re.compile(r"The last 3 h to \d\d:\d\d UTC\. Changes: deploy v1\.3\.0 at \d\d:\d\d"))
    expect(graph.locator("img")).to_have_js_property("complete", True)
    assert graph.locator("img").evaluate("img => [img.naturalWidth, img.naturalHeight]")[0] > 300
    expect(alarm_card.locator(".thread")).to_contain_text("What changed")
    expect(alarm_card.locator(".thread")).to_contain_text("v1.3.0")
    if shot := os.environ.get("SANDBOX_GRAPH_SCREENSHOT"):  # docs/alarms.md's picture: the card with its graph
        alarm_card.screenshot(path=shot)
    alarm_card.get_by_role("button", name="Roll back to revision 3").click()
    rollback_plan = page.locator("#messages > .msg", has_text="Plan: Roll back service-a (production)")
    rollback_plan.get_by_role("button", name="Confirm").click()
    rollback_card = page.locator("#messages > .msg", has_text="Roll back service-a (production)").last
    expect(rollback_card).to_contain_text(re.compile(r"Rollout: completed", re.IGNORECASE))
    # Back on the revision that ran before the deploy, and the service says so too.
    assert (running_revision(sandbox), reported_version(sandbox)) == ("3", "v1.2.0")
    rolled_back = time.monotonic()

    # OK resolves the same card.
    page.locator(f'.alarm[data-alarm="{ALARM}"] button[data-state="OK"]').click()
    card = page.locator(f'#messages > .msg[data-ts="{alarm_ts}"]')
    expect(card).to_contain_text(f"RESOLVED: {ALARM}")
    expect(card.get_by_role("button", name=re.compile(r"^Roll back"))).to_have_count(0)
    resolved = time.monotonic()

    # Issue 19: the service's timeline, for the one who asked: the deploy (the bot's audit trail) and the alarm
    # (its history).
    type_command(page, "/ops timeline service-a")
    timeline = page.locator("#messages > .msg.ephemeral", has_text="Timeline: service-a").last
    expect(timeline).to_contain_text("deploy service-a v1.3.0")
    expect(timeline).to_contain_text(re.compile(rf"{ALARM}.*OK → ALARM|OK → ALARM.*{ALARM}", re.DOTALL))
    if shot := os.environ.get("SANDBOX_SCREENSHOT"):  # the README's picture: the timeline of it all
        page.locator("#messages").evaluate("list => list.scrollTop = list.scrollHeight")
        page.screenshot(path=shot)
    # Its Export shares the postmortem draft with the channel: a Markdown snippet with the impact window.
    timeline.get_by_role("button", name="Export").click()
    draft = page.locator("#messages > .msg", has_text="Postmortem draft: service-a").last.locator(".b-file.snippet")
    expect(draft).to_contain_text("## Impact window")
    expect(draft).to_contain_text("## Actions taken")

    # Issue 15, item 1: a bad build fails and the circuit breaker puts revision 3 back; nothing offers to
    # "roll back" forward to revision 4 (rolled back from) or 5 (failed) from here on.
    type_command(page, "/deploy service-a v1.4.0-rc1")
    bad_plan = page.locator("#messages > .msg", has_text="Plan: deploy service-a (production)")
    bad_plan.get_by_role("button", name="Confirm").click()
    failed_card = page.locator("#messages > .msg", has_text="v1.4.0-rc1").filter(has_text="Rollout:")
    expect(failed_card).to_contain_text(re.compile(r"Rollout: failed", re.IGNORECASE))
    expect(failed_card).to_contain_text("The circuit breaker put revision 3 back")
    expect(failed_card.get_by_role("button", name=re.compile(r"^Roll back"))).to_have_count(0)
    assert (running_revision(sandbox), reported_version(sandbox)) == ("3", "v1.2.0")

    type_command(page, "/rollback service-a")
    second_plan = page.locator("#messages > .msg", has_text="Plan: Roll back service-a (production)").last
    # Below revision 3, revision 2 was rolled back from (the seed): the last known-good is revision 1.
    expect(second_plan).to_contain_text(
        "ecs-microservices-production-service-a:3 → ecs-microservices-production-service-a:1"
    )
    expect(second_plan).to_contain_text("last known-good: revision 1, v1.0.0")
    second_plan = page.locator(f'#messages > .msg[data-ts="{second_plan.get_attribute("data-ts")}"]')
    second_plan.get_by_role("button", name="Cancel").click()
    expect(second_plan).to_contain_text("Cancelled by @deployer")

    page.locator(f'.alarm[data-alarm="{ALARM}"] button[data-state="ALARM"]').click()
    expect(card).to_contain_text(f"ALARM: {ALARM}")  # the incident's card again (it flapped)
    expect(card).to_contain_text("fired 2 times")
    expect(page.get_by_role("button", name=re.compile(r"Roll back to revision [45]\b"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"revision [45]\b"))).to_have_count(0)
    assert running_revision(sandbox) == "3"
    done = time.monotonic()

    print(
        f"\nbrowser walkthrough: deploy to COMPLETED {deployed - started:.1f} s, alarm to rolled back "
        f"{rolled_back - deployed:.1f} s, resolved {resolved - rolled_back:.1f} s, failed deploy, /rollback and "
        f"the alarm again {done - resolved:.1f} s; total {done - started:.1f} s"
    )
    assert "Traceback" not in sandbox.text(), sandbox.text()[-4000:]


# --- what the page shows is what Slack shows --------------------------------------------------------------

PEOPLE = parse_config(
    {
        "project": "ecs-microservices",
        "environments": [
            {
                "name": "production",
                "region": "us-east-1",
                "account_id": "123456789012",
                "roles": {"admin": ["U0ADMIN"], "deployer": ["U0DEPLOYER"]},
            }
        ],
        "services": [{"name": "service-a"}],
    }
)


@pytest.fixture
def workspace() -> Iterator[SlackWorkspace]:
    # No bot behind it: these tests post through the Web API and type plain messages, never commands.
    page = SlackWorkspace(PEOPLE, "http://127.0.0.1:9", "page-secret", None)
    page.start()
    yield page
    page.stop()


@pytest.fixture
def workspace_page(chromium: Any, workspace: SlackWorkspace, tmp_path: Path) -> Iterator[Any]:
    for page in new_page(chromium, tmp_path):
        page.goto(workspace.base_url)
        page.wait_for_function("document.querySelector('#user').value !== ''")
        yield page


# Each case: the mrkdwn the bot sends, and the DOM the page builds for it, written compactly:
# [tag.class|children], links as [a.link href|text].
SERIALIZE = """
([source, kind]) => {
  const ctx = SlackText.context({
    userName: (id) => ({U0DEPLOYER: "deployer"})[id] || null,
    channelName: (id) => (id === "C0OPS" ? "ops" : null),
  });
  const holder = document.createElement("div");
  holder.append(kind === "plain_text" ? SlackText.textObject({type: kind, text: source}, ctx)
                                      : SlackText.mrkdwn(source, ctx));
  const show = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.data;
    const inner = Array.from(node.childNodes).map(show).join("");
    const name = [node.tagName.toLowerCase(), ...node.classList].join(".");
    const href = node.getAttribute("href");
    return `[${name}${href === null ? "" : " " + href}|${inner}]`;
  };
  return Array.from(holder.childNodes).map(show).join("");
}
"""

RENDERED = [
    ("*bold* _italic_ ~strike~ `code`", "[b|bold] [i|italic] [s|strike] [code|code]"),
    (
        "_*bold italic*_ and *<https://x.io|a bold link>*",
        "[i|[b|bold italic]] and [b|[a.link https://x.io|a bold link]]",
    ),
    ("<https://example.com/a?b=1&amp;c=2|the docs>", "[a.link https://example.com/a?b=1&c=2|the docs]"),
    ("<https://example.com>", "[a.link https://example.com|https://example.com]"),
    ("<mailto:ops@example.com|mail us>", "[a.link mailto:ops@example.com|mail us]"),
    (
        "<@U0DEPLOYER> <@U0DEPLOYER|someone> <@U0GONE|sam> <@U0GONE>",
        "[span.mention.user|@deployer] [span.mention.user|@deployer] "
        "[span.mention.user|@sam] [span.mention.user|@U0GONE]",
    ),
    (
        "<#C0OPS> <#C0OTHER|general> <#C0OTHER>",
        "[span.mention.channel|#ops] [span.mention.channel|#general] [span.mention.channel|#C0OTHER]",
    ),
    ("<!subteam^S0ONCALL|@oncall> <!subteam^S0ONCALL>", "[span.mention.group|@oncall] [span.mention.group|@S0ONCALL]"),
    (
        "<!here> <!channel> <!everyone>",
        "[span.mention.special|@here] [span.mention.special|@channel] [span.mention.special|@everyone]",
    ),
    ("deployed <!date^1392734382^{date_short}|Feb 18, 2014 6:39 AM>", "deployed [span.date|Feb 18, 2014 6:39 AM]"),
    ("/deploy &lt;service&gt; [tag] &amp; &amp;lt;", "/deploy <service> [tag] & &lt;"),
    ("&lt;b&gt;x&lt;/b&gt; *&lt;b&gt;*", "<b>x</b> [b|<b>]"),
    # What Slack makes of a placeholder the bot forgot to escape: a link, and the brackets are gone.
    ("/deploy <service> <tag|the tag>", "/deploy [span.link.unresolved|service] [span.link.unresolved|the tag]"),
    ("<javascript:alert(1)|click>", "[span.link.unresolved|click]"),
    ("<!unknown> <!unknown|label>", "<!unknown> label"),
    (
        "```<https://x.io|docs> *not bold* :rocket: &lt;ok&gt;```",
        "[pre.code-block|[a.link https://x.io|docs] *not bold* :rocket: <ok>]",
    ),
    ("```\nline 1\n  line 2\n```", "[pre.code-block|line 1\n  line 2]"),
    ("`*not bold* <@U0DEPLOYER>`", "[code|*not bold* [span.mention.user|@deployer]]"),
    ("```unclosed *bold*", "```unclosed [b|bold]"),
    ("&gt; quoted *text*\n> typed quote\nafter", "[blockquote.quote|quoted [b|text]\ntyped quote]after"),
    ("Steps:\n• one\n- two\n\n1. three", "Steps:\n• one\n- two\n\n1. three"),
    (
        "snake_case_name, 2*3*4, * not bold*, *bold\nacross lines*",
        "snake_case_name, 2*3*4, * not bold*, *bold\nacross lines*",
    ),
    (":rocket: launched :no_such_emoji:", "🚀 launched :no_such_emoji:"),
    ("see https://example.com/a, then", "see [a.link https://example.com/a|https://example.com/a], then"),
]


def test_the_renderer_shows_what_slack_shows(workspace_page: Any) -> None:
    shown = {source: workspace_page.evaluate(SERIALIZE, [source, "mrkdwn"]) for source, _ in RENDERED}
    assert shown == dict(RENDERED)


def test_plain_text_is_shown_exactly_as_sent(workspace_page: Any) -> None:
    shown = workspace_page.evaluate(SERIALIZE, ["&lt;b&gt; *x* <b>y</b> <@U0DEPLOYER> :rocket:", "plain_text"])
    assert shown == "[span.plain|&lt;b&gt; *x* <b>y</b> <@U0DEPLOYER> 🚀]"


def test_a_message_from_the_bot_reads_as_it_would_in_slack(workspace: SlackWorkspace, workspace_page: Any) -> None:
    from playwright.sync_api import expect

    text = (
        "*Deployed* <https://example.com/deploys/42|deploy 42> for <@U0DEPLOYER>. "
        "Next time: `/deploy &lt;service&gt; &lt;tag&gt;`"
    )
    posted = post_as_the_bot(workspace, {"channel": "C0OPS", "text": "Deployed", "blocks": [section(text)]})
    message = workspace_page.locator(f'#messages > .msg[data-ts="{posted}"]')
    expect(message).to_contain_text("Deployed deploy 42 for @deployer. Next time: /deploy <service> <tag>")
    link = message.get_by_role("link", name="deploy 42")
    expect(link).to_have_attribute("href", "https://example.com/deploys/42")
    expect(message.locator(".mention")).to_have_text("@deployer")
    expect(message.locator(".mrkdwn b")).to_have_text("Deployed")
    expect(message.locator("code")).to_have_text("/deploy <service> <tag>")


def test_html_typed_into_the_page_is_shown_as_typed(workspace_page: Any) -> None:
    from playwright.sync_api import expect

    page = workspace_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    typed = "<b>x</b> <img src=x onerror=alert(1)> & *bold*"
    page.fill("#text", typed)
    page.press("#text", "Enter")
    message = page.locator("#messages > .msg", has_text="<b>x</b>")
    expect(message.locator(".text")).to_have_text("<b>x</b> <img src=x onerror=alert(1)> & bold")
    expect(message.locator(".text b")).to_have_text("bold")  # Slack's *bold*, the only markup there is
    expect(message.locator("img")).to_have_count(0)
    # A slash command is echoed to the person who typed it the same way (no app behind this page: it fails).
    page.fill("#text", "/ops lock service-a <b>x</b> <img src=x onerror=alert(1)>")
    page.press("#text", "Enter")
    echo = page.locator("#messages > .msg.ephemeral", has_text="/ops lock")
    expect(echo.locator(".text")).to_have_text("/ops lock service-a <b>x</b> <img src=x onerror=alert(1)>")
    expect(echo.locator(".text b, .text img")).to_have_count(0)
    expect(page.locator("#messages > .msg.ephemeral", has_text="dispatch_failed")).to_be_visible()
    assert dialogs == []


def test_a_message_typed_without_a_slash_is_posted_and_its_author_told_to_type_a_command(
    workspace_page: Any,
) -> None:
    from playwright.sync_api import expect

    page = workspace_page
    page.fill("#text", "can someone deploy service-a?")
    page.press("#text", "Enter")
    posted = page.locator("#messages > .msg:not(.ephemeral)", has_text="can someone deploy service-a?")
    expect(posted.locator(".meta b")).to_have_text("deployer")
    note = page.locator("#messages > .msg.ephemeral", has_text="answers slash commands")
    expect(note).to_contain_text("Slackbot")
    expect(note).to_contain_text("Only visible to you")
    expect(note.locator("code")).to_have_text("/ops help")


def test_a_very_long_word_wraps_instead_of_widening_the_channel(workspace: SlackWorkspace, workspace_page: Any) -> None:
    from playwright.sync_api import expect

    page = workspace_page
    word = "w" * 4000
    page.fill("#text", word)
    page.press("#text", "Enter")
    blocks = [
        section(word[:2900]),
        section(f"```{word[:2900]}```"),
        {"type": "section", "fields": [{"type": "plain_text", "text": word[:1900]}, {"type": "mrkdwn", "text": "x"}]},
        {"type": "header", "text": {"type": "plain_text", "text": word[:150]}},
        {"type": "context", "elements": [{"type": "plain_text", "text": word[:1900]}]},
    ]
    post_as_the_bot(workspace, {"channel": "C0OPS", "text": "long", "blocks": blocks})
    expect(page.locator("#messages > .msg")).to_have_count(3)  # the typed word, Slackbot's note, the bot's
    widths = page.evaluate(
        """() => { const list = document.querySelector("#messages"), page = document.scrollingElement;
                   return [list.scrollWidth - list.clientWidth, page.scrollWidth - page.clientWidth]; }"""
    )
    assert widths == [0, 0]  # nothing to scroll sideways, in the channel or the page


def test_logs_fill_even_code_blocks_one_per_section_with_the_newest_line_last(
    workspace: SlackWorkspace, workspace_page: Any
) -> None:
    from playwright.sync_api import expect

    # One line more than a section holds: two blocks of about half each, not a full one and a lone line.
    lines = service_log_lines(3000 // (len(log_text(service_log_lines(1)[0])) + 1) + 1)
    message = logs_message("service-a", "production", lines, "15m", None, "https://example.com/logs", 50)
    posted = post_as_the_bot(workspace, {"channel": "C0OPS", **message})
    boxes = workspace_page.locator(f'#messages > .msg[data-ts="{posted}"] pre.code-block')
    expect(boxes).to_have_count(2)
    shown = [box.inner_text().split("\n") for box in boxes.all()]
    assert len(shown[0]) - len(shown[1]) in (0, 1)
    assert shown[0] + shown[1] == [log_text(line) for line in lines]


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def post_as_the_bot(workspace: SlackWorkspace, params: dict[str, Any]) -> str:
    import json
    import urllib.request

    request = urllib.request.Request(
        workspace.api_url + "chat.postMessage",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer xoxb-test"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["ok"], answer
    return str(answer["ts"])


# --- views: a modal and the Home tab, with a small slack_bolt app behind the page ---------------------------------


@pytest.fixture
def views_page(chromium: Any, tmp_path: Path) -> Iterator[Any]:
    page = SlackWorkspace(PEOPLE, "http://127.0.0.1:9", "page-secret", None)
    page.start()
    app, _ = views_app(page.api_url, "page-secret")
    server = BoltServer(app)
    page.bot_url = server.url
    try:
        for browser in new_page(chromium, tmp_path):
            browser.goto(page.base_url)
            browser.wait_for_function("document.querySelector('#user').value !== ''")
            yield browser
    finally:
        server.stop()
        page.stop()


def test_a_modal_opens_from_a_command_updates_on_a_pick_shows_errors_and_closes_on_submit(views_page: Any) -> None:
    from playwright.sync_api import expect

    page = views_page
    type_command(page, "/deploy")
    modal = page.get_by_role("dialog")
    expect(modal.locator("#modal-title")).to_have_text("Deploy")
    expect(modal.get_by_role("button", name="Plan")).to_be_visible()
    modal.get_by_role("button", name="Plan").click()  # nothing picked: Slack's client says so itself
    expect(modal.locator('.v-input[data-block="env"] .v-error')).to_have_text("Please complete this required field.")

    expect(modal.locator('.v-input[data-block="reason"] label')).to_have_text(f"{REASON_LABEL} (optional)")
    modal.locator('input[data-block="reason"]').fill("hotfix <b>now</b>")
    modal.locator('select[data-block="env"]').select_option("staging")  # dispatch_action: the app adds the tags
    tags = modal.locator('select[data-block="tag"]')
    expect(tags).to_be_visible()
    expect(modal.locator('select[data-block="env"]')).to_have_value("staging")  # kept through views.update
    expect(modal.locator('input[data-block="reason"]')).to_have_value("hotfix <b>now</b>")  # what was typed, too
    expect(modal.locator("i, b")).to_have_count(0)
    tags.select_option("bad")
    modal.get_by_role("button", name="Plan").click()
    expect(modal.locator('.v-input[data-block="tag"] .v-error')).to_have_text("v-bad failed its health checks")
    expect(modal.locator('.v-input[data-block="env"] .v-error')).to_have_count(0)
    tags.select_option("v1")
    modal.get_by_role("button", name="Plan").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_the_home_tab_is_published_on_opening_shown_as_sent_and_its_button_opens_a_modal(views_page: Any) -> None:
    from playwright.sync_api import expect

    page = views_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("tab", name="Home").click()
    home = page.locator("#home")
    expect(home.locator(".b-header")).to_have_text("production")
    expect(home).to_contain_text(HOME_TEXT)  # plain_text, shown as the characters sent
    expect(home.locator("img, b")).to_have_count(0)
    expect(page.locator("#messages")).to_be_hidden()
    home.get_by_role("button", name="Deploy").click()
    expect(page.get_by_role("dialog").locator("#modal-title")).to_have_text("Deploy")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("tab", name="Messages").click()
    expect(page.locator("#messages")).to_be_visible()
    assert dialogs == []


def test_deploy_through_the_modal_then_the_home_tab_shows_the_new_tag(sandbox: Sandbox, browser_page: Any) -> None:
    """Issue 20: /deploy with no arguments opens the form; environment, service, then a tag from moto's ECR;
    submitting posts the same plan card as the typed command; Confirm; the Home tab shows the new tag."""
    from playwright.sync_api import expect

    page = browser_page
    started = time.monotonic()
    page.goto(sandbox.page_url)
    expect(page.locator("#user")).to_have_value("U0DEPLOYER")
    type_command(page, "/deploy")
    modal = page.get_by_role("dialog")
    expect(modal.locator("#modal-title")).to_have_text("Deploy")
    opened = time.monotonic()
    modal.locator('select[data-block="env"]').select_option("production")
    modal.locator('select[data-block="service"]').select_option("service-a")
    tags = modal.locator('select[data-block="tag:production:service-a"]')
    expect(tags.locator("option", has_text="running now")).to_have_count(1)  # loaded from moto: v1.2.0 runs
    tags.select_option("v1.3.0")
    if shot := os.environ.get("SANDBOX_MODAL_SCREENSHOT"):  # the README's picture of the form
        page.screenshot(path=shot)
    modal.get_by_role("button", name="Plan the deploy").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    plan = page.locator("#messages > .msg", has_text="Plan: deploy service-a (production)")
    expect(plan).to_contain_text("v1.3.0")
    plan.get_by_role("button", name="Confirm").click()
    card = page.locator("#messages > .msg", has_text="deploy service-a (production)").first
    expect(card).to_contain_text(re.compile(r"Rollout: completed", re.IGNORECASE))
    assert (running_revision(sandbox), reported_version(sandbox)) == ("4", "v1.3.0")
    deployed = time.monotonic()

    page.get_by_role("tab", name="Home").click()
    home = page.locator("#home")
    # production's service-a on the new revision and tag (staging's is still on v1.2.0), the deploy among the
    # last changes, who made it
    expect(home).to_contain_text(
        re.compile(r"production · you are deployer.*?service-a\s+revision 4, image v1\.3\.0", re.DOTALL)
    )
    expect(home).to_contain_text(re.compile(r"@deployer\s*/deploy service-a v1\.3\.0"))
    if shot := os.environ.get("SANDBOX_HOME_SCREENSHOT"):  # the README's picture of the Home tab
        page.screenshot(path=shot)
    print(
        f"\nmodal walkthrough: modal open {opened - started:.1f} s, deploy to COMPLETED {deployed - opened:.1f} s, "
        f"home {time.monotonic() - deployed:.1f} s"
    )
    assert "Traceback" not in sandbox.text(), sandbox.text()[-4000:]
