"""Turn pytest-benchmark JSON into the Markdown table of docs/benchmarks.md.

Usage: python bench/report.py RESULTS.json docs/benchmarks.md
Speed-ups are ratios of medians measured in the same run.
"""

import json
import platform
import sys
from collections import defaultdict
from importlib import metadata


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "-"


def main(src, dst):
    data = json.load(open(src))
    rows = defaultdict(dict)
    gflop = {}
    sgd_steps = []
    accuracy = defaultdict(dict)
    for b in data["benchmarks"]:
        info = b["extra_info"]
        if "best_accuracy" in info:
            accuracy[info["case"]][info["impl"]] = info["best_accuracy"]
        rows[(info["case"], info["n"], info["dtype"])][info["impl"]] = b["stats"]["median"]
        if "gflop" in info:
            gflop[info["case"]] = info["gflop"]
        if "steps" in info and not info["case"].endswith("under load"):
            sgd_steps.append((info, b["stats"]["median"]))
    lines = [
        "# Benchmarks",
        "",
        "Median times of one run of `nox -s bench` (pytest-benchmark), with speed-ups as ratios",
        "of medians from that same run: above 1 means fastgd is faster. The machine is shared and",
        "noisy; ratios from one run are what count.",
        "",
        "`fastgd` is the plain call; `out=` the same with preallocated outputs (no page faults on",
        "fresh memory; for cold start: without SciPy installed, as after `pip install fastgd`);",
        "`progress` is `descend(..., progress=True)` with its tqdm bar.",
        "",
        "| case | n | dtype | NumPy | fastgd | JAX | vs NumPy | vs JAX | out= vs NumPy | progress cost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (case, n, dtype), t in sorted(rows.items()):
        if case.startswith("dask fit"):
            continue  # its own line below: other peers
        f, npy, jx = t.get("fastgd"), t.get("numpy"), t.get("jax")
        fo, fp = t.get("fastgd_out") or t.get("fastgd_noscipy"), t.get("fastgd_progress")
        cells = [f"{x * 1e3:.3g} ms" if x else "-" for x in (npy, f, jx)]
        size = f"{n:.0e}" if case not in ("cold_start", "fastgd fit command") else "-"
        progress = f"{(fp / f - 1) * 100:+.1f}%" if fp and f else "-"
        lines.append(
            f"| {case} | {size} | {dtype} | "
            + " | ".join(cells)
            + f" | {_ratio(npy, f)} | {_ratio(jx, f)} | {_ratio(npy, fo)} | {progress} |"
        )
    for (case, _, _), t in sorted(rows.items()):
        if case == "cold_start":
            times = ", ".join(f"{impl} {sec * 1e3:.0f} ms" for impl, sec in sorted(t.items()))
            lines += ["", f"Cold start (fresh process, warm cache; `fastgd_noscipy`: SciPy not importable): {times}."]
        if case == "fastgd fit command":
            first = (
                f", the first run after install (every kernel compiled) {t['fastgd_first_run']:.1f} s"
                if ("fastgd_first_run" in t)
                else ""
            )
            lines += [
                "",
                f"`fastgd fit` (default data), process start to exit, kernel cache warm: "
                f"{t.get('fastgd', float('nan')):.2f} s{first}.",
            ]
    lines += [
        "",
        "Descent cases: `n` counts weight updates (1000 w0 x 1000 lr x 100 steps, x 1000 steps for Adam);",
        "G updates/s = n / median. The JAX peer of the Adam rows is JAX + optax.",
        "",
    ]
    for (case, n, dtype), t in sorted(rows.items()):
        if case.startswith("descent"):
            rate = ", ".join(f"{impl} {n / sec / 1e9:.2f}" for impl, sec in sorted(t.items()))
            lines.append(f"- {case} {dtype}: {rate} G updates/s")
    for (case, _, _), t in sorted(rows.items()):
        others = {impl: sec for impl, sec in t.items() if impl.startswith("sklearn")}
        for impl, sec in others.items():
            what = " (lbfgs to convergence, a fit per C value and fold: other work)" if "gridsearch" in impl else ""
            lines.append(f"- {case}: {impl} {sec:.3g} s, {sec / t['fastgd']:.2g}x fastgd's time{what}")
    peak = None
    for (c, _, _), t in rows.items():
        if c.startswith("dgemm") and c in gflop:
            peak = gflop[c] / t["numpy"]
    if peak:
        lines.append(f"- {next(c for c in gflop if c.startswith('dgemm'))}: {peak:.0f} GFLOP/s, the peak below")
    for case, work in sorted(gflop.items()):
        if case.startswith("dgemm"):
            continue
        for (c, _, _), t in sorted(rows.items()):
            if c == case:
                rate = ", ".join(
                    f"{impl} {work / sec:.1f}" + (f" ({work / sec / peak:.0%})" if peak else "")
                    for impl, sec in sorted(t.items())
                    if not impl.startswith("sklearn")
                )  # it does other work
                lines.append(f"- {case}: {rate} GFLOP/s (the two GEMMs a step, against the dgemm peak)")
    for (case, _, _), t in sorted(rows.items()):
        if "fastgd_gd" in t and "fastgd" in t:
            lines.append(
                f"- {case}: fastgd's Adam takes {t['fastgd'] / t['fastgd_gd']:.2f}x the time of its gd "
                f"on the same problem ({t['fastgd_gd'] * 1e3:.0f} ms)"
            )
    for case, best in sorted(accuracy.items()):
        lines.append(
            f"- {case}: best mean held-out accuracy " + ", ".join(f"{k} {a:.4f}" for k, a in sorted(best.items()))
        )
    for (case, _, _), t in sorted(rows.items()):
        if case.startswith("dask fit") and "fastgd-dask" in t:
            f = t["fastgd-dask"]
            peers = ", ".join(
                f"{impl} {sec * 1e3:.0f} ms ({sec / f:.1f}x fastgd's time)"
                for impl, sec in sorted(t.items())
                if impl != "fastgd-dask"
            )
            lines.append(
                f"- {case}: fastgd on Dask {f * 1e3:.0f} ms; {peers}. dask-glm fits one model, the others 16; "
                f"fastgd-memory is the in-memory fit of the same data (the Dask overhead is the inverse ratio)"
            )
    per_step = {info["steps"]: sec for info, sec in sgd_steps if info["impl"] == "fastgd"}
    if per_step:
        lines.append(
            "- SGD time per step, fastgd: "
            + ", ".join(f"{sec / steps * 1e6:.1f} us at {steps} steps" for steps, sec in sorted(per_step.items()))
        )
    for (case, n, dtype), t in sorted(rows.items()):
        if case.endswith(", under load"):
            base = rows.get((case[: -len(", under load")], n, dtype), {})
            slow = ", ".join(f"{impl} {sec / base[impl]:.1f}x" for impl, sec in sorted(t.items()) if impl in base)
            lines.append(f"- {case}: slowdown against the idle machine: {slow}")
    mi = data.get("machine_info", {})
    lines += [
        "",
        "## Machine and versions",
        "",
        f"- CPU: {_cpu()}, {mi.get('cpu', {}).get('count', '?')} cores",
        f"- Python {platform.python_version()}, numpy {_version('numpy')}, numba {_version('numba')}, "
        f"llvmlite {_version('llvmlite')}, jax {_version('jax')}",
        f"- run: {data.get('datetime', '?')}",
        "",
    ]
    with open(dst, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
