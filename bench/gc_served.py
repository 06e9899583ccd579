"""The garbage collector's share of the served workers' CPU under the real prefect 2.20 client (bench/client_mix.py's
run), and what gc.freeze() or a higher generation-0 threshold change (docs/performance.md, "Eleventh step: the
garbage collector").

Starts one server per variant at once (gunicorn as deployed, production settings, a fresh database each; the
configuration bench/gc_probe.conf.py with PRAETOR_BENCH_GC=<variant>), warms every worker up, then runs the client
(P processes of F flows of T tasks) against each server in turn, the order reversed every round. Per run and
variant: requests (PRAETOR_HTTP_TIMING_LOG lines), the workers' CPU (utime + stime from /proc/PID/stat) and minor
page faults per request, the gc's collections per 1,000 requests per generation and its thread CPU as a share of
the workers' CPU (the probe's gc.callbacks totals), and the load average. At the end, each worker's RSS, peak
RSS (VmHWM), USS (private clean + dirty) and what its first requests and start-up cost in faults.

    .venv/bin/python bench/gc_served.py [--client 2 10 10] [--rounds 3] [--variants deployed freeze threshold:50000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import client_mix
import compare
import flows

_TICK = os.sysconf("SC_CLK_TCK")


def _workers(master: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return sorted(found)


def _stat(pid: int) -> dict:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the command: state(0) ppid(1) ... minflt(7) cminflt(8) majflt(9) cmajflt(10) utime(11) stime(12)
    return {"minflt": int(fields[7]), "utime": int(fields[11]) / _TICK, "stime": int(fields[12]) / _TICK}


def _memory(pid: int) -> dict:
    rollup = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    kb = {k: int(v.split()[0]) for k, v in rollup.items()}
    return {"rss_mb": kb["Rss"] / 1024, "pss_mb": kb["Pss"] / 1024,
            "uss_mb": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024,
            "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024}


class Variant:
    def __init__(self, name: str, index: int, workers: int, prefix: str):
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"praetor-gc-{index}-"))
        self.database = f"{prefix}_{index}"
        compare.fresh_database(self.database)
        os.environ["PRAETOR_HTTP_TIMING_LOG"] = str(self.dir / "timing")
        os.environ["PRAETOR_BENCH_GC"] = name
        os.environ["PRAETOR_BENCH_GC_DIR"] = str(self.dir)
        self.server, self.url, self.key, _ = compare.start_praetor(self.dir, self.database, workers,
                                                                   config="bench/gc_probe.conf.py")
        client_mix.warm_up(self.url, self.key, self.dir / "timing", workers)
        time.sleep(0.8)
        self.pids = _workers(self.server.proc.pid)
        self.start_up = {pid: _stat(pid) for pid in self.pids}

    def snapshot(self) -> dict:
        pids = _workers(self.server.proc.pid)
        if pids != self.pids:
            raise SystemExit(f"{self.name}: workers changed {self.pids} -> {pids} (recycled?)")
        requests = sum(len(log.read_text().splitlines()) for log in self.dir.glob("timing.*"))
        probes = {pid: json.loads((self.dir / f"gc.{pid}").read_text()) for pid in pids}
        return {"requests": requests, "stat": {pid: _stat(pid) for pid in pids}, "gc": probes}


def delta(before: dict, after: dict) -> dict:
    requests = after["requests"] - before["requests"]
    cpu = faults = gc_cpu = gc_wall = 0.0
    passes = [0, 0, 0]
    for pid, stat in after["stat"].items():
        old = before["stat"][pid]
        cpu += stat["utime"] + stat["stime"] - old["utime"] - old["stime"]
        faults += stat["minflt"] - old["minflt"]
        new_gc, old_gc = after["gc"][pid], before["gc"][pid]
        gc_cpu += sum(new_gc["cpu_s"]) - sum(old_gc["cpu_s"])
        gc_wall += sum(new_gc["wall_s"]) - sum(old_gc["wall_s"])
        for g in range(3):
            passes[g] += new_gc["passes"][g] - old_gc["passes"][g]
    return {"requests": requests, "cpu_ms_per_request": cpu / requests * 1000,
            "faults_per_request": faults / requests, "gc_share": gc_cpu / cpu if cpu else 0.0,
            "gc_us_per_request": gc_cpu / requests * 1e6, "gc_wall_us_per_request": gc_wall / requests * 1e6,
            "passes_per_1000": [p / requests * 1000 for p in passes]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", nargs=3, type=int, default=[2, 10, 10], metavar=("P", "F", "T"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=["deployed", "freeze"])
    parser.add_argument("--database", default="praetor_bench_gc", help="prefix of the variants' databases")
    parser.add_argument("--max-requests", type=int, help="each worker's max_requests (none: as deployed)")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.max_requests:
        os.environ["PRAETOR_BENCH_MAX_REQUESTS"] = str(args.max_requests)
    variants = []
    results: list = []
    try:
        for index, name in enumerate(args.variants):
            variants.append(Variant(name, index, args.workers, args.database))
        for variant in variants:
            first = variant.snapshot()
            for pid in variant.pids:
                probe = first["gc"][pid]
                print(f"{variant.name} worker {pid} after warm-up: faults {variant.start_up[pid]['minflt']}, "
                      f"gc passes {probe['passes']} ({sum(probe['cpu_s']) * 1000:.1f} ms CPU), "
                      f"frozen {probe['frozen']}, threshold {probe['threshold']}, {_memory(pid)}")
        for round_ in range(args.rounds):
            for variant in variants if round_ % 2 == 0 else reversed(variants):
                before = variant.snapshot()
                flows.run_client(variant.url, variant.key, *args.client)
                time.sleep(0.8)
                result = {"round": round_, "variant": variant.name, "load": os.getloadavg()[0],
                          **delta(before, variant.snapshot())}
                results.append(result)
                print(f"round {round_} {variant.name:16s} load {result['load']:.1f}: {result['requests']} requests, "
                      f"worker CPU {result['cpu_ms_per_request']:.2f} ms/request, "
                      f"faults {result['faults_per_request']:.2f}/request, gc passes per 1,000 requests "
                      f"{'/'.join(f'{p:.1f}' for p in result['passes_per_1000'])}, gc CPU "
                      f"{result['gc_us_per_request']:.1f} us/request = {result['gc_share']:.2%} of the workers' "
                      f"(wall {result['gc_wall_us_per_request']:.1f} us)", flush=True)
        for variant in variants:
            for pid in variant.pids:
                print(f"{variant.name} worker {pid} at the end: {_memory(pid)}, "
                      f"gc {json.loads((variant.dir / f'gc.{pid}').read_text())['passes']}")
    finally:
        for variant in variants:
            variant.server.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
