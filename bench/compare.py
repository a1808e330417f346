#!/usr/bin/env python3
"""Compare `llm2clip bench <suite>` against its PyTorch counterpart.

    python3 bench/compare.py engine [--rounds 3] [--threads 2] [--json] [--binary .build/release/llm2clip]

Rounds alternate A B A B ...: A = `BINARY bench <suite> --json --threads T`,
B = `python3 bench/torch_<suite>.py --json --threads T` (dashes in the suite name become
underscores in the file name). Both print one JSON
object {"suite","impl","threads","rows":[{"name","ms","gflop"}]} (ours also has
"peak_gflops": the measured FMA peak for T threads). For each row the median
over rounds of each side's per-run median is reported.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def run_json(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    # Take the last line that parses as a JSON object (tolerates log lines on stdout).
    for line in reversed(proc.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise SystemExit(f"no JSON object in output of: {' '.join(cmd)}\n{proc.stdout}")


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description="ours vs PyTorch benchmark comparison")
    ap.add_argument("suite", help="benchmark suite, e.g. engine (torch side: bench/torch_<suite>.py)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--binary", default=".build/release/llm2clip")
    ap.add_argument("--python", default=sys.executable or "python3", help="interpreter for the torch script")
    args = ap.parse_args(argv)

    torch_script = os.path.join(HERE, f"torch_{args.suite.replace('-', '_')}.py")
    if not os.path.exists(torch_script):
        raise SystemExit(f"missing {torch_script}")
    binary = args.binary if os.path.isabs(args.binary) else os.path.join(REPO, args.binary)
    ours_cmd = [binary, "bench", args.suite, "--json", "--threads", str(args.threads)]
    torch_cmd = [args.python, torch_script, "--json", "--threads", str(args.threads)]

    ours_ms, torch_ms, gflop, images, peaks, order = {}, {}, {}, {}, [], []
    for rnd in range(args.rounds):
        for side, cmd in (("ours", ours_cmd), ("torch", torch_cmd)):
            print(f"[round {rnd + 1}/{args.rounds}] {side}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            res = run_json(cmd)
            if side == "ours" and res.get("peak_gflops") is not None:
                peaks.append(float(res["peak_gflops"]))
            dest = ours_ms if side == "ours" else torch_ms
            for row in res.get("rows", []):
                name = row["name"]
                if name not in order:
                    order.append(name)
                if row.get("ms") is not None:
                    dest.setdefault(name, []).append(float(row["ms"]))
                if row.get("gflop") is not None and (side == "ours" or name not in gflop):
                    gflop[name] = float(row["gflop"])
                if row.get("images") is not None:
                    images[name] = int(row["images"])

    peak = statistics.median(peaks) if peaks else None
    rows = []
    for name in order:
        o = statistics.median(ours_ms[name]) if name in ours_ms else None
        t = statistics.median(torch_ms[name]) if name in torch_ms else None
        gf = gflop.get(name)
        ratio = t / o if (o and t is not None) else None
        rate = gf / (o / 1e3) if (gf is not None and o) else None
        frac = rate / peak if (rate is not None and peak and name.startswith("sgemm")) else None
        n_img = images.get(name)
        rows.append({"name": name, "ours_ms": o, "torch_ms": t, "ratio": ratio,
                     "ours_gflops": rate, "peak_fraction": frac,
                     "ours_images_per_s": n_img / (o / 1e3) if (n_img and o) else None,
                     "torch_images_per_s": n_img / (t / 1e3) if (n_img and t) else None})

    if args.json:
        print(json.dumps({"suite": args.suite, "threads": args.threads, "rounds": args.rounds,
                          "rows": rows, "peak_gflops": peak}))
        return 0

    print(f"suite `{args.suite}`, threads {args.threads}, rounds {args.rounds}, "
          f"FMA peak {fmt(peak, '.1f')} GFLOP/s\n")
    if images:  # throughput suites (vision, train-clip): images/s instead of the GEMM peak fraction
        print("| workload | ours ms | PyTorch ms | ratio (PyTorch ÷ ours) | ours images/s | PyTorch images/s | ours GFLOP/s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['name']} | {fmt(r['ours_ms'], '.1f')} | {fmt(r['torch_ms'], '.1f')} | {fmt(r['ratio'], '.2f')} | "
                  f"{fmt(r['ours_images_per_s'], '.1f')} | {fmt(r['torch_images_per_s'], '.1f')} | "
                  f"{fmt(r['ours_gflops'], '.1f')} |")
        return 0
    print("| workload | ours ms | PyTorch ms | ratio (PyTorch ÷ ours) | ours GFLOP/s | % of FMA peak |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        pct = None if r["peak_fraction"] is None else 100.0 * r["peak_fraction"]
        print(f"| {r['name']} | {fmt(r['ours_ms'], '.3f')} | {fmt(r['torch_ms'], '.3f')} | "
              f"{fmt(r['ratio'], '.2f')} | {fmt(r['ours_gflops'], '.1f')} | "
              f"{'—' if pct is None else format(pct, '.1f') + '%'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
