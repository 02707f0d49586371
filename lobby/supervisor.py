"""`lobby serve`: one supervisor holds the listening socket; uvicorn workers serve on its copies.

The supervisor binds the socket once and runs each worker as a fresh interpreter
(`python -m lobby.supervisor LISTEN_FD READY_FD PARENT_PID`), so a reload imports new code.
- SIGHUP: re-read the settings (environment, then `--env-file`, then the command line) and refuse the
  reload, naming the setting, if they are invalid; otherwise start a new generation of workers, wait
  until each one says it is ready, then stop the old generation gracefully.
- SIGTERM or SIGINT: every worker stops accepting and finishes what it accepted; then exit 0.
- A worker that dies on its own is replaced.
- With more than one worker, the workers pool their metrics in a private directory the supervisor
  makes and removes (`lobby.metrics`), so `/metrics` shows every worker's counts, reloads included.
  One left by a supervisor that was killed is removed at the next start (`lobby.metrics_dir`).

Connections wait in the kernel's listen backlog while no worker accepts. uvicorn's graceful shutdown
closes every connection with no request in progress, which includes one it accepted but has not read
yet, and an idle keep-alive one a proxy may be sending its next request on at that moment: either
request is lost (a proxy does not retry a POST). `DrainingH11Protocol` keeps such connections open
and answers a request that arrives on them with `Connection: close`.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.server import ServerState

from lobby.connection_guard import (
    ConnectionGuard,
    ConnectionLimits,
    GuardedH11Protocol,
    connection_budget,
    raise_open_file_limit,
    trusted_proxies,
)
from lobby.log_format import configure_logging, log_config
from lobby.metrics import SHARED_DIR_ENV
from lobby.metrics_dir import make_metrics_dir, remove_abandoned
from lobby.settings import Settings, SettingsError, environment, load_settings, read_env_file

APP = "lobby.asgi:app"
# Allocations between young-generation collections (CPython's default is 700). A request allocates
# hundreds of short-lived objects; collecting every 700 of them cost a busy worker about 5% of its
# time, and full collections of the start-up heap stalled every request in flight for ~25 ms.
GC_YOUNG_THRESHOLD = 10_000
BACKLOG = 2048
WORKER_START_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 30.0
FIRST_REQUEST_GRACE_S = 5.0
# How long an idle keep-alive connection stays open (uvicorn's default is 5 s). A proxy that reuses
# upstream connections must give them up sooner (nginx: `keepalive_timeout` in the upstream block,
# deploy/nginx.conf has 5 s); then only the proxy ever closes an idle connection, so it never sends
# a request on one the lobby is closing. A draining worker keeps this timeout too (see below).
KEEP_ALIVE_TIMEOUT_S = 10
RESTART_DELAY_S = 1.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOG_PREFIX = "lobby serve: "

log = logging.getLogger("lobby.supervisor")


def _listen(host: str, port: int) -> socket.socket:
    """Bind the one listening socket every worker generation inherits."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise SettingsError(f"cannot listen on LOBBY_HOST {host}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port} (LOBBY_HOST, LOBBY_PORT): {exc}") from None
    return sock


@dataclass
class Worker:
    """One worker process and the read end of the pipe it reports readiness on."""

    process: subprocess.Popen[bytes]
    ready_fd: int


class Supervisor:
    """Keeps `workers` uvicorn processes serving on one socket; reloads on SIGHUP."""

    def __init__(
        self, workers: int, env_file: Path | None = None, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.workers = workers
        self.env_file = env_file
        self.overrides = dict(overrides or {})
        self.generation = 0
        self.current: list[Worker] = []
        self.retiring: list[tuple[subprocess.Popen[bytes], float]] = []
        self._base_env = dict(os.environ)
        self._signals: collections.deque[int] = collections.deque()
        self._last_restart = 0.0
        self.metrics_dir: str | None = None
        self.removed_metrics_dirs: list[Path] = []

    def load(self) -> tuple[dict[str, str], Settings]:
        """The workers' environment and its validated settings; raises SettingsError naming one."""
        env = dict(self._base_env)
        if self.env_file is not None:
            env.update(read_env_file(self.env_file))
        env.update(self.overrides)
        with environment(env):
            return env, load_settings()

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; returns the exit status."""
        self.removed_metrics_dirs = remove_abandoned()
        hold = None
        if self.workers > 1:
            path, hold = make_metrics_dir()
            self.metrics_dir = str(path)
        try:
            return self._serve()
        finally:
            if self.metrics_dir is not None:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)
            if hold is not None:
                os.close(hold)

    def _serve(self) -> int:
        self.env, self.settings = self.load()
        configure_logging(self.settings.log_format, LOG_PREFIX)
        for path in self.removed_metrics_dirs:
            log.info("removed %s, the metrics directory of a supervisor that died", path)
        self.sock = _listen(self.settings.host, self.settings.port)
        self._wakeup_r, wakeup_w = os.pipe()
        os.set_blocking(wakeup_w, False)
        signal.set_wakeup_fd(wakeup_w)
        for sig in (signal.SIGHUP, signal.SIGCHLD, *STOP_SIGNALS):
            signal.signal(sig, lambda signum, frame: None)
        host, port = self.sock.getsockname()[:2]
        log.info("listening on %s:%d with %d worker(s)", host, port, self.workers)
        workers = self._start_workers(self.workers, self.env)
        if workers is None:
            self.sock.close()
            if any(sig in STOP_SIGNALS for sig in self._signals):
                return 0
            log.error("the first workers did not start; exiting")
            return 1
        self._promote(workers)
        while True:
            sig = self._next_signal(timeout=1.0)
            if sig in STOP_SIGNALS:
                return self._stop()
            if sig == signal.SIGHUP:
                self._reload()
            self._reap()

    def _next_signal(self, timeout: float) -> int | None:
        """The oldest signal not handled yet, waiting up to `timeout` seconds for one."""
        if not self._signals:
            self._select([], timeout)
        return self._signals.popleft() if self._signals else None

    def _select(self, fds: list[int], timeout: float) -> list[int]:
        """Wait for `fds` or a signal; queue the signals; return the readable `fds`."""
        readable, _, _ = select.select([self._wakeup_r, *fds], [], [], max(timeout, 0.0))
        if self._wakeup_r in readable:
            for signum in os.read(self._wakeup_r, 512):
                if signum != signal.SIGCHLD:
                    self._signals.append(signum)
        return [fd for fd in readable if fd != self._wakeup_r]

    def _spawn(self, env: Mapping[str, str]) -> Worker:
        ready_r, ready_w = os.pipe()
        listen_fd = self.sock.fileno()
        argv = [sys.executable, "-m", "lobby.supervisor", str(listen_fd), str(ready_w), str(os.getpid())]
        worker_env = {k: v for k, v in env.items() if k != SHARED_DIR_ENV}
        if self.metrics_dir is not None:
            worker_env[SHARED_DIR_ENV] = self.metrics_dir
        try:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed module, numbers only
                argv, env=worker_env, pass_fds=(listen_fd, ready_w)
            )
        except OSError:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        return Worker(process, ready_r)

    def _start_workers(self, count: int, env: Mapping[str, str]) -> list[Worker] | None:
        """Start `count` workers and wait until all are ready; None (and none left) if one is not."""
        workers = [self._spawn(env) for _ in range(count)]
        try:
            ready = self._await_ready(workers)
        finally:
            for worker in workers:
                os.close(worker.ready_fd)
        if ready:
            return workers
        for worker in workers:
            worker.process.terminate()
        for worker in workers:
            _wait_or_kill(worker.process, WORKER_START_TIMEOUT_S)
            self._gone(worker.process)
        return None

    def _await_ready(self, workers: list[Worker]) -> bool:
        """Whether every worker wrote its ready byte in time (a stop signal ends the wait)."""
        pending = {w.ready_fd: w.process for w in workers}
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or any(sig in STOP_SIGNALS for sig in self._signals):
                return False
            for fd in self._select(list(pending), remaining):
                process = pending.pop(fd)
                if not os.read(fd, 1):
                    log.error("worker %d exited before it was ready (status %s)", process.pid, process.wait())
                    return False
        return True

    def _promote(self, workers: list[Worker]) -> None:
        """Make `workers` the serving generation and let the previous one drain."""
        old = self.current
        self.current = workers
        self.generation += 1
        deadline = time.monotonic() + DRAIN_TIMEOUT_S + 5
        for worker in old:
            worker.process.terminate()
            self.retiring.append((worker.process, deadline))
        pids = ", ".join(str(w.process.pid) for w in workers)
        draining = f"; generation {self.generation - 1} draining" if old else ""
        log.info("generation %d serving (pids %s)%s", self.generation, pids, draining)

    def _reload(self) -> None:
        """SIGHUP: new settings and code in new workers, or the old ones keep serving."""
        try:
            env, settings = self.load()
            for name in ("host", "port"):
                if getattr(settings, name) != getattr(self.settings, name):
                    raise SettingsError(f"LOBBY_{name.upper()} changed (the socket stays: restart instead)")
        except SettingsError as exc:
            log.error("reload refused: %s; generation %d keeps serving", exc, self.generation)
            return
        workers = self._start_workers(self.workers, env)
        if workers is None:
            log.error("reload failed: new workers not ready; generation %d keeps serving", self.generation)
            return
        self.env, self.settings = env, settings
        configure_logging(settings.log_format, LOG_PREFIX)
        self._promote(workers)

    def _reap(self) -> None:
        """Forget drained workers, kill ones past their deadline, replace serving ones that died."""
        now = time.monotonic()
        for process, deadline in list(self.retiring):
            if process.poll() is not None:
                self.retiring.remove((process, deadline))
                self._gone(process)
            elif now > deadline:
                process.kill()
        for worker in list(self.current):
            status = worker.process.poll()
            if status is not None:
                log.warning("worker %d died (status %s); replacing it", worker.process.pid, status)
                self.current.remove(worker)
                self._gone(worker.process)
        missing = self.workers - len(self.current)
        if missing and now - self._last_restart >= RESTART_DELAY_S:
            self._last_restart = now
            self.current += self._start_workers(missing, self.env) or []

    def _gone(self, process: subprocess.Popen[bytes]) -> None:
        """A worker has exited: its open-stream gauge no longer counts (its counters still do)."""
        if self.metrics_dir is not None:
            mark_process_dead(process.pid, self.metrics_dir)

    def _stop(self) -> int:
        """SIGTERM or SIGINT: every worker drains what it accepted, then the supervisor exits 0."""
        log.info("stopping: generation %d drains", self.generation)
        processes = [w.process for w in self.current] + [p for p, _ in self.retiring]
        for process in processes:
            process.terminate()
        self.sock.close()
        for process in processes:
            _wait_or_kill(process, DRAIN_TIMEOUT_S + 5)
        log.info("stopped")
        return 0


def _wait_or_kill(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(workers: int, env_file: Path | None = None, overrides: Mapping[str, str] | None = None) -> int:
    """Run `lobby serve`: supervise `workers` uvicorn workers until SIGTERM; returns the exit status."""
    return Supervisor(workers, env_file, overrides).run()


class DrainState(ServerState):
    """uvicorn's shared server state, plus whether the server has begun to shut down, and the
    connection guard its connections answer to."""

    draining = False
    guard: ConnectionGuard | None = None


class DrainingH11Protocol(GuardedH11Protocol):
    """The guarded h11 protocol, except that shutdown never closes a connection a request may be on.

    uvicorn closes a connection at shutdown unless a request is in progress. Here a connection
    accepted but not read yet gets `FIRST_REQUEST_GRACE_S` for its request, and an idle keep-alive
    one from a trusted proxy (`LOBBY_FORWARDED_ALLOW_IPS`) stays until its keep-alive timeout, as it
    would have without the shutdown (a proxy that reuses connections gives them up before that): a
    proxy does not resend a POST it lost to a close. A request arriving on either is served with
    `Connection: close`; a connection with a request in progress closes after its response. Idle
    keep-alive connections of other clients close at once, as in uvicorn.
    """

    draining = False

    def connection_made(self, transport: object) -> None:  # type: ignore[override]
        """Register the connection; one accepted during shutdown drains at once."""
        super().connection_made(transport)  # type: ignore[arg-type]
        if getattr(self.server_state, "draining", False):
            self.shutdown()

    def shutdown(self) -> None:
        """Let the connection's next request be its last instead of closing it under a sender."""
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()
            if not self.cycle.response_started:
                self._last_request()
            return
        if self.cycle is not None and not self._from_proxy():
            super().shutdown()  # a client retries on a fresh connection; a proxy may not
            return
        self.draining = True
        if self.cycle is None:
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                FIRST_REQUEST_GRACE_S, self.timeout_keep_alive_handler
            )

    def _from_proxy(self) -> bool:
        guard = self._guard
        return guard is not None and guard.is_proxy(self._address)

    def handle_events(self) -> None:
        """Parse what arrived; a request on a draining connection is its last."""
        super().handle_events()
        if self.draining and self.cycle is not None:
            self._last_request()

    def _last_request(self) -> None:
        """Close after this response, and say so in it (`Connection: close`) so that a proxy
        does not put the connection back in its pool. uvicorn adds that header to a response
        whose request carried it, reading the request's headers when the response starts."""
        assert self.cycle is not None
        self.cycle.keep_alive = False
        if CLOSE_HEADER not in self.cycle.scope["headers"]:
            self.cycle.scope["headers"].append(CLOSE_HEADER)


def settle_heap() -> None:
    """Keep the garbage collector off what start-up allocated, and let it run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)


class WorkerServer(uvicorn.Server):
    """A uvicorn server that reports readiness on a pipe and exits when its supervisor is gone."""

    def __init__(
        self, config: uvicorn.Config, ready_fd: int, parent_pid: int, guard: ConnectionGuard | None = None
    ) -> None:
        super().__init__(config)
        self.server_state = DrainState()
        self.server_state.guard = guard
        self.ready_fd = ready_fd
        self.parent_pid = parent_pid

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then tell the supervisor."""
        await super().startup(sockets)
        settle_heap()
        if self.started:
            with contextlib.suppress(OSError):
                os.write(self.ready_fd, b"r")
            os.close(self.ready_fd)

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's periodic check, plus: stop when the supervisor died."""
        if os.getppid() != self.parent_pid:
            self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's graceful shutdown, with connections told first that the server drains."""
        self.server_state.draining = True  # type: ignore[attr-defined]
        await super().shutdown(sockets)


def run_worker(listen_fd: int, ready_fd: int, parent_pid: int) -> None:
    """Serve the lobby app on the inherited socket until SIGTERM (one worker process)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.captureWarnings(True)
    settings = load_settings()
    guard = ConnectionGuard(worker_limits(settings, raise_open_file_limit()))
    config = uvicorn.Config(
        APP,
        http=DrainingH11Protocol,
        backlog=BACKLOG,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        log_level="info",
        log_config=log_config(settings.log_format),
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=DRAIN_TIMEOUT_S,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT_S,
    )
    WorkerServer(config, ready_fd, parent_pid, guard).run(sockets=[socket.socket(fileno=listen_fd)])


def worker_limits(settings: Settings, file_limit: int) -> ConnectionLimits:
    """The connection deadlines and caps of one worker whose open-file limit is `file_limit`."""
    exempt, exempt_all = trusted_proxies(settings.forwarded_allow_ips)
    return ConnectionLimits(
        header_timeout_s=settings.client_header_timeout_s,
        body_timeout_s=settings.client_body_timeout_s,
        max_connections=connection_budget(settings.max_connections, file_limit),
        max_per_address=settings.max_connections_per_address,
        exempt=exempt,
        exempt_all=exempt_all,
    )


if __name__ == "__main__":
    run_worker(*(int(arg) for arg in sys.argv[1:4]))
