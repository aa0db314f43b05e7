#!/usr/bin/env python3
"""`greenio serve --tls` against an external TLS scanner: sslyze (PyPI), Mozilla's profiles.

For each of greenio's TLS profiles it starts `greenio serve --tls --tls-profile P` on a free port,
runs `sslyze --mozilla_config=P` against it, and checks, from the scanner's own report:

- intermediate: compliant with Mozilla's "intermediate" configuration except for findings about the
  certificate (the test's certificate is self-signed, for localhost, made at start-up); and, read
  from the scan itself: SSL 2/3, TLS 1.0 and 1.1 refused; TLS 1.2 accepted with ECDHE key exchange
  and AEAD ciphers only; TLS 1.3 accepted; curves exactly X25519, P-256, P-384; no compression;
  no client-initiated renegotiation.
- modern: compliant with "modern" except certificate findings; only TLS 1.3 accepted.
- openssl-defaults (the escape hatch): the scanner must find it NOT compliant with "intermediate"
  (CBC suites, X448 and P-521 accepted) — so the checks above can fail.

Prints a PASS/FAIL line per check and exits 1 on any failure. Python 3.11 standard library plus
sslyze (run as `python3 -m sslyze`, from the directory in $SSLYZE_PATH if set).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

FAILURES = []


def check(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILURES.append(name)


def start_server(greenio, profile):
    """Starts greenio serve --tls on a free port; returns (process, port)."""
    process = subprocess.Popen([greenio, "serve", "--tls", "--tls-profile", profile, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        match = re.match(r"listening on 127\.0\.0\.1:(\d+) \(tls", line)
        if match:
            return process, int(match.group(1))
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"tls_scan: greenio serve --tls-profile {profile} did not start ({line.strip()!r})")


def scan(port, mozilla_config):
    """Runs sslyze; returns (its text output, its JSON result for the server)."""
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "scan.json")
        env = dict(os.environ)
        if os.environ.get("SSLYZE_PATH"):
            env["PYTHONPATH"] = os.environ["SSLYZE_PATH"]
        result = subprocess.run([sys.executable, "-m", "sslyze", f"--mozilla_config={mozilla_config}",
                                 f"--json_out={out}", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=240, env=env)
        text = result.stdout + result.stderr
        with open(out) as file:
            document = json.load(file)
    servers = document.get("server_scan_results") or []
    if not servers or servers[0].get("scan_status") != "COMPLETED":
        raise SystemExit(f"tls_scan: the scan did not complete:\n{text[-2000:]}")
    return text, servers[0]["scan_result"]


def scanned(greenio, profile, mozilla_config):
    """Starts greenio serve with `profile`, scans it against `mozilla_config`, stops it."""
    process, port = start_server(greenio, profile)
    try:
        return scan(port, mozilla_config)
    finally:
        process.terminate()
        process.wait(timeout=20)


def findings(text):
    """The compliance findings sslyze printed ("* name: reason" under its compliance section)."""
    section = text.split("COMPLIANCE AGAINST TLS CONFIGURATION", 1)
    if len(section) < 2:
        return None
    return re.findall(r"^\s+\* (\w+): (.*)$", section[1], re.M)


def accepted(result, name):
    entry = result.get(name) or {}
    suites = ((entry.get("result") or {}).get("accepted_cipher_suites")) or []
    return [suite["cipher_suite"]["name"] for suite in suites]


def certificate_only(found):
    return [f for f in found if not f[0].startswith("certificate") and "certificate" not in f[0]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--greenio", required=True)
    arguments = parser.parse_args()

    # intermediate (the default profile)
    text, result = scanned(arguments.greenio, "intermediate", "intermediate")
    found = findings(text)
    check("intermediate: the scanner checked Mozilla's profile", found is not None, "compliance section present")
    found = found or []
    other = certificate_only(found)
    check("intermediate: compliant but for the test certificate", not other,
          f"findings: {[f[0] for f in found]}" + (f"; not about the certificate: {other}" if other else ""))
    for old in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        check(f"intermediate: {old.replace('_cipher_suites', '')} refused", accepted(result, old) == [],
              f"accepted: {accepted(result, old)}")
    tls12 = accepted(result, "tls_1_2_cipher_suites")
    weak = [s for s in tls12 if not s.startswith("TLS_ECDHE_") or not ("_GCM_" in s or "CHACHA20_POLY1305" in s)]
    check("intermediate: TLS 1.2 only with ECDHE and AEAD", tls12 != [] and weak == [],
          f"accepted {len(tls12)}: {sorted(tls12)}" + (f"; weak: {weak}" if weak else ""))
    tls13 = accepted(result, "tls_1_3_cipher_suites")
    check("intermediate: TLS 1.3 accepted", sorted(tls13) == sorted(
        ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]), f"accepted: {tls13}")
    curves = (result.get("elliptic_curves") or {}).get("result") or {}
    supported = sorted(c["name"] for c in curves.get("supported_curves") or [])
    check("intermediate: curves X25519, P-256, P-384 only", supported == ["X25519", "secp256r1", "secp384r1"],
          f"supported: {supported}")
    compression = ((result.get("tls_compression") or {}).get("result") or {}).get("supports_compression")
    check("intermediate: no compression", compression is False, f"supports_compression: {compression}")
    renegotiation = (result.get("session_renegotiation") or {}).get("result") or {}
    client_dos = renegotiation.get("is_vulnerable_to_client_renegotiation_dos")
    check("intermediate: no client-initiated renegotiation", client_dos is False,
          f"is_vulnerable_to_client_renegotiation_dos: {client_dos}")

    # modern
    text, result = scanned(arguments.greenio, "modern", "modern")
    found = findings(text) or []
    other = certificate_only(found)
    check("modern: compliant but for the test certificate", findings(text) is not None and not other,
          f"findings: {[f[0] for f in found]}" + (f"; not about the certificate: {other}" if other else ""))
    below13 = {name: accepted(result, name) for name in ("tls_1_0_cipher_suites", "tls_1_1_cipher_suites",
                                                         "tls_1_2_cipher_suites")}
    check("modern: only TLS 1.3", all(v == [] for v in below13.values()) and accepted(result, "tls_1_3_cipher_suites"),
          f"TLS 1.2 suites: {below13['tls_1_2_cipher_suites']}, TLS 1.3: {accepted(result, 'tls_1_3_cipher_suites')}")

    # openssl-defaults: the control
    text, result = scanned(arguments.greenio, "openssl-defaults", "intermediate")
    other = certificate_only(findings(text) or [])
    check("openssl-defaults (control): the scanner finds it not compliant with intermediate", other != [],
          f"findings beyond the certificate: {[f[0] for f in other]}")

    print(f"tls_scan: {len(FAILURES)} failed" if FAILURES else "tls_scan: all checks passed", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
