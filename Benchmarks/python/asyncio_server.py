"""Line echo on asyncio streams: start_server, reader.readline(), writer.write, await writer.drain() per line."""
import asyncio
import socket
import ssl

from common import parse_args, ready, server_context


async def handle(reader, writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    args = parse_args(__doc__)
    ctx = server_context(ssl, *args.tls) if args.tls else None
    server = await asyncio.start_server(handle, args.host, args.port, ssl=ctx, backlog=args.backlog)
    ready(args.host, server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
