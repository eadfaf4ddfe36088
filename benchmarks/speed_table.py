"""The README's CPU inference table, generated from the committed benchmark JSON files.

    python benchmarks/speed_table.py --t5 benchmarks/results/inference_t5_cpu.json \
        --bolt benchmarks/results/inference_bolt_cpu.json \
        benchmarks/results/inference_bolt_cpu_bf16.json --update README.md

Writes the table between ``<!-- speed-table:start -->`` and ``<!-- speed-table:end -->`` of each
file given to ``--update`` (and prints it), so no document types a measured number.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from chronos_pkg.eval.aggregate import replace_marked_block

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
    dtype = report["settings"].get("dtype", "float32")
    label = f"Chronos-Bolt {size}" + ("" if dtype == "float32" else f", {dtype} (both)")
    rows = []
    for row in report["results"]:
        memory = row.get("peak_memory_mib", {})
        rows.append(
            f"| {label} | {row['context_length']} | {row['batch_size']} | "
            f"{row['ours_series_per_s']:.0f} | {row['published_series_per_s']:.0f} | "
            f"**{row['speedup_median_of_rounds']:.2f}x** | "
            f"{memory.get('ours', float('nan')):.0f} / {memory.get('published', float('nan')):.0f}"
            f" | {_outputs(row)} |"
        )
    return rows


def _outputs(row: dict[str, Any]) -> str:
    """How far ours is from the published outputs (and, below float32, from float32)."""
    text = f"max rel. diff {row['max_rel_diff']:.1e}"
    if "vs_float32" in row:
        text += f"; vs float32: median rel. diff {row['vs_float32']['median_rel_diff']:.1e}"
    return text


def speed_table(t5: dict[str, Any], *bolt: dict[str, Any]) -> str:
    """The markdown table of the reports, with the machine and threads they ran on."""
    machine = bolt[0]["machine"]
    note = (
        f"\n{machine['cpu']}, {machine['cpu_cores']} cores, {bolt[0]['torch_threads']} torch "
        f"threads, torch {machine['torch']}, float32 unless marked; speedup: T5 over the whole run, "
        "Bolt the median of the per-round ratios.\n"
    )
    rows = _t5_rows(t5) + [row for report in bolt for row in _bolt_rows(report)]
    return HEADER + "\n".join(rows) + "\n" + note


def replace_block(text: str, table: str, name: object = "the document") -> str:
    """``text`` with the lines between the speed-table markers replaced by ``table``."""
    return replace_marked_block(text, "speed-table", table, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--t5", type=Path, required=True, help="benchmarks/inference.py output")
    parser.add_argument(
        "--bolt", type=Path, nargs="+", required=True, help="inference_bolt.py outputs"
    )
    parser.add_argument("--update", type=Path, nargs="*", default=[], help="markdown files")
    args = parser.parse_args(argv)
    bolt = [json.loads(path.read_text()) for path in args.bolt]
    table = speed_table(json.loads(args.t5.read_text()), *bolt)
    for doc in args.update:
        doc.write_text(replace_block(doc.read_text(), table, doc))
    print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
