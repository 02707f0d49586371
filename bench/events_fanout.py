"""Event fan-out: one lobby process holding N Server-Sent Events subscribers, one game change.

For each N, a fresh lobby (rate limits off) and a separate client process that opens N raw-socket
`GET /v1/events` streams and waits for each one's `snapshot`. Then the bench sends one heartbeat
that changes a game's player count, and the client notes when each stream has the `game` event
carrying it. Reported: the time from the heartbeat request until each subscriber has the event
(p50/p99/max of the median of `ROUNDS` changes, by p99, and the worst change's p99) and the
lobby's resident memory (VmRSS, VmHWM).
Both processes raise RLIMIT_NOFILE (the lobby inherits the bench's limit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import write_section
from tests.support.lobby import ADMIN, LobbyProcess

COMMAND = "./dev bench events_fanout"
SIZES = (1000, 5000, 10000)
ROUNDS = 5
CONNECT_CONCURRENCY = 256
DELIVERY_TIMEOUT_S = 30.0
TARGET_P99_S = 1.0
TARGET_RSS_MIB = 1024


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit; returns the new soft limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class _Stream(asyncio.Protocol):
    """One subscriber: notes when the snapshot and then the armed marker arrive."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.tail = b""
        self.subscribed = asyncio.get_running_loop().create_future()
        self.marker: bytes | None = None

    def data_received(self, data: bytes) -> None:
        window = self.tail + data
        if not self.subscribed.done() and b"event: snapshot" in window:
            self.subscribed.set_result(None)
        if self.marker is not None and self.marker in window:
            self.marker = None
            self.client.arrived(time.monotonic())
        self.tail = window[-256:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("stream closed before its snapshot"))


class _Client:
    """N subscribers in one process, driven by lines on stdin."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: list[_Stream] = []
        self.times: list[float] = []
        self.done = asyncio.Event()
        self.expected = 0

    def arrived(self, at: float) -> None:
        self.times.append(at)
        if len(self.times) >= self.expected:
            self.done.set()

    async def open(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        request = (
            f"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one() -> None:
            async with gate:
                transport, stream = await loop.create_connection(
                    lambda: _Stream(self), "127.0.0.1", self.port
                )
                transport.write(request)
                self.streams.append(stream)
                await stream.subscribed

        await asyncio.gather(*(one() for _ in range(count)))

    async def measure(self, marker: bytes) -> list[float]:
        self.times, self.expected = [], len(self.streams)
        self.done.clear()
        for stream in self.streams:
            stream.marker = marker
        print("armed", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), DELIVERY_TIMEOUT_S)
        return self.times


async def _client_main(port: int, count: int) -> None:
    raise_nofile()
    client = _Client(port)
    await client.open(count)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        command, _, argument = line.partition(" ")
        if command == "arm":
            times = await client.measure(argument.encode())
            print(json.dumps({"times": times, "streams": len(client.streams)}), flush=True)
        else:
            break


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (`lobby serve` runs its workers under a supervisor)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM summed over the lobby's processes."""
    fields = {"VmRSS": 0, "VmHWM": 0}
    for member in _tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, value = line.partition(":")
            if name in fields:
                fields[name] += int(value.split()[0])
    return fields


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _run_size(count: int, folder: Path) -> dict[str, float]:
    # Every subscriber connects from loopback: lift the per-address connection cap (256) for them.
    env = {
        "LOBBY_EVENTS_PING_S": "600",
        "LOBBY_EVENTS_SWEEP_S": "600",
        "LOBBY_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
    }
    lobby = LobbyProcess(folder / f"n{count}", env).start()
    assert lobby.process is not None
    client = None
    try:
        with httpx.Client(base_url=lobby.url, timeout=30) as api:
            body = {"name": "fanout", "address": "127.0.0.1:7000", "capacity": 100_000}
            r = api.post("/v1/servers", json=body, headers=ADMIN)
            assert r.status_code == 201, r.text
            server = r.json()
            auth = {"Authorization": f"Bearer {server['secret']}"}
            api.put(f"/v1/servers/{server['id']}/heartbeat", json={"players": 0}, headers=auth)
            idle_rss = _rss_kib(lobby.process.pid)["VmRSS"]
            client = subprocess.Popen(
                [sys.executable, "-m", "bench.events_fanout", "--client", str(lobby.port), str(count)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert client.stdin is not None
            assert client.stdout is not None
            started = time.monotonic()
            if client.stdout.readline().strip() != "ready":
                raise RuntimeError("the client could not open its streams")
            connect_s = time.monotonic() - started
            rounds: list[dict[str, float]] = []
            for round_number in range(1, ROUNDS + 1):
                players = count + round_number
                client.stdin.write(f'arm "players":{players},\n')
                client.stdin.flush()
                assert client.stdout.readline().strip() == "armed"
                sent = time.monotonic()
                api.put(f"/v1/servers/{server['id']}/heartbeat", json={"players": players}, headers=auth)
                result = json.loads(client.stdout.readline())
                latencies = [t - sent for t in result["times"]]
                got = {
                    "p50": statistics.median(latencies) if latencies else float("inf"),
                    "p99": _percentile(latencies, 0.99) if latencies else float("inf"),
                    "max": max(latencies, default=float("inf")),
                    "missing": result["streams"] - len(latencies),
                }
                rounds.append(got)
            memory = _rss_kib(lobby.process.pid)
            client.stdin.write("quit\n")
            client.stdin.flush()
            client.wait(timeout=30)
        return {
            **sorted(rounds, key=lambda r: r["p99"])[len(rounds) // 2],
            "worst_p99": max(r["p99"] for r in rounds),
            "connect_s": connect_s,
            "idle_rss_mib": idle_rss / 1024,
            "rss_mib": memory["VmRSS"] / 1024,
            "hwm_mib": memory["VmHWM"] / 1024,
        }
    finally:
        if client is not None and client.poll() is None:
            client.kill()
        lobby.stop()


def main() -> None:
    """Run every size and write the section of docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs/")
    args = parser.parse_args()
    if args.client:
        asyncio.run(_client_main(*args.client))
        return
    limit = raise_nofile()
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for count in args.sizes:
            result = _run_size(count, Path(folder))
            rows.append((count, result))
            print(count, {k: round(v, 4) for k, v in result.items()}, flush=True)
    lines = [
        "| subscribers | p50 ms | p99 ms | max ms | worst p99 ms | missing |"
        " lobby RSS MiB (idle → held, peak) | connect s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for count, r in rows:
        lines.append(
            f"| {count} | {r['p50'] * 1000:.0f} | {r['p99'] * 1000:.0f} | {r['max'] * 1000:.0f} "
            f"| {r['worst_p99'] * 1000:.0f} | {r['missing']:.0f} "
            f"| {r['idle_rss_mib']:.0f} → {r['rss_mib']:.0f}, {r['hwm_mib']:.0f} "
            f"| {r['connect_s']:.1f} |"
        )
    largest_count, largest = rows[-1]
    met = largest["p99"] < TARGET_P99_S and largest["hwm_mib"] < TARGET_RSS_MIB
    body = (
        f"One lobby process (SQLite store, rate limits off, uvicorn h11), a separate client process "
        f"holding N raw-socket `GET /v1/events` streams (RLIMIT_NOFILE {limit}). One heartbeat "
        f"changes a game's player count; latency is from sending that request until each "
        f"subscriber has read the `game` event, so it includes the lobby's store read and "
        f"the fan-out. {ROUNDS} changes per N: the median one (by p99) is shown, and the worst p99. "
        f"Memory is summed over the `lobby serve` "
        f"supervisor and its one worker (VmRSS while holding the streams, VmHWM the peak).\n\n"
        + "\n".join(lines)
        + f"\n\nTarget: {largest_count} subscribers with p99 under {TARGET_P99_S * 1000:.0f} ms "
        f"and under {TARGET_RSS_MIB} MiB: **{'met' if met else 'not met'}** "
        f"(p99 {largest['p99'] * 1000:.0f} ms, peak RSS {largest['hwm_mib']:.0f} MiB). "
        f"The machine's 1-minute load average was {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after the run (2 cores, shared with the client process and "
        f"with whatever else runs); fan-out time scales with the CPU the lobby gets.\n"
    )
    print(body)
    if not args.no_write:
        write_section("Event fan-out", COMMAND, body)


if __name__ == "__main__":
    main()
