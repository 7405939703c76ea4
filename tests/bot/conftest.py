"""The bot's fixtures live in tests/fixtures_bot.py, shared with tests/alarms."""

from fixtures_bot import aws, aws_environment, bot, config, config_dict, seed_plan, slack

__all__ = ["aws", "aws_environment", "bot", "config", "config_dict", "seed_plan", "slack"]
