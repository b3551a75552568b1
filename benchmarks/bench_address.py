"""Benchmark: the address resolution rate on generated addresses of every ward.

Run from the checkout, after ``geozone data build``::

    .venv/bin/python benchmarks/bench_address.py            # every ward × every variant
    .venv/bin/python benchmarks/bench_address.py --drawn    # every ward once (the test's)

Every ward of the legacy register (10,047, old form: ward, district, province, before the
reform) and of the 2025 set (3,321, new form: ward, province, after it) is written in every
variant of ``geozone.address.sample.VARIANTS``; with ``--drawn``, in one variant drawn per
ward, as ``tests/address/test_address.py`` does. It prints the share of each outcome per form and
variant, the addresses per second, and old-form addresses dated after the reform (read in
the legacy set, answered with today's successors). Last, the worst inputs found within
the 300-character limit (``MAX_ADDRESS_CHARS``), as a ratio to an ordinary address
resolved in the same run: what one request to ``GET /address`` may cost at most.
"""

from __future__ import annotations

import sys
import time

import pandas as pd

from geozone.address.gazetteer import Gazetteer
from geozone.address.resolve import resolutions_frame, resolve_address, resolve_addresses
from geozone.address.sample import NEW_FORM_DATE, VARIANTS, generate_addresses, measure_resolution


def main() -> None:
    pd.set_option("display.width", 200)
    start = time.perf_counter()
    gazetteer = Gazetteer.load()
    print(f"gazetteer loaded in {time.perf_counter() - start:.1f} s")
    drawn = "--drawn" in sys.argv
    start = time.perf_counter()
    sample = generate_addresses(gazetteer, None if drawn else VARIANTS)
    print(f"{len(sample):,} addresses generated in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    rate = measure_resolution(gazetteer, sample)
    seconds = time.perf_counter() - start
    print(f"resolved in {seconds:.1f} s ({len(sample) / seconds:,.0f} addresses/s)\n")
    print(rate.table().to_string())
    overall = rate.to_dict()
    print(
        "\noverall: "
        + ", ".join(f"{k} {v:.2%}" for k, v in overall.items() if k != "total")
        + f" of {overall['total']:,}"
    )
    missed = rate.rows[rate.rows["outcome"] != "correct"]
    print(f"\nnot correct ({len(missed)}), a few:")
    print(missed.head(12)[["text", "outcome", "problem"]].to_string())
    old = sample[(sample["form"] == "old") & (sample["variant"] == "full")]
    results = resolutions_frame(
        resolve_addresses(old["text"].tolist(), NEW_FORM_DATE, gazetteer=gazetteer)
    )
    right = (results["read_code"].to_numpy() == old["code"].to_numpy()) & results[
        "complete"
    ].to_numpy(bool)
    print(
        f"\nold form dated {NEW_FORM_DATE}: {right.mean():.2%} of {len(old):,} read as their old "
        f"ward; resolved in vn2025 to a ward {(results['level'] == 'ward').mean():.2%}, to a "
        f"province (split or unlisted) {(results['level'] == 'province').mean():.2%}"
    )
    worst_cases(gazetteer)


def worst_cases(gazetteer: Gazetteer) -> None:
    """Time the worst inputs found against an ordinary address (fresh segments each)."""
    ordinary = "số 12 ngõ 35 Hoàng Quốc Việt, phường Nghĩa Đô, quận Cầu Giấy, Hà Nội"
    cases = {
        "27 comma parts (9 × 'Phường 1, Quận 3, Hồ Chí Minh')": ", ".join(
            ["Phường 1, Quận 3, Hồ Chí Minh"] * 9
        ),
        "one part of 10 × 'Phường 1 Quận 3 Hồ Chí Minh'": " ".join(
            ["Phường 1 Quận 3 Hồ Chí Minh"] * 10
        ),
        "300 characters of repeated 'Hồ Chí Minh'": " ".join(["Hồ Chí Minh"] * 25)[:300],
    }
    base = _timed(gazetteer, ordinary)
    print(f"\nordinary address: {base * 1000:.1f} ms")
    for name, text in cases.items():
        seconds = _timed(gazetteer, text)
        print(f"{name} ({len(text)} chars): {seconds:.2f} s, {seconds / base:,.0f}× ordinary")


def _timed(gazetteer: Gazetteer, text: str) -> float:
    """Median of three resolutions, each in a fresh resolver (no segment read before)."""
    from geozone.address.resolve import _RESOLVERS

    times = []
    for _ in range(3):
        _RESOLVERS.clear()
        start = time.perf_counter()
        resolve_address(text, NEW_FORM_DATE, gazetteer=gazetteer)
        times.append(time.perf_counter() - start)
    return sorted(times)[1]


if __name__ == "__main__":
    main()
