"""Timeout punctuality client for Benchmarks/timeouts.sh.

Opens N idle connections to a line-echo server started with --timeout T, a few at a time, and measures
for each how long after connecting the server closed it (it sends "ERR timeout\\n" and closes).
Prints one line of JSON: the delays in seconds, sorted.
"""
import argparse
import asyncio
import json
import time


async def one(host, port, limit):
    start = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    start = time.monotonic()
    data = await asyncio.wait_for(reader.read(), limit)  # until the server closes
    delay = time.monotonic() - start
    writer.close()
    if data != b"ERR timeout\n":
        raise RuntimeError(f"unexpected reply {data!r}")
    return delay


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=500)
    p.add_argument("--spread", type=float, default=2.0, help="seconds over which connections are opened")
    p.add_argument("--limit", type=float, default=10.0)
    args = p.parse_args()
    tasks = []
    for i in range(args.conns):
        tasks.append(asyncio.create_task(one(args.host, args.port, args.limit)))
        await asyncio.sleep(args.spread / args.conns)
    delays = sorted(await asyncio.gather(*tasks))
    print(json.dumps({"delays": delays}))


asyncio.run(main())
