"""Benchmark: Banking77 intent classifier on the FULL training set (LoRA adapter(s) +
frozen-embedding logistic-regression ensemble).

    .venv/bin/python benchmarks/banking77.py --train ../shared/data/banking77/train.csv [--test FILE]

A stratified, seeded validation split (``--val-frac``, default 10 %) is carved from
``--train``; adapters and the logistic regression train on the rest, and every choice
(logistic-regression C, mixing weight) is made on that split only. ``--test`` (same
columns ``text,category``) is scored once at the end, never used for choices.

Prints ONE JSON object on stdout (progress on stderr): val_accuracy, val_macro_f1,
[test_accuracy, test_macro_f1], train_seconds (adapters + logistic regression, including
the C / weight search), adapter_bytes (every file that would ship: adapter folders +
ensemble weights), recipe, and per-component validation accuracies.
``val_accuracy`` is measured on the split the weight was chosen on (slightly optimistic);
``val_accuracy_crossfit`` picks (C, weight) on one half of it and scores the other half.

Data: Banking77 (CC-BY-4.0, PolyAI).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.domain.learning.ensemble import (  # noqa: E402
    DEFAULT_CS,
    fit_ensemble,
    logreg_proba,
    embed,
    select_mixture,
)
from pipeline.domain.learning.evaluation import evaluate_predictions  # noqa: E402
from pipeline.domain.learning.training import (  # noqa: E402
    TrainConfig,
    default_base_model_path,
    train_lora_classifier,
)


def _read(path: Path) -> tuple[list[str], list[str]]:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def _split(texts: list[str], labels: list[str], frac: float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(texts, labels, test_size=frac, stratify=labels, random_state=seed)


def _dir_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.iterdir() if p.is_file())


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--test", type=Path)
    ap.add_argument("--val-frac", type=float, default=0.1)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--seeds", default="0", help="comma list: one adapter per seed, probabilities averaged")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--head-lr", type=float, default=2e-3)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-logreg", action="store_true", help="adapters only (no ensemble)")
    ap.add_argument("--out", type=Path, help="keep the ensemble folder here (default: temporary)")
    ap.add_argument("--cache", type=Path, help="save per-component val/test probabilities (.npz) here")
    args = ap.parse_args()
    import numpy as np

    x_all, y_all = _read(args.train)
    x_tr, x_val, y_tr, y_val = _split(x_all, y_all, args.val_frac, args.split_seed)
    x_te, y_te = _read(args.test) if args.test else ([], [])
    labels = sorted(set(y_all))
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    base = default_base_model_path()
    _log(f"train {len(x_tr)} val {len(x_val)} test {len(x_te)} labels {len(labels)} seeds {seeds} "
         f"load {os.getloadavg()[0]:.2f}")

    tmp = tempfile.TemporaryDirectory(prefix="cf_b77_")
    out = args.out or Path(tmp.name) / "ensemble"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    adapters, dirs, cfgs = [], [], []
    for seed in seeds:
        cfg = TrainConfig(epochs=args.epochs, seed=seed, lr=args.lr, head_lr=args.head_lr,
                          lora_r=args.lora_r, lora_alpha=2 * args.lora_r, batch_size=args.batch_size,
                          max_len=args.max_len, label_smoothing=args.label_smoothing, threads=args.threads)

        def progress(step: int, total: int, loss: float, seed: int = seed) -> None:
            if step % 100 == 0 or step == total:
                _log(f"seed {seed} step {step}/{total} loss {loss:.3f} load {os.getloadavg()[0]:.2f}")

        res = train_lora_classifier(base, x_tr, y_tr, cfg, out / f"adapter_seed{seed}", progress)
        adapters.append(res.classifier)
        dirs.append(res.adapter_dir)
        cfgs.append(cfg)
    adapter_seconds = time.perf_counter() - t0

    if args.no_logreg:
        from pipeline.domain.learning.ensemble import EnsembleClassifier

        ens = EnsembleClassifier(adapters, None, None, None, 1.0, labels, adapter_dirs=dirs)
        info = {}
    else:
        ens, info = fit_ensemble(base, adapters, dirs, x_tr, y_tr, x_val, y_val, Cs=DEFAULT_CS,
                                 max_len=args.max_len, threads=args.threads, seed=args.split_seed, on_progress=_log)
    train_seconds = time.perf_counter() - t0
    ens.save(out)
    ship_bytes = sum(_dir_bytes(d) for d in dirs) + (_dir_bytes(out) if out not in dirs else 0)

    # validation (+ cross-fitted estimate of the weight choice) and test
    idx = {n: i for i, n in enumerate(labels)}
    yv = np.asarray([idx[v] for v in y_val])
    adapter_val = [a.predict_proba(x_val) for a in adapters]
    val_p = ens.predict_proba(x_val)
    val_m = evaluate_predictions(y_val, [labels[i] for i in val_p.argmax(1)], labels)
    result: dict = {}
    cache: dict[str, np.ndarray] = {"y_val": yv}
    for s, p in zip(seeds, adapter_val):
        cache[f"val_adapter_seed{s}"] = p
    if not args.no_logreg:
        xv = embed(ens.embedder, x_val)
        from pipeline.domain.learning.ensemble import fit_logreg

        x_tr_emb = embed(ens.embedder, x_tr)
        ytr = [idx[v] for v in y_tr]
        lr_ps = {C: logreg_proba(xv, *fit_logreg(x_tr_emb, ytr, len(labels), C, seed=args.split_seed)) for C in DEFAULT_CS}
        for C, p in lr_ps.items():
            cache[f"val_logreg_C{C:g}"] = p
        ap_mean = np.mean(np.stack(adapter_val), axis=0)
        rng = np.random.default_rng(0)
        perm = rng.permutation(len(yv))
        halves = (perm[: len(perm) // 2], perm[len(perm) // 2 :])
        correct = 0
        for a, b in (halves, halves[::-1]):
            C, w, _ = select_mixture(ap_mean[a], {c: p[a] for c, p in lr_ps.items()}, yv[a])
            p = w * ap_mean[b] + (1 - w) * lr_ps[C][b]
            correct += int((p.argmax(1) == yv[b]).sum())
        result["val_accuracy_crossfit"] = round(correct / len(yv), 4)
    if x_te:
        adapter_ps = [a.predict_proba(x_te) for a in adapters]
        lr_p = None if ens.embedder is None else logreg_proba(embed(ens.embedder, x_te), ens.coef, ens.intercept)
        from pipeline.domain.learning.ensemble import mix

        te_p = mix(adapter_ps, lr_p, ens.weight)
        te_m = evaluate_predictions(y_te, [labels[i] for i in te_p.argmax(1)], labels)
        result["test_accuracy"] = round(te_m["accuracy"], 4)
        result["test_macro_f1"] = round(te_m["macro_f1"], 4)
        result["test_accuracy_adapters_only"] = round(float(np.mean(
            np.mean(np.stack(adapter_ps), 0).argmax(1) == np.asarray([idx[v] for v in y_te]))), 4)
        for s, p in zip(seeds, adapter_ps):
            cache[f"test_adapter_seed{s}"] = p
        if lr_p is not None:
            cache["test_logreg_chosen"] = lr_p
    if args.cache:
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.cache, **cache)

    recipe = (
        f"{len(seeds)} LoRA adapter(s) on MiniLM (seeds {seeds}; r={args.lora_r}, alpha={2 * args.lora_r}, all-linear, "
        f"mean pooling, lr {args.lr:g}/head {args.head_lr:g}, 6% warmup + linear decay, batch {args.batch_size}, "
        f"max_len {args.max_len}, {args.epochs} epochs, label smoothing {args.label_smoothing:g}, length-grouped)"
        + ("" if args.no_logreg else
           f" probabilities averaged, mixed {ens.weight:g}:{1 - ens.weight:g} with a logistic regression "
           f"(C={ens.C:g}) on frozen L2-normalised mean-pooled MiniLM embeddings; C and weight chosen on the "
           f"{args.val_frac:.0%} stratified val split (seed {args.split_seed})")
    )
    out_json = {
        "benchmark": "banking77_intents",
        "n_train": len(x_tr),
        "n_val": len(x_val),
        "n_test": len(x_te),
        "val_accuracy": round(val_m["accuracy"], 4),
        "val_macro_f1": round(val_m["macro_f1"], 4),
        **result,
        "val_accuracy_adapters": [round(float((p.argmax(1) == yv).mean()), 4) for p in adapter_val],
        "val_accuracy_logreg": {k: round(v, 4) for k, v in info.get("val_accuracy_logreg", {}).items()},
        "ensemble_weight": ens.weight,
        "logreg_C": ens.C,
        "train_seconds": round(train_seconds, 1),
        "adapter_train_seconds": round(adapter_seconds, 1),
        "adapter_bytes": ship_bytes,
        "recipe": recipe,
        "config": cfgs[0].to_dict(),
        "threads": args.threads,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out_json))
    tmp.cleanup()


if __name__ == "__main__":
    main()
