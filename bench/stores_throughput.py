"""Join and redeem throughput of the Redis store next to the SQLite store, one lobby instance and two.

Every configuration gets the same preparation and the same `wrk` load (connections shared between
the instances); ratios are taken within this one run. Redis runs as the deployment guide asks:
append-only file with `appendfsync always`, so a redemption is as durable as SQLite's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.lobby_throughput import LOBBY_ENV, make_script, prepare, run_wrk
from bench.report import write_section
from tests.support.lobby import LobbyProcess, free_port
from tests.support.redis import RedisProcess

COMMAND = "./dev bench stores_throughput"
TOKENS = 32_000
TARGET_REDIS_TO_SQLITE = 0.8
REDIS_DURABLE = ("--appendonly", "yes", "--appendfsync", "always")


@dataclass(frozen=True)
class Setup:
    """One configuration: a store and a number of lobby instances."""

    store: str
    instances: int

    @property
    def name(self) -> str:
        """How the report names it."""
        return f"{self.store}, {self.instances} instance{'s' if self.instances > 1 else ''}"


SETUPS = (Setup("sqlite", 1), Setup("redis", 1), Setup("sqlite", 2), Setup("redis", 2))


@contextmanager
def lobbies(setup: Setup, folder: Path) -> Iterator[list[LobbyProcess]]:
    """Start the instances of `setup`: one data and keys directory, one public URL, one store."""
    redis = None
    if setup.store == "redis":
        redis = RedisProcess(folder / "redis", extra_args=REDIS_DURABLE).start()
    ports = [free_port() for _ in range(setup.instances)]
    env = {**LOBBY_ENV, "LOBBY_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}"}
    if redis is not None:
        env["LOBBY_STORE"] = redis.url()
    started: list[LobbyProcess] = []
    try:
        for port in ports:
            started.append(LobbyProcess(folder / "data", env, port=port).start())
        yield started
    finally:
        for process in started:
            process.stop()
        if redis is not None:
            redis.stop()


def measure(setup: Setup, folder: Path) -> dict[str, dict[str, float]]:
    """Requests per second of /healthz, join and redeem for one setup."""
    folder.mkdir()
    with lobbies(setup, folder) as instances:
        join_lines, redeem_lines = asyncio.run(prepare(instances[0].url, TOKENS))
        n = len(instances)
        runs = {
            "trivial": ("GET", [["-\t/healthz\t"]] * n),
            "join": ("POST", [join_lines[i::n] for i in range(n)]),
            "redeem": ("POST", [redeem_lines[i::n] for i in range(n)]),
        }
        results = {}
        for name, (method, shares) in runs.items():
            targets = [
                (lobby.url, make_script(folder, f"{name}{i}", method, lines))
                for i, (lobby, lines) in enumerate(zip(instances, shares, strict=True))
            ]
            results[name] = run_wrk(targets)
        return results


def main() -> None:
    """Run every setup and write the comparison to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {s: measure(s, Path(tmp) / f"{s.store}{s.instances}") for s in SETUPS}
    rows = []
    for setup, r in results.items():
        base = r["trivial"]["rps"]
        for name in ("trivial", "join", "redeem"):
            m = r[name]
            rows.append(
                f"| {setup.name} | {name} | {m['rps']:.0f} | {m['rps'] / base:.2f} |"
                f" {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['errors']:.0f} |"
            )
    sqlite1, redis1 = results[SETUPS[0]], results[SETUPS[1]]
    verdicts = [
        f"- Redis / SQLite on one instance, {name}: {redis1[name]['rps'] / sqlite1[name]['rps']:.2f}"
        f" (target at least {TARGET_REDIS_TO_SQLITE})"
        for name in ("join", "redeem")
    ]
    body = "\n".join(
        [
            "Each setup: the same players, servers and pre-issued tokens, then `wrk` for /healthz, join"
            " and redeem in turn; with two instances the connections are split between them and the"
            " requests per second summed. Both instances of a setup share the data and keys directory"
            " and the public URL. Redis runs with `appendonly yes` and `appendfsync always`.",
            "",
            "| setup | endpoint | requests/s | ratio to trivial | p50 ms | p99 ms | non-2xx |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            *verdicts,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Stores and instances", COMMAND, body)


if __name__ == "__main__":
    main()
