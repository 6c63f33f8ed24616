"""Markdown tables from an evaluation report (evaluate.py --out), for models/README.md.

    python3 -m mnemo_models.report runs/eval.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def fmt_ci(ci) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def gate_rows(report: dict) -> list[str]:
    g, gates = report["gates_nll"], report.get("gates", {})
    mark = lambda ok: "**pass**" if ok else "fail"
    rows = ["| gate | measurement | mean | 95% interval | n | result |", "|---|---|---:|---|---:|---|"]
    n1 = g["gate1_nll"]
    rows.append(f"| 1 LM reads | answer NLL question-only − gold passage (nats/token; gold {n1['gold']:.3f}, "
                f"question-only {n1['question_only']:.3f}) | {n1['mean']:+.3f} | {fmt_ci(n1['ci95'])} | {n1['n']} | "
                f"{mark(gates.get('1_lm_reads'))} |")
    for key, label in (("gate2_bank1_nll", "2 memory at bank 1"), ("gate3_bank8_nll", "3 bank 8"),
                       ("gate3_bank64_nll", "3 bank 64"), ("gate3_bank512_nll", "3 bank 512 (hierarchical)")):
        if key in g:
            v = g[key]
            ok = gates.get("2_memory_bank1") if key.startswith("gate2") else v["excludes_zero"] and v["mean"] > 0
            rows.append(f"| {label} | answer NLL without gold − with gold in the bank | {v['mean']:+.4f} | "
                        f"{fmt_ci(v['ci95'])} | {v['n']} | {mark(ok)} |")
    d = report["stream"]["deltas"]
    for key, v in d.items():
        rows.append(f"| 4 answers | F1 {key} (points) | {v['mean']:+.2f} | {fmt_ci(v['ci95'])} | {v['n']} | "
                    f"{mark(gates.get('4_answers'))} |")
    return rows


def mode_rows(report: dict) -> list[str]:
    s = report["stream"]
    rows = [f"Stream: {s['docs']} valid paragraphs, {s['questions']} questions, seed {s['seed']}.", "",
            "| mode | F1 | F1 95% CI | EM | lenient EM |", "|---|---:|---|---:|---:|"]
    for mode, m in s["modes"].items():
        rows.append(f"| {mode} | {m['f1']:.2f} | [{m['f1_ci95'][0]:.2f}, {m['f1_ci95'][1]:.2f}] | {m['em']:.2f} | {m['em_lenient']:.2f} |")
    return rows


def main(argv=None):
    report = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    print("\n".join(gate_rows(report) + [""] + mode_rows(report)))


if __name__ == "__main__":
    main()
