"""The README's CPU inference table, generated from the committed benchmark JSON files.

    python benchmarks/speed_table.py --t5 benchmarks/results/inference_t5_cpu.json \
        --bolt benchmarks/results/inference_bolt_cpu.json --update README.md

Writes the table between ``<!-- speed-table:start -->`` and ``<!-- speed-table:end -->`` of each
file given to ``--update`` (and prints it), so no document types a measured number.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

START, END = "<!-- speed-table:start -->", "<!-- speed-table:end -->"
HEADER = (
    "| model | context | batch | ours (series/s) | published (series/s) | speedup | "
    "peak memory ours / published (MiB) | outputs |\n|---|---|---|---|---|---|---|---|\n"
)


def _t5_rows(report: dict[str, Any]) -> list[str]:
    settings = report["settings"]
    rows = []
    for result in report["results"]:
        same = "token-identical" if result["greedy"]["tokens_identical"] else "tokens differ"
        for run in result["runs"]:
            ours, theirs = run["ours"], run["published"]
            rows.append(
                f"| Chronos-T5 {result['size']}, {settings['num_samples']} samples | "
                f"{settings['context_length']} | {run['batch_size']} | {ours['series_per_s']:.2f} | "
                f"{theirs['series_per_s']:.2f} | **{run['speedup']:.2f}x** | "
                f"{ours['peak_memory_mib']:.0f} / {theirs['peak_memory_mib']:.0f} | "
                f"greedy {same} |"
            )
    return rows


def _bolt_rows(report: dict[str, Any]) -> list[str]:
    size = report["settings"]["size"]
    rows = []
    for row in report["results"]:
        memory = row.get("peak_memory_mib", {})
        rows.append(
            f"| Chronos-Bolt {size} | {row['context_length']} | {row['batch_size']} | "
            f"{row['ours_series_per_s']:.0f} | {row['published_series_per_s']:.0f} | "
            f"**{row['speedup_median_of_rounds']:.2f}x** | "
            f"{memory.get('ours', float('nan')):.0f} / {memory.get('published', float('nan')):.0f}"
            f" | max rel. diff {row['max_rel_diff']:.1e} |"
        )
    return rows


def speed_table(t5: dict[str, Any], bolt: dict[str, Any]) -> str:
    """The markdown table of both reports, with the machine and threads they ran on."""
    machine = bolt["machine"]
    note = (
        f"\n{machine['cpu']}, {machine['cpu_cores']} cores, {bolt['torch_threads']} torch threads, "
        f"torch {machine['torch']}, float32; speedup: T5 over the whole run, Bolt the median of "
        "the per-round ratios.\n"
    )
    return HEADER + "\n".join(_t5_rows(t5) + _bolt_rows(bolt)) + "\n" + note


def replace_block(text: str, table: str, name: object = "the document") -> str:
    """``text`` with the lines between the speed-table markers replaced by ``table``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{name} has no {START} ... {END} block")
    return text[: start + len(START)] + "\n" + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--t5", type=Path, required=True, help="benchmarks/inference.py output")
    parser.add_argument("--bolt", type=Path, required=True, help="inference_bolt.py output")
    parser.add_argument("--update", type=Path, nargs="*", default=[], help="markdown files")
    args = parser.parse_args(argv)
    table = speed_table(json.loads(args.t5.read_text()), json.loads(args.bolt.read_text()))
    for doc in args.update:
        doc.write_text(replace_block(doc.read_text(), table, doc))
    print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
