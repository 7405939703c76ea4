"""The suite-wide check of what reaches the Slack stand-in (tests/slack_payloads.py), run on small suites.

Each test runs pytest in-process (pytester) on a suite that posts to a real stand-in, and looks at the
outcome a person running `make test` sees: the exit status, the violations named with their test, and
the summary line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slack_invalid_payloads_expected  # the inner suites post bad payloads on purpose

SUITE_HELPERS = """
import json
import urllib.error
import urllib.request

import pytest

from sandbox.slack_api import SlackStandIn


@pytest.fixture
def slack():
    stand_in = SlackStandIn().start()
    yield stand_in
    stand_in.stop()


def post(url, payload, token="xoxb-test"):
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def section(text):
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
"""


def run(pytester: pytest.Pytester, tests: str) -> pytest.RunResult:
    pytester.makeconftest(SUITE_HELPERS)
    pytester.makepyfile(test_posts=tests)
    # Without hypothesis's plugin, which would import hypothesis afresh in every in-process run (3 s each).
    return pytester.runpytest("-p", "slack_payloads", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def test_a_bad_payload_fails_the_run_and_names_the_test_that_sent_it(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from conftest import post, section

def test_a_good_message(slack):
    post(slack.api_url + "chat.postMessage", {"channel": "C1", "text": "fine", "blocks": [section("fine")]})

def test_an_oversize_section(slack):
    # The stand-in refuses it; the test does not look, and passes. The run must not.
    post(slack.api_url + "chat.postMessage", {"channel": "C1", "text": "plan", "blocks": [section("x" * 3001)]})

def test_blocks_without_fallback_text_through_response_url(slack):
    post(slack.response_url("r1"), {"blocks": [section("answer")], "replace_original": True})
""",
    )
    result.assert_outcomes(passed=3)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*Slack payloads*",
            "*test_posts.py::test_an_oversize_section*chat.postMessage*invalid_blocks*blocks[[]0[]]*3,000*",
            "*test_posts.py::test_blocks_without_fallback_text_through_response_url*response_url*text*",
            "Slack payloads checked: 3, violations: 2",
        ]
    )
    assert "test_a_good_message" not in result.stdout.str().partition("Slack payloads")[2]


def test_good_payloads_pass_and_are_counted(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from conftest import post, section

ACTIONS = {
    "type": "actions",
    "block_id": "plan:1",
    "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Confirm"}, "action_id": "yes", "style": "primary"},
        {"type": "button", "text": {"type": "plain_text", "text": "Cancel"}, "action_id": "no", "value": "1"},
    ],
}

def test_a_card_its_update_and_an_answer(slack):
    status, body = post(slack.api_url + "chat.postMessage", {"channel": "C1", "text": "Plan", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Plan"}}, section("*deploy*"), ACTIONS]})
    ts = __import__("json").loads(body)["ts"]
    post(slack.api_url + "chat.update", {"channel": "C1", "ts": ts, "text": "Done", "blocks": [section("done")]})
    post(slack.api_url + "chat.postEphemeral", {"channel": "C1", "user": "U1", "text": "only you"})
    assert post(slack.response_url("r"), {"text": "ok", "response_type": "ephemeral"})[0] == 200
""",
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["Slack payloads checked: 4, violations: 0"])


def test_a_test_marked_as_sending_bad_payloads_on_purpose_is_left_out(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import pytest
from conftest import post, section

@pytest.mark.slack_invalid_payloads_expected
def test_the_stand_in_refuses_an_oversize_section(slack):
    oversize = {"channel": "C1", "text": "t", "blocks": [section("x" * 3001)]}
    status, body = post(slack.api_url + "chat.postMessage", oversize)
    assert b"invalid_blocks" in body

def test_a_good_message(slack):
    post(slack.api_url + "chat.postMessage", {"channel": "C1", "text": "fine"})
""",
    )
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["Slack payloads checked: 1, violations: 0*1 not checked*slack_invalid_payloads_expected*"]
    )


def test_views_are_checked_against_the_view_model(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
from conftest import post, section

def test_a_modal_with_a_long_title(slack):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": [section("x")]}
    post(slack.api_url + "views.open", {"trigger_id": "1.2.3", "view": view})
""",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*test_a_modal_with_a_long_title*views.open*title*", "*violations: 1"])


def test_under_xdist_a_workers_bad_payload_fails_the_run_and_the_counts_add_up(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test` runs the suite on two pytest-xdist workers: what each worker saw reaches the controller."""
    tests = Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tests.parent), str(tests)]))
    pytester.makeconftest(SUITE_HELPERS)
    good = """
from conftest import post, section

def test_good(slack):
    post(slack.api_url + "chat.postMessage", {"channel": "C1", "text": "fine", "blocks": [section("fine")]})
"""
    bad = """
from conftest import post, section

def test_bad(slack):
    post(slack.api_url + "chat.postMessage", {"channel": "C1", "text": "plan", "blocks": [section("x" * 3001)]})
"""
    pytester.makepyfile(test_good=good, test_bad=bad)
    result = pytester.runpytest_subprocess(
        "-p", "slack_payloads", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile"
    )
    result.assert_outcomes(passed=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*test_bad.py::test_bad*chat.postMessage*3,000*", "Slack payloads checked: 2, violations: 1"]
    )
