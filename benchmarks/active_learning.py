"""Benchmark: active learning vs random sampling on Banking77; prints ONE JSON object.

    .venv/bin/python benchmarks/active_learning.py [--seeds 0,1,2,3,4] [--step 0.005]
        [--initial 0.005] [--pool-factor 2] [--diversity-share 0] [--curves]

Data: ../shared/data/banking77/train.csv (10,003 customer queries, 77 intents; CC-BY-4.0,
PolyAI). A FIXED validation split is carved out: per intent, the 20 % of texts with the
smallest sha256(text) (stable across runs and machines); the rest is the unlabelled pool
and its true labels are the simulated oracle.

Texts are embedded once with the product's ``Embedder`` (packaged all-MiniLM-L6-v2,
384-d) and cached in ``benchmarks/out/al_embeddings_<hash>.npy``, keyed by a hash of the
texts and the model version, so reruns skip the ~4 minutes of encoding.

Loop model: multinomial logistic regression on the frozen embeddings. Its C is tuned
ONCE on the validation split for the full pool (grid ``--c-grid``, smallest C within
0.1 point of the best) and kept fixed for every strategy and round.
``full_pool_accuracy`` is that model trained on the whole pool; the target is 95 % of it.

For every seed both strategies start from the SAME random seed set (``--initial`` of the
pool) and label ``--step`` of the pool per round, refitting from scratch each round:

* random: uniform draws from the unlabelled pool;
* active: ``pipeline.domain.learning.active.select_for_annotation`` - the selector the
  product's gold/annotation_queue uses - with the labelled rows excluded and the model's
  probabilities (margin uncertainty, a x``--pool-factor`` most-uncertain pool thinned by
  uncertainty-weighted k-center over the batch, ``--diversity-share`` of picks on
  representatives of uncovered regions, plus its 2 % random compliance sample - one call
  per batch of 40). Defaults are the product's ``ReviewPolicy``.

``label_fraction_to_target_*`` is the share of the pool labelled when validation accuracy
FIRST reaches the target (mean over seeds; per-seed lists alongside);
``al_vs_random_ratio`` = mean AL / mean random. BLAS is limited to ``--threads`` (1 was
~10x faster than 2 on the shared 2-core machine).
"""

from __future__ import annotations

import argparse
import hashlib
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

import warnings

import numpy as np
from common import cached_embeddings, load_banking77

# tiny early seed sets trip sklearn's "more classes than half the samples" heuristic
warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")

from pipeline.domain.learning.active import ReviewPolicy, default_model, simulate

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"
OUT = ROOT / "benchmarks" / "out"


def load(path: Path) -> tuple[list[str], list[str]]:
    return load_banking77(path)


def split(texts: list[str], cats: list[str], val_share: float) -> tuple[np.ndarray, np.ndarray]:
    """(pool indices, validation indices): per intent the ``val_share`` of texts with the
    smallest sha256(text) go to validation."""
    by_cat: dict[str, list[int]] = {}
    for i, c in enumerate(cats):
        by_cat.setdefault(c, []).append(i)
    val: list[int] = []
    for c in sorted(by_cat):
        items = sorted(by_cat[c], key=lambda i: (hashlib.sha256(texts[i].encode()).hexdigest(), i))
        val += items[: round(val_share * len(items))]
    is_val = np.zeros(len(texts), dtype=bool)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def embed(texts: list[str], use_cache: bool) -> tuple[np.ndarray, dict]:
    """Product embeddings for ``texts``, cached by model version + texts hash."""
    return cached_embeddings(texts, "al_embeddings", use_cache)


def tune_c(xp, yp, xv, yv, grid: list[float]) -> tuple[float, dict, float]:
    """Smallest C within 0.001 of the best full-pool validation accuracy."""
    scores = {}
    for c in grid:
        m = default_model(c).fit(xp, yp)
        scores[c] = float((m.predict(xv) == yv).mean())
    best = max(scores.values())
    c = min(c for c, s in scores.items() if s >= best - 1e-3)
    return c, scores, scores[c]


def _mean(xs: list[float | None]) -> float | None:
    return None if not xs or any(v is None for v in xs) else round(float(np.mean(xs)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (>= 3 recommended)")
    ap.add_argument("--step", type=float, default=0.005, help="share of the pool labelled per round")
    ap.add_argument("--initial", type=float, default=0.005, help="share of the pool in the random seed set")
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--target-share", type=float, default=0.95, help="target = this x full-pool accuracy")
    ap.add_argument("--max-fraction", type=float, default=0.5, help="stop a run at this share of the pool")
    ap.add_argument("--c-grid", default="0.3,1,3,10,30,100")
    ap.add_argument("--pool-factor", type=float, default=ReviewPolicy.pool_factor)
    ap.add_argument("--diversity-share", type=float, default=ReviewPolicy.diversity_share)
    ap.add_argument("--compliance-share", type=float, default=ReviewPolicy.compliance_share)
    ap.add_argument("--uncertainty", default=ReviewPolicy.uncertainty)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for the loop")
    ap.add_argument("--no-cache", action="store_true", help="re-embed even if cached")
    ap.add_argument("--curves", action="store_true", help="also print every learning curve")
    a = ap.parse_args()
    if not a.data.is_file():
        sys.exit(f"benchmark data not found: {a.data}")
    seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    t_start = time.perf_counter()

    texts, cats = load(a.data)
    x, emb_info = embed(texts, use_cache=not a.no_cache)
    classes = sorted(set(cats))
    y = np.array([classes.index(c) for c in cats])
    pool, val = split(texts, cats, a.val_share)
    xp, yp, xv, yv = x[pool], y[pool], x[val], y[val]
    n = len(pool)
    step = max(1, round(a.step * n))
    n_init = max(2, round(a.initial * n))
    policy = ReviewPolicy(pool_factor=a.pool_factor, diversity_share=a.diversity_share,
                          compliance_share=a.compliance_share, uncertainty=a.uncertainty)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(a.threads):
        c, c_scores, full_acc = tune_c(xp, yp, xv, yv, [float(v) for v in a.c_grid.split(",")])
        target = a.target_share * full_acc
        per: dict[str, list] = {"active": [], "random": []}
        secs: dict[str, float] = {"active": 0.0, "random": 0.0}
        curves = []
        for s in seeds:
            initial = np.random.default_rng(s).choice(n, n_init, replace=False)
            for strategy in ("random", "active"):
                curve = simulate(xp, yp, xv, yv, initial=initial, step=step, strategy=strategy,
                                 max_labelled=round(a.max_fraction * n), target_accuracy=target,
                                 model_factory=lambda: default_model(c), policy=policy, seed=s)
                frac = curve.fraction_to_reach(target)
                per[strategy].append(None if frac is None else round(frac, 4))
                secs[strategy] += curve.seconds
                print(f"seed {s} {strategy}: {frac} ({curve.seconds:.0f}s)", file=sys.stderr, flush=True)
                if a.curves:
                    curves.append({"seed": s, "strategy": strategy, "n_labelled": curve.n_labelled,
                                   "accuracy": [round(v, 4) for v in curve.accuracy]})

    al, rnd = _mean(per["active"]), _mean(per["random"])
    out = {
        "benchmark": "active_learning",
        "data": "banking77",
        "label_fraction_to_target_al": al,
        "label_fraction_to_target_random": rnd,
        "al_vs_random_ratio": None if al is None or not rnd else round(al / rnd, 4),
        "per_seed_al": per["active"],
        "per_seed_random": per["random"],
        "per_seed_ratio": [None if p is None or not r else round(p / r, 4) for p, r in zip(per["active"], per["random"])],
        "full_pool_accuracy": round(full_acc, 4),
        "target_accuracy": round(target, 4),
        "target_share_of_full": a.target_share,
        "seeds": seeds,
        "pool_size": n,
        "val_size": len(val),
        "n_intents": len(classes),
        "initial_labelled": n_init,
        "step": step,
        "step_fraction": round(step / n, 5),
        "model": f"LogisticRegression(C={c:g}) on frozen {emb_info['model_version']} embeddings",
        "c_tuning_full_pool_val_accuracy": {f"{k:g}": round(v, 4) for k, v in c_scores.items()},
        "strategy": (f"select_for_annotation: {policy.uncertainty} uncertainty, top x{policy.pool_factor:g} pool "
                     f"-> uncertainty-weighted k-center within the batch; {policy.diversity_share:.0%} "
                     f"of model picks -> k-means representatives of uncovered regions; "
                     f"{policy.compliance_share:.0%} random compliance sample (seeded); same random "
                     f"seed set for both strategies; LR refit from scratch each round"),
        "policy": {k: getattr(policy, k) for k in ("pool_factor", "diversity_share", "compliance_share", "uncertainty")},
        "loop_seconds": {k: round(v, 1) for k, v in secs.items()},
        "embedding": emb_info,
        "threads": a.threads,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    if a.curves:
        out["curves"] = curves
    print(json.dumps(out))


if __name__ == "__main__":
    main()
