"""A closed-loop HTTP/1.1 load generator with keep-alive, run in its own process.

Each of ``--connections`` connections sends the same POST, waits for the whole answer, and sends
again, for ``--seconds`` (after ``--warmup``). It speaks raw HTTP over asyncio streams so the
client costs as little CPU as possible (the server shares the machine). Prints one JSON line:
requests/s, p50, p99 (ms), the status codes seen, and every answer counted from the first
(``answered``, warm-up included: what the server's CPU time over the whole run paid for).

    python benchmarks/_loadgen.py --url http://127.0.0.1:8000/predict --body body.json -c 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from urllib.parse import urlsplit


async def _one(
    host: str,
    port: int,
    request: bytes,
    until: float,
    record_from: float,
    lat: list[float],
    codes: Counter[int],
    answered: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= until:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            t1 = time.perf_counter()
            answered[0] += 1
            if t0 >= record_from:
                lat.append(t1 - t0)
                codes[status] += 1
    finally:
        writer.close()


async def run(url: str, body: bytes, connections: int, seconds: float, warmup: float) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode() + body
    start = time.perf_counter()
    record_from = start + warmup
    until = record_from + seconds
    lat: list[float] = []
    codes: Counter[int] = Counter()
    answered = [0]
    await asyncio.gather(
        *(
            _one(host, port, request, until, record_from, lat, codes, answered)
            for _ in range(connections)
        )
    )
    lat.sort()
    n = len(lat)

    def pct(p: float) -> float | None:
        return None if not n else lat[min(n - 1, int(p * n))] * 1000

    return {
        "requests": n,
        "answered": answered[0],
        "rps": n / seconds,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "codes": {str(k): v for k, v in codes.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True, help="file holding the JSON body")
    ap.add_argument("-c", "--connections", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    args = ap.parse_args()
    with open(args.body, "rb") as f:
        body = f.read()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(run(args.url, body, args.connections, args.seconds, args.warmup))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
