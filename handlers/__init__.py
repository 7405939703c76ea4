"""Thin AWS Lambda entry points that translate events into calls of the `bot` package."""
