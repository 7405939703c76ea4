"""The whole suite's plugins: pytester (tests of the suite's own plugins) and the check of every payload
that reaches the Slack stand-in (tests/slack_payloads.py). Each directory's conftest.py brings its fixtures.
"""

pytest_plugins = ["pytester", "slack_payloads", "run_summary"]
