"""Memory-per-idle-connection client for Benchmarks/memory.sh.

Opens N connections to a line-echo server (asyncio, plain or TLS without verification), makes each echo
one 64-byte line, holds them all open, reads the server's VmRSS, closes them, and repeats for W waves.
Prints one line of JSON with the RSS samples (KiB).
"""
import argparse
import asyncio
import json
import resource
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


RESP = False  # --resp: send an inline PING and expect +PONG (for redis-server) instead of a line echo
UPPER = False  # --upper: expect the line back in capitals (the line-server example)


async def open_one(host, port, ctx, i, sem, timeout):
    async with sem:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), timeout)
        line = b"PING\r\n" if RESP else (f"conn {i:06d} ".encode() + b"x" * 64)[:63] + b"\n"
        writer.write(line)
        await writer.drain()
        back = await asyncio.wait_for(reader.readline(), timeout)
        if back != (b"+PONG\r\n" if RESP else line.upper() if UPPER else line):
            raise RuntimeError(f"connection {i}: echo mismatch {back!r}")
        return writer


async def close_all(writers):
    for w in writers:
        w.transport.abort() if w.transport.get_extra_info("sslcontext") is None else w.close()
    await asyncio.sleep(0)
    for w in writers:
        try:
            await asyncio.wait_for(w.wait_closed(), 2)
        except Exception:
            pass


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--resp", action="store_true", help="PING/PONG instead of a line echo (redis-server)")
    p.add_argument("--upper", action="store_true", help="expect each line back in capitals (line-server)")
    p.add_argument("--conns", type=int, default=5000)
    p.add_argument("--waves", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each RSS reading")
    args = p.parse_args()
    global RESP, UPPER
    RESP = args.resp
    UPPER = args.upper

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.conns + 1000)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    sem = asyncio.Semaphore(args.concurrency)
    # Warm-up: one connection echoes a line and closes, so lazily built server state exists before the baseline.
    w = await open_one(args.host, args.port, ctx, 0, sem, 10)
    await close_all([w])
    await asyncio.sleep(args.settle)
    result = {"baseline": rss_kib(args.pid), "waves": []}
    for wave in range(args.waves):
        before = rss_kib(args.pid)
        t0 = time.monotonic()
        writers = await asyncio.gather(*(open_one(args.host, args.port, ctx, i, sem, 30)
                                         for i in range(args.conns)))
        opened = time.monotonic() - t0
        await asyncio.sleep(args.settle)
        held = rss_kib(args.pid)
        await close_all(writers)
        del writers
        await asyncio.sleep(args.settle)
        after_close = rss_kib(args.pid)
        result["waves"].append({"before": before, "held": held, "after_close": after_close,
                                "open_seconds": round(opened, 2)})
        print(f"  wave {wave + 1}: before {before} KiB, held {held} KiB, after close {after_close} KiB, "
              f"opened in {opened:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
