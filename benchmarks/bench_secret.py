"""Benchmark the cost of one offline guess at the instructor's secret.

    python3 benchmarks/bench_secret.py [--guesses 5]

A student who wants a classmate's sheet guesses secrets until one rebuilds
their own seed.  Each guess costs one scrypt (derive.secret.class_key).  The
baseline, measured in the same run, is the guess as it cost before: one
HMAC-SHA256 of the id under the raw secret.  The manifest's check value is a
second salted scrypt, timed too.  Reports seconds per guess and the ratio.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from derive import secret  # noqa: E402


def per_guess(guess, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        guess(f"guess-{i}")
    return (time.perf_counter() - start) / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--guesses", type=int, default=5)
    n = p.parse_args().guesses
    fast = per_guess(lambda g: hmac.new(g.encode(), b"s1001", hashlib.sha256).digest(), 20000)
    seed = per_guess(lambda g: secret.class_key.__wrapped__(g), n)  # uncached: a fresh guess each time
    check = per_guess(lambda g: secret.secret_check.__wrapped__(g, "1234abcd"), n)
    print(f"baseline (HMAC of the raw secret): {fast * 1e6:9.2f} µs per guess")
    print(f"seed route (scrypt class key):     {seed:9.3f} s per guess  ({seed / fast:,.0f}× the baseline)")
    print(f"manifest check value (scrypt):     {check:9.3f} s per guess  ({check / fast:,.0f}× the baseline)")
    print(f"guesses per core-day at that cost: {86400 / seed:,.0f} (a strong secret needs 10^10 and more)")


if __name__ == "__main__":
    main()
