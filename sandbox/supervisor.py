"""A small process supervisor: start children in order, wait until each is healthy, stop them all together.

The supervisor knows nothing about what it runs; each child process is described by a `Child`, and each
part that runs inside this process (a server thread, a poller) by a `Component`. Components in `before`
start ahead of the children, those in `after` once every child is healthy. Everything is stopped in
reverse order when the supervisor is asked to (SIGINT, SIGTERM, SIGHUP) and when any child dies, so
nothing is left behind. A child can be restarted with more environment while everything runs (the sandbox
does when a rollout puts a new version on a service).
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Protocol, TextIO

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Child:
    """One long-running process: how to start it and where it answers when it is ready."""

    name: str
    argv: Sequence[str]
    port: int
    port_variable: str
    """The environment variable that chooses `port`, named when the port is taken."""
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to the supervisor's own environment."""
    health_path: str = "/health"
    host: str = "127.0.0.1"
    output: Callable[[str], None] | None = None
    """Also given each line the child writes to stdout (the sandbox ships them to CloudWatch Logs)."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Component(Protocol):
    """A part of the system that runs in the supervisor's own process (threads), started and stopped by it."""

    name: str
    port: int
    """The loopback port it listens on, checked before anything starts; 0 when it listens on none."""
    port_variable: str

    def start(self) -> str:
        """Start, returning when ready; the return value is shown next to the name (e.g. its URL)."""
        ...

    def stop(self) -> None:
        """Stop and release every thread and socket; safe to call when start() failed half-way."""
        ...


class SupervisorError(Exception):
    """The children could not be started; the message says which one and what to do."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The same option uvicorn sets, so a port in TIME_WAIT does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def answers_health(child: Child) -> bool:
    connection = http.client.HTTPConnection(child.host, child.port, timeout=1)
    try:
        connection.request("GET", child.health_path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        *,
        before: Sequence[Component] = (),
        after: Sequence[Component] = (),
        startup_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        out: TextIO = sys.stdout,
    ) -> None:
        self.children = list(children)
        self.before = list(before)
        self.after = list(after)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.out = out
        self._running: list[tuple[Child, subprocess.Popen[bytes]]] = []
        self._started: list[Component] = []
        self._readers: list[threading.Thread] = []
        self._out_lock = threading.Lock()
        self._children_lock = threading.Lock()  # _running, changed by restart() from another thread
        self._stop_requested = threading.Event()

    def say(self, message: str) -> None:
        self._write(f"sandbox: {message}\n")

    def _write(self, text: str) -> None:
        # Children's output is relayed from other threads: whole lines only, never interleaved.
        with self._out_lock:
            self.out.write(text)
            self.out.flush()

    def run(self, on_ready: str = "") -> int:
        """Start everything, wait until asked to stop or until a child dies; 0 only for a requested stop."""
        previous = {signum: signal.signal(signum, self._request_stop) for signum in STOP_SIGNALS}
        started = time.monotonic()
        try:
            self._check_ports()
            for component in self.before:
                if not self._start_component(component):
                    return 0
            for child in self.children:
                self._start(child)
                if not self._wait_until_healthy(child):
                    return 0  # stopped while starting, as asked
            for component in self.after:
                if not self._start_component(component):
                    return 0
            self.say(f"ready in {time.monotonic() - started:.1f} s" + (f": {on_ready}" if on_ready else ""))
            return self._watch()
        except SupervisorError as error:
            self.say(f"error: {error}")
            return 1
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Make run() stop everything and return 0, as SIGINT and SIGTERM do; safe to call from any thread."""
        self._stop_requested.set()

    def _check_ports(self) -> None:
        wanted = [(c.name, c.host, c.port, c.port_variable) for c in self.children]
        wanted += [(c.name, "127.0.0.1", c.port, c.port_variable) for c in self.before + self.after if c.port]
        for name, host, port, variable in wanted:
            if not port_is_free(host, port):
                raise SupervisorError(
                    f"port {port} for {name} is already in use; stop what holds it "
                    f"(e.g. an earlier `make run`) or set {variable} to a free port"
                )

    def _start_component(self, component: Component) -> bool:
        """True once the component is ready; False if a stop was requested before it started."""
        if self._stop_requested.is_set():
            return False
        self._started.append(component)
        try:
            shown = component.start()
        except SupervisorError:
            raise
        except Exception as error:
            raise SupervisorError(f"{component.name} could not start: {error}") from error
        self.say(f"{component.name:<10} {shown}")
        return True

    def restart(self, name: str, env: Mapping[str, str], why: str = "") -> None:
        """Replace the running child `name` by a new process with `env` added to its environment, as ECS
        replaces a service's tasks; returns once the new one answers. Safe to call from any thread."""
        with self._children_lock:
            if self._stop_requested.is_set():
                return
            found = [i for i, (child, _) in enumerate(self._running) if child.name == name]
            if not found:
                raise SupervisorError(f"{name} is not running")
            child, process = self._running[found[0]]
            shown = " ".join(f"{variable}={value}" for variable, value in env.items())
            self.say(f"{name:<10} restarting with {shown}" + (f": {why}" if why else ""))
            self._terminate(child, process)
            child = dataclasses.replace(child, env={**child.env, **env})
            self._running[found[0]] = (child, self._spawn(child))
        self._wait_until_healthy(child)

    def _start(self, child: Child) -> None:
        self._running.append((child, self._spawn(child)))

    def _spawn(self, child: Child) -> subprocess.Popen[bytes]:
        # argv is built by the sandbox's own code (sandbox/main.py), never from outside input.
        process = subprocess.Popen(  # noqa: S603
            list(child.argv),
            cwd=child.cwd,
            env={**os.environ, **child.env},
            stdout=subprocess.PIPE if child.output is not None else None,
            # Its own process group: a Ctrl-C in the terminal reaches only the supervisor, which then
            # stops the children in reverse order instead of every process racing to exit at once.
            process_group=0,
        )
        if child.output is not None and process.stdout is not None:
            reader = threading.Thread(
                target=self._relay, args=(process.stdout, child.output), name=f"{child.name}-stdout", daemon=True
            )
            reader.start()
            self._readers.append(reader)
        return process

    def _relay(self, stream: IO[bytes], output: Callable[[str], None]) -> None:
        """Echo a child's stdout as before and hand each line to its `output`, until the child exits."""
        for raw in stream:
            line = raw.decode(errors="replace")
            self._write(line if line.endswith("\n") else line + "\n")
            try:
                output(line.rstrip("\n"))
            except Exception as error:  # a broken consumer must not block the child on a full pipe
                self.say(f"could not pass on a line of output: {error}")
        stream.close()

    def _wait_until_healthy(self, child: Child) -> bool:
        """True once the child answers; False if a stop was requested meanwhile."""
        process = self._process(child)
        deadline = time.monotonic() + self.startup_timeout
        while not self._stop_requested.is_set():
            if process.poll() is not None:
                raise SupervisorError(
                    f"{child.name} exited with code {process.returncode} while starting; its output is above"
                )
            if answers_health(child):
                self.say(f"{child.name:<10} {child.url}  (pid {process.pid})")
                return True
            if time.monotonic() > deadline:
                raise SupervisorError(
                    f"{child.name} did not answer {child.url}{child.health_path} "
                    f"within {self.startup_timeout:g} s; its output is above"
                )
            self._stop_requested.wait(0.1)
        return False

    def _watch(self) -> int:
        while not self._stop_requested.wait(0.2):
            with self._children_lock:
                exited = [(child, process.returncode) for child, process in self._running if process.poll() is not None]
            for child, code in exited:
                self.say(f"{child.name} exited unexpectedly with code {code}; stopping the others")
                return 1
        return 0

    def _process(self, child: Child) -> subprocess.Popen[bytes]:
        with self._children_lock:
            return next(process for running, process in self._running if running is child)

    def _stop_all(self) -> None:
        """Stop everything in reverse start order; children get SIGTERM, then SIGKILL after `stop_timeout`."""
        if self._running or self._started:
            self.say("stopping")
        started_after = [c for c in self._started if c in self.after]
        self._stop_components(started_after)
        self._stop_children()
        for reader in self._readers:
            reader.join(timeout=self.stop_timeout)
        self._readers.clear()
        self._stop_components([c for c in self._started if c not in started_after])
        self._started.clear()

    def _stop_components(self, components: list[Component]) -> None:
        for component in reversed(components):
            try:
                component.stop()
            except Exception as error:
                self.say(f"{component.name} did not stop cleanly: {error}")

    def _stop_children(self) -> None:
        with self._children_lock:
            while self._running:
                self._terminate(*self._running.pop())

    def _terminate(self, child: Child, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.say(f"{child.name} did not stop within {self.stop_timeout:g} s; killing it")
            process.kill()
            process.wait()
