"""Thin AWS Lambda entry points that translate events into calls of the `bot` package."""

import time

# When this process began loading the functions' code: in an on-demand cold start, about when the request that
# started the container arrived (handlers.slack budgets the ack's views.open from it).
LOADING_STARTED = time.perf_counter()
