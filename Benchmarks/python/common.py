"""Shared command line for the Python line-echo peers (no event-loop imports here)."""
import argparse
import sys


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                   help="serve TLS 1.3 with this PEM certificate chain and key")
    p.add_argument("--backlog", type=int, default=1024)
    p.add_argument("--flush", choices=("batch", "line"), default="batch",
                   help="eventlet/gevent: flush once no further complete line is buffered (batch, default) "
                        "or after every line (asyncio always writes each line at once)")
    return p.parse_args()


def server_context(ssl_module, cert, key):
    """A TLS 1.3-only server context built from the given ssl module (stdlib or green)."""
    ctx = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl_module.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    return ctx


def ready(host, port):
    print(f"listening on {host}:{port}", flush=True)
    sys.stdout.flush()


def line_buffered(f, sock):
    """True if the makefile('rwb') pair `f` already holds a further complete line, without blocking.

    `peek` returns the reader's buffered bytes, or reads from the socket when the buffer is empty; with the
    socket non-blocking that read cannot block (it returns nothing, or raises would-block, which counts as
    "nothing buffered"). Any other error also answers False: the caller flushes and its next readline sees it.
    """
    sock.setblocking(False)  # not settimeout(0): eventlet's SSL socket would raise a timeout, and SocketIO
    try:                     # refuses to read again after one
        return b"\n" in f.peek(1)
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def echo_connection(conn, f, flush_per_line, errors):
    """The blocking-style line echo both green peers run: readline, write it back, flush once no
    further complete line is buffered (or after every line); closes the connection at the end."""
    try:
        while True:
            line = f.readline()
            if not line:
                break
            f.write(line)
            if flush_per_line or not line_buffered(f, conn):
                f.flush()
    except errors:
        pass
    finally:
        conn.close()
