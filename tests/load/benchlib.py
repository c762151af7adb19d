"""benchlib.py: running apache-bench cases and reporting them as ratios.

Machines are noisy and absolute figures drift, so every benchmark measures a
baseline (the libfcgi hello-world ceiling, or a figure of its own) in the
same run, interleaves the cases over several rounds, takes the median per
case, and prints ratios next to the goals. Percentiles come from ab's CSV
(-e), which has sub-millisecond resolution.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import apitest  # noqa: E402


def ab_run(url, c, seconds=None, n=None, keepalive=True, headers=None, method_args=None):
    """One ab run; returns dict(rps, p50, p99, max, complete, failed, non2xx, cmd)."""
    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as f:
        csv = f.name
    cmd = ["ab", "-q", "-r", "-l", "-c", str(c), "-e", csv, "-s", "30"]
    if keepalive:
        cmd.append("-k")
    if seconds:
        cmd += ["-t", str(seconds), "-n", "10000000"]
    else:
        cmd += ["-n", str(n)]
    for h in headers or []:
        cmd += ["-H", h]
    cmd += method_args or []
    cmd.append(url)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=(seconds or 60) + 90)
    out = {"cmd": " ".join(a if " " not in a else repr(a) for a in cmd if a != csv and a != "-e")}
    for k, rx in (("complete", r"Complete requests:\s+(\d+)"), ("failed", r"Failed requests:\s+(\d+)"),
                  ("non2xx", r"Non-2xx responses:\s+(\d+)"), ("rps", r"Requests per second:\s+([\d.]+)")):
        m = re.search(rx, r.stdout)
        out[k] = float(m.group(1)) if m else 0.0
    pct = {}
    try:
        with open(csv) as f:
            for line in f.read().splitlines()[1:]:
                p, ms = line.split(",")
                pct[int(float(p))] = float(ms)
    except (OSError, ValueError):
        pass
    os.unlink(csv)
    out["p50"] = pct.get(50, 0.0)
    out["p99"] = pct.get(99, 0.0)
    out["max"] = pct.get(100, 0.0)  # the longest request
    if not out["complete"]:
        raise RuntimeError(f"ab produced nothing: {r.stderr.strip()[:300]} ({out['cmd']})")
    return out


def rounds(cases, rounds_n, seconds, c):
    """cases: list of (name, url[, extra kwargs]). Interleaves them rounds_n
    times; returns {name: merged figures} with medians and summed errors."""
    runs = {name: [] for name, *_ in cases}
    for _ in range(rounds_n):
        for case in cases:
            name, url = case[0], case[1]
            kw = case[2] if len(case) > 2 else {}
            runs[name].append(ab_run(url, c, seconds=seconds, **kw))
    merged = {}
    for name, rs in runs.items():
        merged[name] = {
            "rps": statistics.median(r["rps"] for r in rs),
            "p50": statistics.median(r["p50"] for r in rs),
            "p99": statistics.median(r["p99"] for r in rs),
            "complete": sum(r["complete"] for r in rs),
            "failed": sum(r["failed"] for r in rs),
            "non2xx": sum(r["non2xx"] for r in rs),
            "cmd": rs[0]["cmd"],
        }
    return merged


def table(title, rows, base=None):
    """Prints figures; ratio = rps / rps of `base`."""
    print(f"\n{title}")
    print(f"  {'case':<28}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}{'errors':>8}")
    for name, f in rows.items():
        ratio = f["rps"] / rows[base]["rps"] if base and rows[base]["rps"] else float("nan")
        errs = int(f["failed"] + f["non2xx"])
        print(f"  {name:<28}{f['rps']:>10.0f}{f['p50']:>9.2f}{f['p99']:>9.2f}{ratio:>8.2f}{errs:>8}")


class Goals:
    """Collects goal checks; prints them and the verdict at the end.

    A full run enforces every goal. A --short run (CI, a few seconds per case
    on a busy machine) enforces only the goals marked `always` (correctness:
    no failed request, no lost write) and reports the speed goals."""

    def __init__(self, short=False):
        self.short = short
        self.lines = []
        self.failed = 0
        self.checked = 0

    def check(self, ok, text, always=False):
        enforced = always or not self.short
        self.lines.append(("MET     " if ok else "MISSED  ") + text + ("" if enforced else "  (reported)"))
        if enforced:
            self.checked += 1
            if not ok:
                self.failed += 1

    def report(self, label):
        print("\ngoals" + (" (short run: speed goals reported, correctness enforced)" if self.short else "") + ":")
        for line in self.lines:
            print("  " + line)
        print(f"{label}: {self.checked - self.failed} passed, {self.failed} failed")
        return self.failed == 0


def stack(fn, *args):
    return apitest.stack(". \"$ROOT/tests/load/lib.sh\"; " + fn, *args)
