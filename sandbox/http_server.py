"""The HTTP server behind the sandbox's own endpoints: the Slack stand-in and its page, and the bot adapter.

A client that leaves before its answer is written is routine here, not an error: a reloaded or closed page
drops its long poll and whatever else it was fetching, and the page gives up on an ack after Slack's 3
seconds. http.server would print a 20-line traceback in the `make run` terminal for each; this server says
nothing about a dropped connection and still prints every other error as before.
"""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a request still running never holds up a stop

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipeError, ConnectionResetError, ...
            return
        super().handle_error(request, client_address)
