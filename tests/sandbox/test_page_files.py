"""The page shows files as Slack does: an image block's uploaded file, an image_url, and a snippet in a thread.

Through slack_sdk's WebClient against an in-process workspace (no bot behind it), then in Debian's
Chromium driven by Playwright, as tests/sandbox/test_browser.py does (skipped where there is none,
failed in CI): the card's graph is the uploaded PNG (served by the stand-in at /files/<id>) with its alt
text and title, and a Markdown snippet shared in the card's thread is a code block under its title.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import new_page
from slack_sdk import WebClient

from bot.config import parse_config
from sandbox.workspace import SlackWorkspace

pytestmark = pytest.mark.slow
PEOPLE = parse_config(
    {
        "project": "ecs-microservices",
        "environments": [
            {"name": "production", "region": "us-east-1", "account_id": "123456789012", "roles": {"admin": ["U0ADMIN"]}}
        ],
        "services": [{"name": "service-a"}],
    }
)


def png(width: int, height: int) -> bytes:
    import matplotlib.image
    import numpy

    out = io.BytesIO()
    matplotlib.image.imsave(out, numpy.linspace(0, 1, width * height).reshape(height, width), format="png")
    return out.getvalue()


@pytest.fixture
def workspace() -> Iterator[SlackWorkspace]:
    page = SlackWorkspace(PEOPLE, "http://127.0.0.1:9", "page-secret", None)
    page.start()
    yield page
    page.stop()


@pytest.fixture
def browser(chromium: Any, tmp_path: Path) -> Iterator[Any]:
    yield from new_page(chromium, tmp_path)


def post_card_with_graph_and_snippet(workspace: SlackWorkspace) -> str:
    client = WebClient(token="xoxb-page", base_url=workspace.api_url)
    graph = client.files_upload_v2(filename="cpu.png", content=png(300, 120), title="CPU", alt_txt="CPU graph")
    file_id = graph["file"]["id"]
    while not client.files_info(file=file_id)["file"]["mimetype"]:  # Slack processes it first
        pass
    card = client.chat_postMessage(
        channel=workspace.channel_id,
        text="service-a CPU high",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "*service-a* CPU high"}},
            {
                "type": "image",
                "slack_file": {"id": file_id},
                "alt_text": "CPUUtilization of service-a, deploy v1.3.0 marked",
                "title": {"type": "plain_text", "text": "CPUUtilization, last 3 h"},
            },
            {"type": "image", "image_url": "https://example.com/logo.png", "alt_text": "logo"},
        ],
    )
    client.files_upload_v2(
        channel=workspace.channel_id,
        thread_ts=card["ts"],
        content="# Postmortem: service-a\n\n<b>not HTML</b>\n",
        filename="postmortem.md",
        title="Postmortem draft",
        snippet_type="markdown",
    )
    return str(file_id)


def test_the_state_the_page_reads_carries_the_shared_snippet_and_its_text(workspace: SlackWorkspace) -> None:
    post_card_with_graph_and_snippet(workspace)
    reply = workspace.visible("U0ADMIN")[-1]
    [file] = reply["files"]
    assert (file["title"], file["mode"], file["preview"]) == (
        "Postmortem draft",
        "snippet",
        "# Postmortem: service-a\n\n<b>not HTML</b>\n",
    )


def test_the_page_shows_the_uploaded_graph_the_image_url_and_the_snippet(
    workspace: SlackWorkspace, browser: Any
) -> None:
    from playwright.sync_api import expect

    file_id = post_card_with_graph_and_snippet(workspace)
    browser.goto(workspace.base_url)
    graph = browser.locator(f'.b-image img[src="/files/{file_id}"]')
    expect(graph).to_have_attribute("alt", "CPUUtilization of service-a, deploy v1.3.0 marked")
    expect(browser.locator(".b-image .file-title").first).to_have_text("CPUUtilization, last 3 h")
    browser.wait_for_function(f"document.querySelector('img[src=\"/files/{file_id}\"]').naturalWidth === 300")
    expect(browser.locator('.b-image img[src="https://example.com/logo.png"]')).to_have_attribute("alt", "logo")
    snippet = browser.locator(".thread .b-file.snippet")
    expect(snippet.locator(".file-title")).to_have_text("Postmortem draft")
    expect(snippet.locator("pre")).to_have_text("# Postmortem: service-a\n\n<b>not HTML</b>\n")
    assert browser.locator(".thread .b-file.snippet pre b").count() == 0  # text, never parsed as HTML
