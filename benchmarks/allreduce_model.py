#!/usr/bin/env python3
"""The all-reduce cost model of benchmarks/results/2026-12-03-distributed.md.

T_ring(p, n) = 2(p-1) alpha + 2(p-1)/p n / B, and T_log with 2 log2(p)
latencies instead; compute per step from the measured 1-process epoch.
Usage: allreduce_model.py [--alpha-us 5] [--gbps 25] [--epoch-s 7.6]
"""
import argparse
import math

ap = argparse.ArgumentParser()
ap.add_argument("--alpha-us", type=float, default=5.0, help="latency per message, microseconds")
ap.add_argument("--gbps", type=float, default=25.0, help="link bandwidth, GB/s")
ap.add_argument("--epoch-s", type=float, default=7.6, help="reference CNN epoch (938 steps of 64), seconds")
a = ap.parse_args()
alpha, bw, steps = a.alpha_us * 1e-6, a.gbps * 1e9, 938


def ring(p, n):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n / bw


def log(p, n):
    return 2 * math.log2(p) * alpha + 2 * (p - 1) / p * n / bw


for name, params, scale in [("reference CNN", 96_844, 1), ("10x CNN", 968_440, 10)]:
    n, step = params * 4, scale * a.epoch_s / steps
    print(f"{name}: {n} bytes of gradients, {step * 1e3:.2f} ms per step of 64")
    for p in (8, 64, 512):
        tr, tl = ring(p, n), log(p, n)
        print(f"  weak p={p}: ring {tr * 1e6:.0f} us (eff {step / (step + tr):.1%}), log {tl * 1e6:.0f} us "
              f"(eff {step / (step + tl):.1%}), epoch {steps / p * (step + tr):.3f} s")
    for p in (8, 64):
        c, tr = step / p, ring(p, n)
        print(f"  strong p={p}: compute {c * 1e3:.2f} ms + ring {tr * 1e3:.2f} ms, speed-up {step / (c + tr):.1f}")
