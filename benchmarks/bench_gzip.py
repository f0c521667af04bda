"""Gzip bomb: peak RSS of a fetch whose body is 200 MB of zeros in ~200 KB of gzip, vs before it.

The fetch layer (``ticket_alarm.fetch.http``) decompresses gzip/deflate itself, streaming, never producing
more than ``http.max_response_bytes`` + 1 bytes, so the bomb is refused at the 5 MB cap with a few MB
of memory. (Before: httpx decoded each network chunk whole, 188 MB peak RSS.) Runs in a child process
so its ``ru_maxrss`` (the peak) belongs to this fetch alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import zlib

from benchmarks.bench_common import ROOT, Row, safe_environment, say, verdict

TARGET_MB = 20.0


def bomb(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def fetch_bomb(megabytes: int) -> dict[str, float | str]:
    from tests.support.server import LoopbackServer, Response
    from ticket_alarm.config.settings import HttpSettings
    from ticket_alarm.errors import FetchError
    from ticket_alarm.fetch.http import Fetcher

    body = bomb(megabytes)
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    server = LoopbackServer(lambda request: Response(200, body, headers)).start()  # a real socket
    before = peak_mb()
    outcome = "accepted (no cap!)"
    try:
        async with Fetcher(HttpSettings(retries=0, min_request_interval=0)) as fetcher:
            try:
                await fetcher.for_site("bomb").get(f"{server.base_url}/list")
            except FetchError as exc:
                outcome = exc.reason
    finally:
        server.stop()
    return {"wire_kb": len(body) / 1024, "before_mb": before, "peak_mb": peak_mb(), "outcome": outcome}


def run(quick: bool) -> list[Row]:
    megabytes = 50 if quick else 200
    say(f"  gzip: a {megabytes} MB gzip bomb in a child process …")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_gzip", "--megabytes", str(megabytes)],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"the gzip bomb fetch failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}"
        )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = float(data["peak_mb"]) - float(data["before_mb"])
    refused = "limit" in str(data["outcome"])
    return [
        Row(
            benchmark=f"gzip: peak RSS fetching a {megabytes} MB gzip bomb "
            f"({data['wire_kb']:.0f} KB on the wire)",
            measured=f"{data['before_mb']:.1f} MB → {data['peak_mb']:.1f} MB peak",
            ratio=f"{growth:+.1f} MB",
            target=f"refused at the cap, ≤ {TARGET_MB:g} MB growth",
            status=verdict(refused and growth <= TARGET_MB),
            notes=[f"gzip: {data['outcome']}"],
            values=data,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="gzip bomb fetch (run by benchmarks.run)")
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args(argv)
    safe_environment()
    from ticket_alarm import i18n

    i18n.set_language("en")  # the report is in English, and run() reads the refusal's words
    print(json.dumps(asyncio.run(fetch_bomb(args.megabytes))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
