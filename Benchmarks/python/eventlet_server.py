"""Line echo on eventlet: eventlet.listen, makefile('rwb'), readline/write, flush once no further line is buffered (or per line)."""
import eventlet
eventlet.monkey_patch()

import socket  # noqa: E402  (patched)
from eventlet.green import ssl  # noqa: E402

from common import echo_connection, parse_args, ready, server_context  # noqa: E402

FLUSH_PER_LINE = False  # --flush line


def handle(conn, ctx):
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is not None:
            conn = ctx.wrap_socket(conn, server_side=True)  # green handshake in this green thread
        f = conn.makefile("rwb")
    except (OSError, ssl.SSLError):
        conn.close()
        return
    echo_connection(conn, f, FLUSH_PER_LINE, (OSError, ssl.SSLError))


def main():
    global FLUSH_PER_LINE
    args = parse_args(__doc__)
    FLUSH_PER_LINE = args.flush == "line"
    ctx = server_context(ssl, *args.tls) if args.tls else None
    listener = eventlet.listen((args.host, args.port), backlog=args.backlog)
    ready(args.host, listener.getsockname()[1])
    pool = eventlet.GreenPool(size=1_000_000)
    while True:
        conn, _ = listener.accept()
        pool.spawn_n(handle, conn, ctx)


if __name__ == "__main__":
    main()
