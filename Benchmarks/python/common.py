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
