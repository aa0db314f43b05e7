#!/usr/bin/env python3
"""greenio serve --proxy-protocol behind real load balancers: HAProxy and nginx.

Builds a small network of its own: network namespaces joined by veth pairs, a client, a
balancer and three backends,

    client 10.77.1.2 --- 10.77.1.1  balancer  10.77.2.1 (bridge) --- backends 10.77.2.11, .12, .13

each backend namespace running `greenio serve --proxy-protocol --proxy-trusted 10.77.2.1` once per
service (echo for PROXY v1 and v2, TLS echo for v1 and v2, RESP, echo for nginx). HAProxy runs on
Deploy/haproxy.cfg as it is (its addresses are environment variables that HAProxy expands), nginx
on Deploy/nginx.conf with its ${GIO_...} names replaced. Where namespaces cannot be made (or with
--loopback) the same tests run on loopback addresses 127.N.0.x, and the output says so.

For each HAProxy service (send-proxy and send-proxy-v2, plain and TLS passthrough) it shows:
  (a) the backends log the client's address, not the balancer's ("open CLIENT (via BALANCER)");
  (b) connections spread over the three backends;
  (e) a client that sends its own PROXY header straight to a backend is refused (no reply,
      "proxy header untrusted" in the backend's log);
  (c) kill -9 of one backend under load: HAProxy marks it DOWN within a few check intervals, new
      connections go to the other two, no line on a surviving connection is lost or duplicated,
      and the killed backend's clients see a reset or end of stream, never a hang;
  (d) SIGTERM of another: it gets no new connections (its checks fail: its listener is closed)
      while its open connections finish; it exits with code 0.
For nginx (no active checks in the open-source build): (a), (b), (e) and passive failover. For
RESP backends: HAProxy's PING/+PONG check brings the servers UP, and commands go through.

Every wait has a time limit; a PASS or FAIL line per check, a summary, exit status 1 on any
failure. The namespaces and processes are removed on every exit (also on SIGINT/SIGTERM).
Python 3.11 standard library only; needs root for namespaces, haproxy, nginx with the stream
module, and ip (iproute2).
"""

import argparse
import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "Deploy" / "haproxy.cfg"
NGINX_CONF = ROOT / "Deploy" / "nginx.conf"

CHECK_INTER = "500ms"     # HAProxy's check interval here (GIO_CHECK_INTER; the file's default is 2s)
CHECK_INTER_S = 0.5
FALL = 2                  # As in Deploy/haproxy.cfg: "fall 2 rise 2".
DRAIN = 8                 # greenio serve --drain: longer than the SIGTERM check needs.
IO_TIMEOUT = 5.0          # Any single socket operation.
BATCH = 5                 # Lines per exchange under load.
LOAD_PAUSE = 0.03         # Between a client's exchanges under load.

# The services each backend runs: name -> (port in the namespaces, greenio serve options).
SERVICES = {
    "echo_v1": (7001, []),
    "echo_v2": (7002, []),
    "tls_v1": (7441, ["--tls"]),
    "tls_v2": (7442, ["--tls"]),
    "resp": (6379, ["--protocol", "resp"]),
    "nginx": (7100, []),
}
BACKENDS = ("b1", "b2", "b3")


def now():
    return time.monotonic()


class CheckFailed(Exception):
    pass


# --- Results ---------------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.passed = []
        self.failed = []
        self.lock = threading.Lock()

    def check(self, name, ok, detail):
        with self.lock:
            (self.passed if ok else self.failed).append(name)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        return ok

    def note(self, text):
        print(f"     {text}", flush=True)


# --- Network namespaces ----------------------------------------------------------------------

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def run_cmd(argv, check=True, timeout=20):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


class Topology:
    """Where everything runs: namespaces (mode "netns") or loopback addresses ("loopback")."""

    def __init__(self, prefix, loopback):
        self.prefix = prefix
        self.namespaces = []
        self.mode = None
        self.reason = None
        self.own_ns = None
        if not loopback:
            try:
                self._make_namespaces()
                self.mode = "netns"
            except Exception as error:  # No CAP_SYS_ADMIN, no veth or bridge, no ip: loopback.
                self.reason = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
                self.remove()
        else:
            self.reason = "--loopback"
        if self.mode is None:
            self.mode = "loopback"
            n = 100 + os.getpid() % 100  # Parallel runs on one machine: different addresses.
            self.client_ip = f"127.{n}.0.10"
            self.front_ip = self.balancer_ip = f"127.{n}.0.20"
            self.backend_ip = {b: f"127.{n}.0.{31 + i}" for i, b in enumerate(BACKENDS)}

    def ns(self, role):
        """The namespace name for a role (cl, lb, b1..b3), or None on loopback."""
        return f"{self.prefix}{role}" if self.mode == "netns" else None

    def _make_namespaces(self):
        p = self.prefix
        self.client_ip, self.front_ip, self.balancer_ip = "10.77.1.2", "10.77.1.1", "10.77.2.1"
        self.backend_ip = {b: f"10.77.2.{11 + i}" for i, b in enumerate(BACKENDS)}
        for role in ("cl", "lb") + BACKENDS:
            run_cmd(["ip", "netns", "add", p + role])
            self.namespaces.append(p + role)
            run_cmd(["ip", "-n", p + role, "link", "set", "lo", "up"])
        lb, cl = p + "lb", p + "cl"
        # Client <-> balancer: one veth pair.
        run_cmd(["ip", "-n", lb, "link", "add", "gio-cl", "type", "veth", "peer", "name", "eth0", "netns", cl])
        run_cmd(["ip", "-n", lb, "addr", "add", f"{self.front_ip}/24", "dev", "gio-cl"])
        run_cmd(["ip", "-n", lb, "link", "set", "gio-cl", "up"])
        run_cmd(["ip", "-n", cl, "addr", "add", f"{self.client_ip}/24", "dev", "eth0"])
        run_cmd(["ip", "-n", cl, "link", "set", "eth0", "up"])
        run_cmd(["ip", "-n", cl, "route", "add", "default", "via", self.front_ip])
        # Balancer <-> backends: a bridge in the balancer's namespace, one veth pair per backend.
        run_cmd(["ip", "-n", lb, "link", "add", "gio-br", "type", "bridge"])
        run_cmd(["ip", "-n", lb, "addr", "add", f"{self.balancer_ip}/24", "dev", "gio-br"])
        run_cmd(["ip", "-n", lb, "link", "set", "gio-br", "up"])
        for b in BACKENDS:
            run_cmd(["ip", "-n", lb, "link", "add", f"gio-{b}", "type", "veth", "peer", "name", "eth0", "netns", p + b])
            run_cmd(["ip", "-n", lb, "link", "set", f"gio-{b}", "master", "gio-br"])
            run_cmd(["ip", "-n", lb, "link", "set", f"gio-{b}", "up"])
            run_cmd(["ip", "-n", p + b, "addr", "add", f"{self.backend_ip[b]}/24", "dev", "eth0"])
            run_cmd(["ip", "-n", p + b, "link", "set", "eth0", "up"])
            run_cmd(["ip", "-n", p + b, "route", "add", "default", "via", self.balancer_ip])
        # The balancer routes between its two sides, so the client can also reach a backend
        # directly (the untrusted-header check).
        run_cmd(["ip", "netns", "exec", lb, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        self.own_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        # Prove the namespaces usable before relying on them: a socket in the client's.
        with self.entered("cl"):
            socket.socket().close()

    @contextlib.contextmanager
    def entered(self, role):
        """Runs the body with this thread in a namespace (sockets made there stay there)."""
        name = self.ns(role) if self.mode == "netns" else None
        if name is None:
            yield
            return
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(fd)
            try:
                yield
            finally:
                _setns(self.own_ns)
        finally:
            os.close(fd)

    def client_socket(self):
        """A TCP socket with the client's address."""
        with self.entered("cl"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.mode == "loopback":
            s.bind((self.client_ip, 0))
        return s

    def command(self, role, argv):
        name = self.ns(role)
        return (["ip", "netns", "exec", name] if name else []) + argv

    def listening(self, role, ip, port):
        out = run_cmd(self.command(role, ["ss", "-Hltn", f"src {ip}:{port}"]), check=False, timeout=5).stdout
        return bool(out.strip())

    def free_port(self, ip):
        with socket.socket() as s:
            s.bind((ip, 0))
            return s.getsockname()[1]

    def remove(self):
        for name in self.namespaces:
            pids = run_cmd(["ip", "netns", "pids", name], check=False, timeout=5).stdout.split()
            for pid in pids:  # Only processes inside this run's own namespaces.
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run_cmd(["ip", "netns", "del", name], check=False, timeout=10)
        self.namespaces = []
        if self.own_ns is not None:
            os.close(self.own_ns)
            self.own_ns = None

    def describe(self):
        if self.mode == "netns":
            return (f"network namespaces {self.prefix}{{cl,lb,b1,b2,b3}}: client {self.client_ip}, balancer "
                    f"{self.front_ip} (clients' side) and {self.balancer_ip} (backends' side, the trusted "
                    f"source), backends {', '.join(self.backend_ip.values())}")
        return (f"NO network namespaces ({self.reason}): on loopback instead: client {self.client_ip}, "
                f"balancer {self.balancer_ip} (the trusted source), backends {', '.join(self.backend_ip.values())}")


# --- Processes -------------------------------------------------------------------------------

def start_time(pid):
    """A process's start time (clock ticks since boot): with its id, it names one process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])


def stop_all(processes):
    """SIGTERM to every process (nginx's master then stops its workers), SIGKILL to those still
    there after 3 s, and to any child of theirs left behind (checked by start time, so that a
    reused process id is never hit)."""
    children = [child for p in processes if p.alive() for child in p.children()]
    for process in processes:
        with contextlib.suppress(OSError):
            process.signal(signal.SIGTERM)
    deadline = now() + 3
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=max(0.01, deadline - now()))
    for process in processes:
        if process.alive():
            process.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=5)
    for pid, started in children:
        with contextlib.suppress(OSError, ValueError):
            if start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)


class Process:
    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.stdout_path = workdir / f"{name.replace('/', '-')}.out"
        self.stderr_path = workdir / f"{name.replace('/', '-')}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def children(self):
        """The process's child processes (nginx's workers), as (id, start time) pairs."""
        found = []
        for children in Path(f"/proc/{self.popen.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                found += [(int(pid), start_time(int(pid))) for pid in children.read_text().split()]
        return found

    def tail(self, lines=12):
        text = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            if path.exists():
                content = path.read_text(errors="replace").splitlines()
                if content:
                    text.append(f"--- {self.name} {label} (last {min(lines, len(content))} of {len(content)} lines)")
                    text += content[-lines:]
        return "\n".join(text)


class Backend:
    """One `greenio serve --proxy-protocol` in a backend namespace."""

    OPEN = re.compile(r"^open (\S+):(\d+) \((.*)\)$")

    def __init__(self, run, service, backend):
        self.service, self.backend = service, backend
        topo = run.topo
        port, options = SERVICES[service]
        self.ip = topo.backend_ip[backend]
        argv = [str(run.greenio), "serve", "--proxy-protocol", "--proxy-trusted", topo.balancer_ip,
                "--host", self.ip, "--port", str(port if topo.mode == "netns" else 0),
                "--drain", str(DRAIN)] + options
        self.process = Process(f"{backend}-{service}", topo.command(backend, argv), run.workdir)
        self.port = None
        self.fingerprint = None

    @property
    def address(self):
        return f"{self.ip}:{self.port}"

    def wait_ready(self, deadline):
        while now() < deadline:
            m = re.search(r"^listening on (\S+):(\d+)(?: \(tls, sha256 ([0-9A-F:]+)\))?$", self.process.stdout(), re.M)
            if m:
                self.port = int(m.group(2))
                self.fingerprint = m.group(3)
                return
            if not self.process.alive():
                raise CheckFailed(f"{self.process.name} exited ({self.process.popen.returncode}): {self.process.stderr()[-500:]}")
            time.sleep(0.05)
        raise CheckFailed(f"{self.process.name}: no 'listening on' line in time")

    def opens(self):
        """(peer ip, peer port, note) for each "open" line of the log."""
        found = []
        for line in self.process.stderr().splitlines():
            m = self.OPEN.match(line)
            if m:
                found.append((m.group(1), int(m.group(2)), m.group(3)))
        return found


# --- Clients ---------------------------------------------------------------------------------

TLS_CLIENT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
TLS_CLIENT.check_hostname = False
TLS_CLIENT.verify_mode = ssl.CERT_NONE  # The backends' certificates are self-signed; the
                                        # fingerprint is compared with their start line instead.


def fingerprint(der):
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def recv_exactly(sock, count, deadline):
    data = b""
    while len(data) < count:
        if now() > deadline:
            raise socket.timeout(f"{len(data)} of {count} bytes in time")
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"end of stream after {len(data)} of {count} bytes")
        data += chunk
    return data


class EchoClient:
    """One connection through a balancer that sends numbered lines and checks each echo, in order."""

    def __init__(self, topo, frontend, tls, label):
        self.topo, self.frontend, self.tls, self.label = topo, frontend, tls, label
        self.sock = None
        self.port = None
        self.fingerprint = None
        self.sent = 0        # Lines sent.
        self.echoed = 0      # Lines echoed back, each checked.
        self.outcome = None  # None while running or after a clean end; else what ended it.
        self.ended_at = None
        self.finished_cleanly = False
        self.thread = None
        self.stop_event = threading.Event()

    def connect(self):
        s = self.topo.client_socket()
        s.settimeout(IO_TIMEOUT)
        s.connect(self.frontend)
        self.port = s.getsockname()[1]
        if self.tls:
            s = TLS_CLIENT.wrap_socket(s)
            self.fingerprint = fingerprint(s.getpeercert(binary_form=True))
        self.sock = s
        return self

    def exchange(self, count=BATCH):
        lines = b"".join(f"{self.label} line {n}\n".encode() for n in range(self.sent, self.sent + count))
        self.sock.sendall(lines)
        self.sent += count
        echo = recv_exactly(self.sock, len(lines), now() + IO_TIMEOUT)
        if echo != lines:
            raise CheckFailed(f"{self.label}: echo {echo[:60]!r} is not {lines[:60]!r}")
        self.echoed += count

    def _loop(self):
        try:
            while not self.stop_event.is_set():
                self.exchange()
                self.stop_event.wait(LOAD_PAUSE)
        except (EOFError, ssl.SSLEOFError) as error:
            self.outcome = f"end of stream ({error})"
        except ConnectionResetError:
            self.outcome = "connection reset"
        except (socket.timeout, TimeoutError) as error:
            self.outcome = f"HANG: nothing within {IO_TIMEOUT} s ({error})"
        except Exception as error:
            self.outcome = f"{type(error).__name__}: {error}"
        self.ended_at = now()

    def start_load(self):
        self.thread = threading.Thread(target=self._loop, daemon=True, name=self.label)
        self.thread.start()

    def stop_load(self, timeout=IO_TIMEOUT + 2):
        self.stop_event.set()
        if self.thread:
            self.thread.join(timeout)
            if self.thread.is_alive():
                self.outcome = self.outcome or "HANG: the client thread did not stop"

    def finish(self):
        """Ends the connection cleanly and checks that nothing more than the echoes came back:
        plain, half-close and read to the end; TLS, a quiet moment, then close_notify."""
        try:
            if self.tls:
                self.sock.settimeout(0.3)
                try:
                    extra = self.sock.recv(100)
                    if extra:
                        raise CheckFailed(f"{self.label}: {len(extra)} bytes beyond the echoes: {extra[:40]!r}")
                except (socket.timeout, TimeoutError):
                    pass
                self.sock.settimeout(IO_TIMEOUT)
                raw = self.sock.unwrap()
                extra = raw.recv(100)
            else:
                self.sock.shutdown(socket.SHUT_WR)
                deadline = now() + IO_TIMEOUT
                extra = b""
                while now() < deadline:
                    chunk = self.sock.recv(100)
                    if not chunk:
                        break
                    extra += chunk
                else:
                    raise CheckFailed(f"{self.label}: no end of stream after the half-close")
            if extra:
                raise CheckFailed(f"{self.label}: {len(extra)} bytes beyond the echoes: {extra[:40]!r}")
            self.finished_cleanly = True
        except CheckFailed as error:
            self.outcome = str(error)
        except Exception as error:
            self.outcome = f"ending: {type(error).__name__}: {error}"

    def close(self):
        if self.sock:
            with contextlib.suppress(OSError):
                self.sock.close()


def end_all(clients):
    """Stops the clients' load and ends their connections (`finish`), all at once."""
    for client in clients:
        client.stop_event.set()
    for client in clients:
        client.stop_load()
    threads = [threading.Thread(target=c.finish, daemon=True) for c in clients if c.outcome is None]
    for thread in threads:
        thread.start()
    deadline = now() + 2 * IO_TIMEOUT
    for thread in threads:
        thread.join(max(0.1, deadline - now()))
    for client in clients:
        if client.outcome is None and not client.finished_cleanly:
            client.outcome = "HANG: the connection did not end in time"


# --- The run ---------------------------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        self.report = Report()
        self.greenio = Path(args.greenio).resolve()
        self.workdir = Path(tempfile.mkdtemp(prefix="gio-balancers-"))
        self.processes = []
        self.clients = []
        self.topo = None
        self.backends = {}   # (service, backend) -> Backend
        self.haproxy = None
        self.nginx = None
        self.down_times = []

    # Set-up and clean-up.

    def start(self):
        self.topo = Topology(self.args.prefix, self.args.loopback)
        print(f"balancers: {self.topo.describe()}", flush=True)
        deadline = now() + 60
        for service in SERVICES:
            for b in BACKENDS:
                backend = Backend(self, service, b)
                self.processes.append(backend.process)
                self.backends[(service, b)] = backend
        for backend in self.backends.values():
            backend.wait_ready(deadline)
        self.start_haproxy()
        self.start_nginx()

    def front_port(self, service):
        port = SERVICES[service][0]
        return port if self.topo.mode == "netns" else self.topo.free_port(self.topo.front_ip)

    def start_haproxy(self):
        env = dict(os.environ)
        self.stats_socket = self.workdir / "haproxy.sock"
        env["GIO_STATS_SOCKET"] = str(self.stats_socket)
        env["GIO_CHECK_INTER"] = CHECK_INTER
        env["GIO_BALANCER_SOURCE"] = self.topo.balancer_ip
        self.frontends = {}
        for service in ("echo_v1", "echo_v2", "tls_v1", "tls_v2", "resp"):
            self.frontends[service] = (self.topo.front_ip, self.front_port(service))
            env[f"GIO_{service.upper()}_FRONTEND"] = "%s:%d" % self.frontends[service]
            for b in BACKENDS:
                env[f"GIO_{service.upper()}_{b.upper()}"] = self.backends[(service, b)].address
        argv = ["haproxy", "-db", "-f", str(HAPROXY_CFG)]
        self.haproxy = Process("haproxy", self.topo.command("lb", argv), self.workdir, env=env)
        self.processes.append(self.haproxy)
        deadline = now() + 20
        while now() < deadline:
            if not self.haproxy.alive():
                raise CheckFailed(f"haproxy exited ({self.haproxy.popen.returncode}): {self.haproxy.stderr()[-800:]}")
            with contextlib.suppress(OSError):
                if self.haproxy_stat():
                    return
            time.sleep(0.1)
        raise CheckFailed("haproxy: its stats socket did not answer in time")

    def start_nginx(self):
        values = {
            "GIO_NGINX_FRONTEND": "%s:%d" % (self.topo.front_ip, self.front_port("nginx")),
            "GIO_BALANCER_SOURCE": self.topo.balancer_ip,
        }
        for b in BACKENDS:
            values[f"GIO_NGINX_{b.upper()}"] = self.backends[("nginx", b)].address
        # The names are replaced outside comments (which mention ${GIO_NAME} itself).
        lines = NGINX_CONF.read_text().splitlines(keepends=True)
        pattern = re.compile(r"\$\{(GIO_[A-Z0-9_]+)\}")
        names = {m for line in lines if not line.lstrip().startswith("#") for m in pattern.findall(line)}
        if names != set(values):
            raise CheckFailed(f"Deploy/nginx.conf names {sorted(names)}, the driver sets {sorted(values)}")
        text = "".join(line if line.lstrip().startswith("#") else pattern.sub(lambda m: values[m.group(1)], line)
                       for line in lines)
        conf = self.workdir / "nginx.conf"
        conf.write_text(text)
        ip, port = values["GIO_NGINX_FRONTEND"].rsplit(":", 1)
        self.frontends["nginx"] = (ip, int(port))
        self.nginx_error_log = self.workdir / "nginx-error.log"
        argv = ["nginx", "-p", str(self.workdir), "-e", str(self.nginx_error_log), "-c", str(conf),
                "-g", f"daemon off; pid {self.workdir / 'nginx.pid'};"]
        self.nginx = Process("nginx", self.topo.command("lb", argv), self.workdir)
        self.processes.append(self.nginx)
        deadline = now() + 20
        while now() < deadline:
            if not self.nginx.alive():
                log = self.nginx_error_log.read_text() if self.nginx_error_log.exists() else ""
                raise CheckFailed(f"nginx exited ({self.nginx.popen.returncode}): {self.nginx.stderr()[-500:]} {log[-500:]}")
            if self.topo.listening("lb", ip, port):
                return
            time.sleep(0.1)
        raise CheckFailed("nginx: not listening in time")

    def cleanup(self):
        for client in self.clients:
            client.stop_event.set()
            client.close()
        stop_all(self.processes)
        if self.topo:
            self.topo.remove()

    def diagnostics(self, names):
        for process in self.processes:
            if process.name in names:
                print(process.tail(), flush=True)

    # HAProxy's runtime API.

    def haproxy_command(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(self.stats_socket))
            s.sendall(command.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode(errors="replace")

    def haproxy_stat(self):
        """{(backend, server): row} from "show stat"."""
        lines = self.haproxy_command("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        rows = {}
        for line in lines[1:]:
            if line:
                row = dict(zip(header, line.split(",")))
                rows[(row["pxname"], row["svname"])] = row
        return rows

    def wait_servers(self, service, servers, want, timeout):
        """Waits until each server's status is `want` ("UP" after a good layer-7 check, or
        "DOWN"); returns the seconds it took, or raises CheckFailed with the states seen."""
        start = now()
        rows = {}
        while now() - start < timeout:
            with contextlib.suppress(OSError):
                rows = self.haproxy_stat()
            states = [rows.get((service, s), {}) for s in servers]
            # check_status is "* L7OK" while a check is running, "L7OK" after a good one.
            if want == "UP" and all(r.get("status") == "UP" and r.get("check_status", "").lstrip("* ") == "L7OK" for r in states):
                return now() - start
            if want == "DOWN" and all(r.get("status") == "DOWN" for r in states):
                return now() - start
            time.sleep(0.05)
        seen = ", ".join(f"{s}={rows.get((service, s), {}).get('status')}/{rows.get((service, s), {}).get('check_status')}" for s in servers)
        raise CheckFailed(f"{service}: not {want} within {timeout} s: {seen}")

    # Helpers for the checks.

    def connect_clients(self, service, count, tag, tls=False):
        clients = []
        for i in range(count):
            client = EchoClient(self.topo, self.frontends[service], tls, f"{service}-{tag}{i}")
            self.clients.append(client)
            client.connect()
            client.exchange()
            clients.append(client)
        return clients

    def locate(self, service, clients, timeout=5):
        """{client: backend name}, from the backends' "open CLIENT (via BALANCER)" lines; checks
        that each names the client's address and port and the balancer's address."""
        deadline = now() + timeout
        while True:
            where, problems = {}, []
            for b in BACKENDS:
                for ip, port, note in self.backends[(service, b)].opens():
                    if ip == self.topo.client_ip:
                        for client in clients:
                            if client.port == port:
                                if client in where:
                                    problems.append(f"{client.label} logged by {where[client]} and {b}")
                                where[client] = b
                                if not note.startswith(f"via {self.topo.balancer_ip}:"):
                                    problems.append(f"{b} logged {client.label} with ({note})")
            if problems:
                raise CheckFailed("; ".join(problems))
            if len(where) == len(clients) or now() > deadline:
                break
            time.sleep(0.05)
        missing = [c.label for c in clients if c not in where]
        if missing:
            raise CheckFailed(f"no backend logged {', '.join(missing)} as {self.topo.client_ip}:PORT")
        return where

    def check_addresses(self, name, service, clients):
        """(a): each connection is logged by one backend under the client's address and port (the
        balancer's in the "via" note), and no proxied connection is logged under another address."""
        where = self.locate(service, clients)
        others = []
        for b in BACKENDS:
            for ip, port, note in self.backends[(service, b)].opens():
                if note.startswith("via ") and ip not in (self.topo.client_ip, self.topo.balancer_ip):
                    others.append(f"{b}: open {ip}:{port} ({note})")
                # A v1 health check's header names the check's own connection: the balancer as client.
                if note.startswith("via ") and ip == self.topo.balancer_ip and any(c.port == port for c in clients):
                    others.append(f"{b}: open {ip}:{port} ({note})")
        example = next(iter(where))
        line = next(f"open {ip}:{port} ({note})" for ip, port, note in self.backends[(service, where[example])].opens()
                    if port == example.port and ip == self.topo.client_ip)
        ok = not others
        tls_note = ""
        if ok and clients[0].tls:
            wrong = [c.label for c in clients if c.fingerprint != self.backends[(service, where[c])].fingerprint]
            ok = not wrong
            tls_note = (f"; each client's TLS peer is the backend that logged it (certificate fingerprints)" if ok
                        else f"; TLS peers differ from the logging backend for {wrong}")
        self.report.check(name, ok, f"{len(clients)}/{len(clients)} connections logged with the client's address, "
                          f"e.g. {where[example]}: \"{line}\"{tls_note}" + (f"; unexpected: {others[:3]}" if others else ""))
        return where

    def check_spread(self, name, where):
        counts = {b: sum(1 for v in where.values() if v == b) for b in BACKENDS}
        self.report.check(name, all(counts.values()),
                          "connections per backend: " + ", ".join(f"{b}={n}" for b, n in counts.items()))
        return counts

    def check_untrusted(self, name, service, backend_name):
        """(e): a PROXY header sent straight to a backend from the client's (untrusted) address."""
        backend = self.backends[(service, backend_name)]
        s = self.topo.client_socket()
        s.settimeout(IO_TIMEOUT)
        got, how = b"", ""
        try:
            s.connect((backend.ip, backend.port))
            port = s.getsockname()[1]
            s.sendall(f"PROXY TCP4 203.0.113.7 {backend.ip} 4444 {backend.port}\r\nI am 203.0.113.7\n".encode())
            try:
                while chunk := s.recv(100):
                    got += chunk
                how = "closed without a reply (end of stream)"
            except ConnectionResetError:
                how = "closed without a reply (reset)"
            except (socket.timeout, TimeoutError):
                how = f"still open after {IO_TIMEOUT} s"
        finally:
            s.close()
        expected = f"close {self.topo.client_ip}:{port} (proxy header untrusted: "
        deadline = now() + IO_TIMEOUT
        while now() < deadline and expected not in backend.process.stderr():
            time.sleep(0.05)
        logged = expected in backend.process.stderr()
        believed = any(ip == "203.0.113.7" for ip, _, _ in backend.opens())
        ok = not got and how.startswith("closed") and logged and not believed
        line = next((l for l in backend.process.stderr().splitlines() if l.startswith(expected)), "(no such line)")
        self.report.check(name, ok, f"direct from {self.topo.client_ip} to {backend_name}: {how}"
                          + (f", replied {got[:40]!r}" if got else "") + f"; {backend_name} logged \"{line}\""
                          + ("; and opened 203.0.113.7!" if believed else ""))

    # The scenarios.

    def haproxy_scenario(self, service):
        tls = service.startswith("tls")
        label = f"haproxy {service}"
        kind = {"echo_v1": "send-proxy, plain", "echo_v2": "send-proxy-v2, plain",
                "tls_v1": "send-proxy, TLS passthrough", "tls_v2": "send-proxy-v2, TLS passthrough"}[service]
        print(f"--- {label} ({kind})", flush=True)
        self.wait_servers(service, BACKENDS, "UP", 20)
        # (a), (b): 12 connections, each with an exchange done.
        initial = self.connect_clients(service, 12, "a", tls)
        where = self.check_addresses(f"{label} (a) backends see the client's address", service, initial)
        self.check_spread(f"{label} (b) connections spread over the three backends", where)
        # The checks carried headers: no backend refused one (only (e) below will).
        refused = [l for b in BACKENDS for l in self.backends[(service, b)].process.stderr().splitlines() if "(proxy header" in l]
        local = sum(1 for b in BACKENDS for _, _, n in self.backends[(service, b)].opens() if n.startswith("proxy LOCAL"))
        via_self = sum(1 for b in BACKENDS for ip, _, n in self.backends[(service, b)].opens()
                       if ip == self.topo.balancer_ip and n.startswith(f"via {self.topo.balancer_ip}:"))
        v2 = service.endswith("v2")
        self.report.check(f"{label} health checks carry a PROXY header", not refused and (local if v2 else via_self) > 0,
                          (f"{local} checks logged as \"proxy LOCAL: the balancer's own connection\"" if v2 else
                           f"{via_self} checks logged as \"open {self.topo.balancer_ip}:PORT (via {self.topo.balancer_ip}:PORT)\"")
                          + (f"; refused: {refused[:2]}" if refused else "; no header refused"))
        # (e)
        self.check_untrusted(f"{label} (e) a client's own PROXY header is refused", service, "b1")

        # (c) kill -9 b2 under load.
        for client in initial:
            client.start_load()
        time.sleep(0.5)
        victims = [c for c in initial if where[c] == "b2"]
        others = [c for c in initial if where[c] != "b2"]
        killed_at = now()
        self.backends[(service, "b2")].process.signal(signal.SIGKILL)
        try:
            down = self.wait_servers(service, ["b2"], "DOWN", 10)
            self.down_times.append((service, "kill -9", down))
            bound = CHECK_INTER_S * (FALL + 1) + 2.0
            self.report.check(f"{label} (c) killed backend marked DOWN", down <= bound,
                              f"b2 DOWN {down:.2f} s after kill -9 (checks every {CHECK_INTER}, fall {FALL}; bound {bound:.1f} s)")
        except CheckFailed as error:
            self.report.check(f"{label} (c) killed backend marked DOWN", False, str(error))
        for client in victims:
            client.thread.join(max(0.1, killed_at + 2 * IO_TIMEOUT - now()))
        ends = [(c.outcome or "still running", (c.ended_at or now()) - killed_at) for c in victims]
        ok = all(o.startswith(("end of stream", "connection reset")) for o, _ in ends)
        self.report.check(f"{label} (c) the killed backend's clients see the end, no hang", ok and bool(victims),
                          f"{len(victims)} clients: " + "; ".join(sorted({o.split(' (')[0] for o, _ in ends}))
                          + (f", within {max(t for _, t in ends):.2f} s" if ends else ""))
        after_kill = self.connect_clients(service, 8, "c", tls)
        where_c = self.locate(service, after_kill)
        counts = {b: sum(1 for c in after_kill if where_c[c] == b) for b in BACKENDS}
        self.report.check(f"{label} (c) new connections go to the other two", counts["b2"] == 0 and counts["b1"] and counts["b3"],
                          f"8 new connections, each echoed: " + ", ".join(f"{b}={n}" for b, n in counts.items()))
        for client in after_kill:
            client.start_load()
        where.update(where_c)

        # (d) SIGTERM b3, whose connections are in flight.
        b3 = self.backends[(service, "b3")]
        draining = [c for c in initial + after_kill if where[c] == "b3" and c.outcome is None]
        time.sleep(0.3)
        at_term = {c: c.echoed for c in draining}
        termed_at = now()
        b3.process.signal(signal.SIGTERM)
        try:
            down = self.wait_servers(service, ["b3"], "DOWN", 10)
            self.down_times.append((service, "SIGTERM", down))
            self.report.check(f"{label} (d) SIGTERM'd backend marked DOWN (listener closed)", True,
                              f"b3 DOWN {down:.2f} s after SIGTERM")
        except CheckFailed as error:
            self.report.check(f"{label} (d) SIGTERM'd backend marked DOWN (listener closed)", False, str(error))
        during = self.connect_clients(service, 6, "d", tls)
        where_d = self.locate(service, during)
        where.update(where_d)
        counts = {b: sum(1 for c in during if where_d[c] == b) for b in BACKENDS}
        term_line = next((i for i, l in enumerate(b3.process.stderr().splitlines()) if "SIGTERM received" in l), None)
        late_opens = [l for l in b3.process.stderr().splitlines()[(term_line or 0) + 1:]
                      if l.startswith(f"open {self.topo.client_ip}:")]
        self.report.check(f"{label} (d) the draining backend gets no new connections",
                          counts == {"b1": 6, "b2": 0, "b3": 0} and term_line is not None and not late_opens,
                          "6 new connections: " + ", ".join(f"{b}={n}" for b, n in counts.items())
                          + f"; b3 opened {len(late_opens)} after SIGTERM")
        for client in during:
            client.start_load()
        # Let the draining connections go on a while after SIGTERM, then end everything.
        time.sleep(max(0, termed_at + 2.0 - now()))
        survivors = [c for c in initial + after_kill + during if where[c] != "b2"]
        end_all(survivors)
        served = {c: c.echoed - at_term[c] for c in draining}
        bad_drain = [f"{c.label}: {c.outcome}" for c in draining if c.outcome or not c.finished_cleanly]
        self.report.check(f"{label} (d) in-flight connections finish during the drain",
                          bool(draining) and not bad_drain and all(n > 0 for n in served.values()),
                          f"{len(draining)} connections on b3 went on for {min(served.values(), default=0)}-"
                          f"{max(served.values(), default=0)} more lines after SIGTERM"
                          + (f"; problems: {bad_drain[:3]}" if bad_drain else ", every echo in order, clean end"))
        try:
            rc = b3.process.popen.wait(timeout=DRAIN + 5)
        except subprocess.TimeoutExpired:
            rc = None
        b3_log = b3.process.stderr()
        closes = [l for l in b3_log.splitlines() if l.startswith(f"close {self.topo.client_ip}:")]
        unclean = [l for l in closes if not l.endswith("(end of stream)")]
        self.report.check(f"{label} (d) the SIGTERM'd backend stops with code 0", rc == 0 and "\nstopped\n" in b3_log and not unclean,
                          f"exit {rc} {now() - termed_at:.1f} s after SIGTERM (drain {DRAIN} s); {len(closes)} client "
                          f"connections closed, " + (f"not cleanly: {unclean[:2]}" if unclean else "all by end of stream"))
        bad = [f"{c.label}: {c.outcome}" for c in survivors if c.outcome or not c.finished_cleanly or c.echoed != c.sent]
        lines = sum(c.echoed for c in survivors)
        self.report.check(f"{label} (c) no line lost or duplicated on surviving connections", not bad,
                          f"{len(survivors)} connections, {lines} lines"
                          + (f"; problems: {bad[:3]}" if bad else ", each echoed once, in order, clean end"))
        self.close_clients()
        self.backends[(service, "b1")].process.signal(signal.SIGTERM)

    def nginx_scenario(self):
        label = "nginx"
        print("--- nginx (stream, proxy_protocol on: v1)", flush=True)
        initial = self.connect_clients("nginx", 9, "a")
        where = self.check_addresses(f"{label} (a) backends see the client's address", "nginx", initial)
        self.check_spread(f"{label} (b) connections spread over the three backends", where)
        self.check_untrusted(f"{label} (e) a client's own PROXY header is refused", "nginx", "b1")
        for client in initial:
            client.start_load()
        time.sleep(0.3)
        victims = [c for c in initial if where[c] == "b2"]
        killed_at = now()
        b2 = self.backends[("nginx", "b2")]
        b2.process.signal(signal.SIGKILL)
        b2.process.popen.wait(timeout=5)
        for client in victims:
            client.thread.join(max(0.1, killed_at + 2 * IO_TIMEOUT - now()))
        ends = [(c.outcome or "still running", (c.ended_at or now()) - killed_at) for c in victims]
        ok = bool(victims) and all(o.startswith(("end of stream", "connection reset")) for o, _ in ends)
        self.report.check(f"{label} the killed backend's clients see the end, no hang", ok,
                          f"{len(victims)} clients: " + "; ".join(sorted({o.split(' (')[0] for o, _ in ends}))
                          + (f", within {max(t for _, t in ends):.2f} s" if ends else ""))
        failed = []
        after = []
        for i in range(9):
            client = EchoClient(self.topo, self.frontends["nginx"], False, f"nginx-c{i}")
            self.clients.append(client)
            try:
                client.connect()
                client.exchange()
                after.append(client)
            except Exception as error:
                failed.append(f"{client.label}: {type(error).__name__}: {error}")
        where_c = self.locate("nginx", after) if after else {}
        counts = {b: sum(1 for c in after if where_c[c] == b) for b in BACKENDS}
        log = self.nginx_error_log.read_text(errors="replace") if self.nginx_error_log.exists() else ""
        # nginx logs each refused attempt: "connect() failed (111: Connection refused) while
        # connecting to upstream, ... upstream: "B2"".
        tried = any("connect() failed" in line and f'upstream: "{b2.address}"' in line for line in log.splitlines())
        self.report.check(f"{label} passive failover after kill -9 (proxy_next_upstream, max_fails)",
                          not failed and counts["b2"] == 0 and counts["b1"] and counts["b3"] and tried,
                          f"{len(after)} of 9 new connections echoed: " + ", ".join(f"{b}={n}" for b, n in counts.items())
                          + ("; nginx's error log shows the refused attempt on b2, retried on the next server" if tried
                             else "; nginx never tried b2 (its error log does not name it)")
                          + (f"; failed: {failed[:3]}" if failed else ""))
        survivors = [c for c in initial if where[c] != "b2"]
        end_all(survivors)
        bad = [f"{c.label}: {c.outcome}" for c in survivors if c.outcome or not c.finished_cleanly or c.echoed != c.sent]
        self.report.check(f"{label} no line lost or duplicated on surviving connections", not bad and bool(survivors),
                          f"{len(survivors)} connections, {sum(c.echoed for c in survivors)} lines"
                          + (f"; problems: {bad[:3]}" if bad else ", each echoed once, in order, clean end"))
        self.close_clients()

    def resp_scenario(self):
        label = "haproxy resp"
        print("--- haproxy resp (send-proxy-v2, check: tcp-check send PING / expect +PONG)", flush=True)
        try:
            took = self.wait_servers("resp", BACKENDS, "UP", 20)
            rows = self.haproxy_stat()
            self.report.check(f"{label} PING/+PONG health check brings the servers UP", True,
                              ", ".join(f"{b} {rows[('resp', b)]['status']} ({rows[('resp', b)]['check_status']}, "
                                        f"{rows[('resp', b)]['check_duration']} ms)" for b in BACKENDS))
        except CheckFailed as error:
            self.report.check(f"{label} PING/+PONG health check brings the servers UP", False, str(error))
            return
        s = self.topo.client_socket()
        s.settimeout(IO_TIMEOUT)
        try:
            s.connect(self.frontends["resp"])
            port = s.getsockname()[1]
            s.sendall(b"PING\r\n*3\r\n$3\r\nSET\r\n$8\r\nbalancer\r\n$7\r\nhaproxy\r\n*2\r\n$3\r\nGET\r\n$8\r\nbalancer\r\n")
            want = b"+PONG\r\n+OK\r\n$7\r\nhaproxy\r\n"
            try:
                got = recv_exactly(s, len(want), now() + IO_TIMEOUT)
            except Exception as error:
                got = f"{type(error).__name__}: {error}".encode()
        finally:
            s.close()
        deadline = now() + IO_TIMEOUT
        logged = []
        while now() < deadline and not logged:
            logged = [(b, f"open {ip}:{p} ({n})") for b in BACKENDS for ip, p, n in self.backends[("resp", b)].opens()
                      if ip == self.topo.client_ip and p == port]
            time.sleep(0.05)
        self.report.check(f"{label} commands go through; the backend sees the client's address",
                          got == want and len(logged) == 1,
                          f"PING, SET, GET answered {got!r}; " + (f"{logged[0][0]} logged \"{logged[0][1]}\"" if logged else "no backend logged the client"))

    def close_clients(self):
        for client in self.clients:
            client.stop_event.set()
            client.close()
        self.clients = []


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--greenio", default=str(ROOT / ".build" / "release" / "greenio"), help="the greenio binary")
    parser.add_argument("--loopback", action="store_true", help="use loopback addresses even where namespaces work")
    parser.add_argument("--prefix", default=os.environ.get("GIO_BALANCERS_PREFIX", f"gio-{os.getpid()}-"),
                        help="the namespaces' name prefix (default gio-PID-)")
    parser.add_argument("--time-limit", type=int, default=240, help="fail the whole run after this many seconds")
    args = parser.parse_args()

    for tool in ("haproxy", "nginx", "ip", "ss"):
        if not shutil.which(tool):
            print(f"FAIL balancers: {tool} is not installed", flush=True)
            return 1
    if not Path(args.greenio).is_file():
        print(f"FAIL balancers: no greenio binary at {args.greenio}", flush=True)
        return 1

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def out_of_time(signum, frame):
        raise TimeoutError(f"the run went past its {args.time_limit} s limit")

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # Also where SIGINT was ignored.
        signal.signal(signum, interrupted)
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.time_limit)

    started = now()
    run = Run(args)
    failed_step = None
    try:
        run.start()
        for step in ("echo_v1", "echo_v2", "tls_v1", "tls_v2", "nginx", "resp"):
            try:
                if step == "nginx":
                    run.nginx_scenario()
                elif step == "resp":
                    run.resp_scenario()
                else:
                    run.haproxy_scenario(step)
            except (CheckFailed, OSError, ssl.SSLError, EOFError, subprocess.SubprocessError, KeyError, ValueError) as error:
                run.report.check(f"{step}: the scenario ran to its end", False, f"{type(error).__name__}: {error}")
                run.close_clients()
                if failed_step is None:
                    failed_step = step
    except (KeyboardInterrupt, Exception) as error:
        run.report.check("balancers: set-up and run", False, f"{type(error).__name__}: {error}")
        failed_step = failed_step or "setup"
    finally:
        signal.alarm(0)
        if run.report.failed:
            run.diagnostics({"haproxy", "nginx"} | {f"{b}-{failed_step}" for b in BACKENDS})
            if run.workdir.exists() and (run.workdir / "nginx-error.log").exists():
                print("--- nginx error log\n" + (run.workdir / "nginx-error.log").read_text(errors="replace")[-1500:])
        run.cleanup()
        if os.environ.get("GIO_BALANCERS_KEEP"):
            print(f"balancers: logs kept in {run.workdir}")
        else:
            shutil.rmtree(run.workdir, ignore_errors=True)
    if run.down_times:
        print("balancers: time to mark a backend DOWN: " + ", ".join(
            f"{service} {how} {seconds:.2f} s" for service, how, seconds in run.down_times), flush=True)
    passed, failed = len(run.report.passed), len(run.report.failed)
    print(f"balancers ({run.topo.mode if run.topo else 'no topology'}): {passed + failed} checks, {passed} passed, "
          f"{failed} failed, in {now() - started:.1f} s", flush=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
