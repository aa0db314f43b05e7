"""Dispatcher: python server.py {eventlet,gevent,asyncio} --port P [--tls CERT KEY].

Each peer is a separate module because eventlet and gevent monkey-patch at import time.
"""
import os
import runpy
import sys

PEERS = {"eventlet": "eventlet_server", "gevent": "gevent_server", "asyncio": "asyncio_server"}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in PEERS:
        sys.exit("usage: server.py {eventlet,gevent,asyncio} --port P [--tls CERT KEY]")
    name = PEERS[sys.argv.pop(1)]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    runpy.run_module(name, run_name="__main__", alter_sys=True)
