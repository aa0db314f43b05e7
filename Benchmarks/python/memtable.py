"""Markdown table for Benchmarks/memory.sh: reads NAME<TAB>MODE<TAB>JSON lines (memclient.py output) on stdin."""
import json
import sys

conns = int(sys.argv[1])
rows = [line.split("\t", 2) for line in sys.stdin.read().splitlines() if line.strip()]
waves = max((len(json.loads(r[2])["waves"]) for r in rows), default=0)
head = (["server", "mode", "baseline RSS"] + [f"wave {k + 1} KiB/conn" for k in range(waves)]
        + ["RSS after last close"])
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for name, mode, blob in rows:
    r = json.loads(blob)
    base = r["baseline"]
    cells = [name, mode, f"{base / 1024:.1f} MiB"]
    cells += [f"{(w['held'] - base) / conns:.1f}" for w in r["waves"]]
    last = r["waves"][-1]["after_close"]
    cells.append(f"{last / 1024:.1f} MiB (+{(last - base) / 1024:.1f})")
    print("| " + " | ".join(cells) + " |")
