"""The whole suite's plugins and fixtures, registered once: pytester (tests of the suite's own plugins), the
check of every payload that reaches the Slack stand-in (tests/slack_payloads.py), the run summary, the bot's
fixtures (tests/fixtures_bot.py) and AWS failing on demand (tests/reliability/aws_faults.py). A directory's
conftest.py only overrides what it changes.
"""

pytest_plugins = ["pytester", "slack_payloads", "run_summary", "fixtures_bot", "reliability.aws_faults"]
