"""Benchmark: ``python -m rectify.bench [--dtype float32] [--threads N] [--sizes 4K,1M] [--quick]``.

Prints the throughput of ``rectify.relu(x, out=o)`` against ``np.maximum(x, 0, out=o)``
and the textbook ``x * (x > 0)``, from 1 K to 64 M elements, in GB/s of useful traffic
(the bytes of ``x`` read plus the bytes of the result written: ``2 * n * itemsize`` per
call, whatever temporaries a variant makes), then the per-call time on tiny arrays (the
call overhead). Each number is the best of several timed batches, to see past noise.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import rectify

SIZES = [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26]


def _parse_size(s: str) -> int:
    s = s.strip()
    mul = {"K": 1 << 10, "M": 1 << 20}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mul > 1 else s) * mul


def _label(n: int) -> str:
    return f"{n >> 20}M" if n >= 1 << 20 else f"{n >> 10}K"


def _best(fns, budget_s: float, repeats: int = 9) -> list[float]:
    """Seconds per call of each function: the best of ``repeats`` batches, the functions
    taking turns batch by batch (so that a change in the machine's load hits them alike)."""
    per_batch = []
    for fn in fns:
        fn()  # warm up (page faults, dispatch)
        t0 = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-7)
        per_batch.append(max(1, int(budget_s / repeats / one)))
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(per_batch[i]):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / per_batch[i])
    return best


def run(dtype: str = "float32", sizes=None, budget_s: float = 0.25, out=sys.stdout) -> list[dict]:
    dt = np.dtype(dtype)
    sizes = sizes or SIZES
    rows = []
    print(
        f"rectify {rectify.__version__}, numpy {np.__version__}, isa {rectify.isa()}, "
        f"threads {rectify.get_num_threads()}, dtype {dt.name}",
        file=out,
    )
    print("GB/s = (bytes of x read + bytes of the result written) / time; best of 9 interleaved batches", file=out)
    header = f"{'elements':>9} {'MiB/array':>9} {'rectify.relu':>13} {'np.maximum':>11} {'x*(x>0)':>9} {'vs maximum':>10}"
    print(header, file=out)
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.standard_normal(n, dtype=np.float32).astype(dt)
        o = np.empty_like(x)
        zero = dt.type(0)
        traffic = 2 * x.nbytes
        t_r, t_m, t_t = _best(
            [lambda: rectify.relu(x, out=o), lambda: np.maximum(x, zero, out=o), lambda: x * (x > 0)], 3 * budget_s
        )
        row = {
            "n": n,
            "rectify": traffic / t_r / 1e9,
            "maximum": traffic / t_m / 1e9,
            "textbook": traffic / t_t / 1e9,
        }
        rows.append(row)
        print(
            f"{_label(n):>9} {x.nbytes / 2**20:>9.3f} {row['rectify']:>13.1f} {row['maximum']:>11.1f} "
            f"{row['textbook']:>9.1f} {t_m / t_r:>9.2f}x",
            file=out,
        )
        del x, o
    print("\ncall overhead (ns per call, out= given)", file=out)
    print(f"{'elements':>9} {'rectify.relu':>13} {'np.maximum':>11} {'ratio':>7}", file=out)
    for n in (1, 16, 256):
        x = rng.standard_normal(n, dtype=np.float32).astype(dt)
        o = np.empty_like(x)
        zero = dt.type(0)
        t_r, t_m = _best([lambda: rectify.relu(x, out=o), lambda: np.maximum(x, zero, out=o)], budget_s, repeats=25)
        print(f"{n:>9} {t_r * 1e9:>13.0f} {t_m * 1e9:>11.0f} {t_r / t_m:>7.2f}", file=out)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m rectify.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    p.add_argument("--threads", type=int, default=None, help="rectify.set_num_threads (default: as configured)")
    p.add_argument("--sizes", default=None, help="comma-separated element counts such as 4K,1M,256M")
    p.add_argument("--quick", action="store_true", help="sizes up to 4M and a shorter budget")
    args = p.parse_args(argv)
    if args.threads is not None:
        rectify.set_num_threads(args.threads)
    if args.sizes:
        sizes = [_parse_size(s) for s in args.sizes.split(",")]
    else:
        sizes = [s for s in SIZES if s <= 1 << 22] if args.quick else SIZES
    run(args.dtype, sizes, budget_s=0.1 if args.quick else 0.25)


if __name__ == "__main__":
    main()
