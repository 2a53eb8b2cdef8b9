"""Benchmark: the label-noise audit (confident learning on out-of-fold probabilities)
finding injected label flips in Banking77.

Prints ONE JSON object: noise_recall / noise_precision (flagged vs truly flipped),
estimated_noise_rate vs true_noise_rate, flagged, seconds - means over seeds, and the
per-seed values. Takes a few minutes (embeddings are cached); not part of tests.

    .venv/bin/python benchmarks/label_noise.py [--seeds 0,1 --noise-rate 0.05 --c-grid 10]

Data: ../shared/data/banking77/train.csv (CC-BY-4.0, PolyAI; 10,003 queries, 77 intents).
Per seed, ``round(noise_rate * n)`` examples (seeded) get their label replaced by a
uniformly drawn DIFFERENT class. The audit is not told the rate.

Method (pipeline.domain.learning.noise.audit_labels): features = the product embedder's
frozen all-MiniLM-L6-v2 sentence embeddings (cached in
``benchmarks/out/label_noise_emb_<model version>_<texts hash>.npy``); 5-fold stratified,
seeded out-of-fold probabilities from a multinomial logistic regression; confident
learning: per-class thresholds = mean self-confidence, the confident joint, the number of
issues = its off-diagonal sum (the estimated noise rate is that over n), and the flags =
that many examples with the lowest self-confidence p(given label).

How the hyper-parameters were chosen, without looking at which labels were flipped:
C=10 had the lowest out-of-fold log loss on the GIVEN (noisy) labels among {3, 10, 30}
on seed 0 (``--c-grid 3,10,30`` repeats that selection on the first seed and uses the
winner for all seeds). The flagging rule (``low_self_confidence``) was picked among the
module's four filters on seed 0 and then confirmed on seeds 1 and 2. Nothing else is tuned.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np
from common import cached_embeddings, load_banking77

from pipeline.domain.learning.noise import (
    FILTERS,
    audit_labels,
    default_classifier,
    encode_labels,
    given_label_log_loss,
    out_of_fold_probabilities,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"
OUT = ROOT / "benchmarks" / "out"
TARGET = {"noise_recall": 0.85, "noise_precision": 0.80}


def load(path: Path) -> tuple[list[str], list[str]]:
    return load_banking77(path)


def embed(texts: list[str], use_cache: bool) -> tuple[np.ndarray, dict]:
    """Product embeddings for ``texts``, cached by model version + texts hash."""
    return cached_embeddings(texts, "label_noise_emb", use_cache)


def inject_flips(y: np.ndarray, n_classes: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``round(rate * n)`` seeded labels, each to a uniformly drawn different class."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(y), round(rate * len(y)), replace=False))
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, n_classes, len(idx))) % n_classes
    return noisy, idx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--noise-rate", type=float, default=0.05, help="share of labels flipped (the audit is not told)")
    ap.add_argument("--seeds", default="0,1", help="comma-separated; each seed draws its own flips and folds")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--c-grid", default="10", help="LR C values; with several, pick by OOF log loss on the given labels (first seed)")
    ap.add_argument("--filter-by", default="low_self_confidence", choices=FILTERS)
    ap.add_argument("--no-cache", action="store_true", help="recompute the embeddings")
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"benchmark data not found: {args.data}")
    if not 0.0 < args.noise_rate < 1.0:
        sys.exit("--noise-rate must lie in (0, 1)")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    grid = [float(c) for c in args.c_grid.split(",") if c.strip()]

    t_start = time.perf_counter()
    texts, labels = load(args.data)
    y_true, classes = encode_labels(labels)
    k = len(classes)
    x, emb_info = embed(texts, use_cache=not args.no_cache)

    selection: dict[str, float] = {}
    c = grid[0]
    if len(grid) > 1:  # choose C by log loss on the given (noisy) labels only
        noisy, _ = inject_flips(y_true, k, args.noise_rate, seeds[0])
        for cand in grid:
            probs = out_of_fold_probabilities(x, noisy, k, n_folds=args.folds, seed=seeds[0],
                                              make_classifier=lambda cand=cand: default_classifier(seeds[0], C=cand))
            selection[str(cand)] = round(given_label_log_loss(probs, noisy), 4)
            print(f"C={cand}: OOF log loss on given labels {selection[str(cand)]}", file=sys.stderr, flush=True)
        c = float(min(grid, key=lambda v: selection[str(v)]))

    per_seed = []
    for seed in seeds:
        noisy, flipped = inject_flips(y_true, k, args.noise_rate, seed)
        t0 = time.perf_counter()
        audit, probs = audit_labels(
            x, [classes[i] for i in noisy], classes, n_folds=args.folds, seed=seed,
            make_classifier=lambda seed=seed: default_classifier(seed, C=c), filter_by=args.filter_by,
        )
        seconds = time.perf_counter() - t0
        flagged = np.array(audit.flagged_indices, dtype=np.int64)
        hit = np.isin(flagged, flipped)
        truth = {int(i): classes[y_true[i]] for i in flipped}
        right = sum(truth[f.index] == f.suggested_label for f in audit.flagged if f.index in truth)
        row = {
            "seed": seed,
            "noise_recall": round(float(hit.sum()) / len(flipped), 4),
            "noise_precision": round(float(hit.sum()) / max(len(flagged), 1), 4),
            "estimated_noise_rate": round(audit.estimated_noise_rate, 4),
            "calibrated_noise_rate": round(audit.calibrated_noise_rate, 4),
            "true_noise_rate": round(len(flipped) / len(y_true), 4),
            "flagged": len(flagged),
            "flipped": len(flipped),
            "suggestion_accuracy": round(right / max(int(hit.sum()), 1), 4),
            "oof_accuracy_vs_original_labels": round(float((probs.argmax(1) == y_true).mean()), 4),
            "seconds": round(seconds, 1),
        }
        per_seed.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def mean(key: str) -> float:
        return round(float(np.mean([r[key] for r in per_seed])), 4)

    result = {
        "benchmark": "label_noise_audit",
        "data": "banking77",
        "n_examples": len(texts),
        "n_classes": k,
        "noise_recall": mean("noise_recall"),
        "noise_precision": mean("noise_precision"),
        "estimated_noise_rate": mean("estimated_noise_rate"),
        "true_noise_rate": mean("true_noise_rate"),
        "flagged": mean("flagged"),
        "seconds": mean("seconds"),
        "calibrated_noise_rate": mean("calibrated_noise_rate"),
        "suggestion_accuracy": mean("suggestion_accuracy"),
        "target": TARGET,
        "meets_target": bool(mean("noise_recall") >= TARGET["noise_recall"]
                             and mean("noise_precision") >= TARGET["noise_precision"]),
        "seeds": seeds,
        "per_seed": per_seed,
        "method": (
            f"frozen all-MiniLM-L6-v2 embeddings (product Embedder); {args.folds}-fold stratified seeded "
            f"out-of-fold probabilities from multinomial logistic regression (C={c:g}); confident learning: "
            "per-class thresholds = mean self-confidence, confident joint, estimated issues = its off-diagonal "
            f"sum; flags = that many lowest-self-confidence examples (filter_by={args.filter_by}). "
            "Estimated rate = off-diagonal / n (calibrated joint's rate reported alongside)."
        ),
        "hyperparameters": {
            "C": c,
            "C_selection_log_loss_on_given_labels": selection or "not run (pass --c-grid 3,10,30 to repeat it)",
            "how_chosen": "C by OOF log loss on the given labels (seed 0); filter rule chosen on seed 0, "
                          "confirmed on seeds 1-2; no threshold tuned on the flips",
        },
        "embeddings": emb_info,
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
