"""The README's speed table is generated from the committed benchmark JSON files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("speed_table", ROOT / "benchmarks/speed_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MACHINE = {"cpu": "Some CPU", "cpu_cores": 2, "torch": "2.13.0+cpu"}
T5 = {
    "settings": {"num_samples": 20, "context_length": 512},
    "results": [
        {
            "size": "tiny",
            "greedy": {"tokens_identical": True},
            "runs": [
                {
                    "batch_size": 16,
                    "ours": {"series_per_s": 3.6, "peak_memory_mib": 500.0},
                    "published": {"series_per_s": 1.2, "peak_memory_mib": 3000.0},
                    "speedup": 3.0,
                }
            ],
        }
    ],
}
BOLT = {
    "machine": MACHINE,
    "torch_threads": 2,
    "settings": {"size": "tiny"},
    "results": [
        {
            "context_length": 512,
            "batch_size": 32,
            "ours_series_per_s": 300.4,
            "published_series_per_s": 280.0,
            "speedup_median_of_rounds": 1.07,
            "max_rel_diff": 0.0,
            "peak_memory_mib": {"ours": 40.0, "published": 60.0},
        }
    ],
}


def test_table_rows_come_from_the_reports(tmp_path: Path) -> None:
    script = load_script()
    table = script.speed_table(T5, BOLT)
    assert (
        "| Chronos-T5 tiny, 20 samples | 512 | 16 | 3.60 | 1.20 | **3.00x** | 500 / 3000 |" in table
    )
    assert "| Chronos-Bolt tiny | 512 | 32 | 300 | 280 | **1.07x** | 40 / 60 |" in table
    assert "Some CPU, 2 cores, 2 torch threads" in table
    low = {**BOLT, "settings": {"size": "tiny", "dtype": "bfloat16"}}
    low["results"] = [{**BOLT["results"][0], "vs_float32": {"median_rel_diff": 0.0031}}]
    two = script.speed_table(T5, BOLT, low)
    assert "| Chronos-Bolt tiny, bfloat16 (both) | 512 | 32 |" in two
    assert "vs float32: median rel. diff 3.1e-03 |" in two
    (tmp_path / "t5.json").write_text(json.dumps(T5))
    (tmp_path / "bolt.json").write_text(json.dumps(BOLT))
    doc = tmp_path / "README.md"
    doc.write_text(f"a\n{script.START}\nold\n{script.END}\nb\n")
    args = ["--t5", str(tmp_path / "t5.json"), "--bolt", str(tmp_path / "bolt.json")]
    assert script.main([*args, "--update", str(doc)]) == 0
    assert doc.read_text() == f"a\n{script.START}\n{table}{script.END}\nb\n"
    with pytest.raises(ValueError, match="no <!-- speed-table:start -->"):
        script.replace_block("no markers", table)


def test_readme_speed_table_is_the_committed_results() -> None:
    script = load_script()
    results = ROOT / "benchmarks" / "results"
    table = script.speed_table(
        json.loads((results / "inference_t5_cpu.json").read_text()),
        json.loads((results / "inference_bolt_cpu.json").read_text()),
        json.loads((results / "inference_bolt_cpu_bf16.json").read_text()),
    )
    text = (ROOT / "README.md").read_text()
    assert script.replace_block(text, table) == text, "README.md's speed table is stale"
