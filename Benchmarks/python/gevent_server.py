"""Line echo on gevent: gevent.server.StreamServer, makefile('rwb'), readline/write, flush once no further line is buffered (or per line)."""
from gevent import monkey
monkey.patch_all()

import socket  # noqa: E402  (patched)
import ssl  # noqa: E402  (patched: gevent.ssl)

from gevent.server import StreamServer  # noqa: E402

from common import echo_connection, parse_args, ready, server_context  # noqa: E402

FLUSH_PER_LINE = False  # --flush line


def handle(conn, _address):
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = conn.makefile("rwb")
    except (OSError, ssl.SSLError):
        conn.close()
        return
    echo_connection(conn, f, FLUSH_PER_LINE, (OSError, ssl.SSLError))


def main():
    global FLUSH_PER_LINE
    args = parse_args(__doc__)
    FLUSH_PER_LINE = args.flush == "line"
    kwargs = {}
    if args.tls:
        # StreamServer wraps each accepted socket with gevent's ssl in the connection's greenlet.
        kwargs["ssl_context"] = server_context(ssl, *args.tls)
    server = StreamServer((args.host, args.port), handle, backlog=args.backlog, **kwargs)
    server.init_socket()
    ready(args.host, server.socket.getsockname()[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
