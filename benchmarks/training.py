"""Benchmark: LoRA intent classifier vs the frozen-embedding base on a Banking77 slice.

Prints ONE JSON object (held-out accuracy / macro-F1 for the adapter and the base
comparator, steps, steps/s, seconds, adapter size). Takes minutes; not part of tests.

    .venv/bin/python benchmarks/training.py [--intents 77 --train-per-intent 40 ...]

Data: ../shared/data/banking77/train.csv (CC-BY-4.0, PolyAI). Per intent, examples are
ordered by a hash of their text; the first ``--test-per-intent`` are held out, the next
``--train-per-intent`` are trained on.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
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

from pipeline.domain.learning.evaluation import compare_for_promotion, evaluate_predictions
from pipeline.domain.learning.training import (
    TrainConfig,
    base_classifier,
    default_base_model_path,
    train_lora_classifier,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"


def _slice(path: Path, intents: int, n_train: int, n_test: int) -> tuple[list[dict], list[dict]]:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    by_intent: dict[str, list[dict]] = {}
    for r in rows:
        by_intent.setdefault(r["category"], []).append(r)
    chosen = sorted(by_intent)[:intents]
    train, test = [], []
    for name in chosen:
        items = sorted(by_intent[name], key=lambda r: hashlib.sha256(r["text"].encode()).hexdigest())
        test += items[:n_test]
        train += items[n_test : n_test + n_train]
    return train, test


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--intents", type=int, default=77)
    ap.add_argument("--train-per-intent", type=int, default=40)
    ap.add_argument("--test-per-intent", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-group-by-length", action="store_true")
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"benchmark data not found: {args.data}")

    train, test = _slice(args.data, args.intents, args.train_per_intent, args.test_per_intent)
    base_path = default_base_model_path()
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_len=args.max_len,
        threads=args.threads,
        seed=args.seed,
        group_by_length=not args.no_group_by_length,
    )
    x_train, y_train = [r["text"] for r in train], [r["category"] for r in train]
    x_test, y_test = [r["text"] for r in test], [r["category"] for r in test]
    labels = sorted(set(y_train))

    with tempfile.TemporaryDirectory(prefix="cf_train_bench_") as tmp:
        def progress(step: int, total: int, loss: float) -> None:
            if step % 25 == 0 or step == total:
                print(f"step {step}/{total} loss {loss:.3f}", file=sys.stderr, flush=True)

        result = train_lora_classifier(base_path, x_train, y_train, cfg, Path(tmp) / "adapter", progress)
        t0 = time.perf_counter()
        lora_pred = result.classifier.predict(x_test)
        predict_s = time.perf_counter() - t0
        adapter_bytes = sum(p.stat().st_size for p in result.adapter_dir.iterdir() if p.is_file())
        weight_bytes = (result.adapter_dir / "adapter_model.safetensors").stat().st_size

    t0 = time.perf_counter()
    base = base_classifier(base_path, x_train, y_train, max_len=args.max_len, threads=args.threads, seed=args.seed)
    base_fit_s = time.perf_counter() - t0
    base_pred = base.predict(x_test)

    lora_m = evaluate_predictions(y_test, lora_pred, labels)
    base_m = evaluate_predictions(y_test, base_pred, labels)
    decision = compare_for_promotion(lora_m, None, base_m, None, require_general=False)
    print(
        json.dumps(
            {
                "benchmark": "lora_intent_classifier",
                "data": "banking77",
                "n_intents": len(labels),
                "n_train": len(train),
                "n_test": len(test),
                "config": cfg.to_dict(),
                "lora": {"accuracy": round(lora_m["accuracy"], 4), "macro_f1": round(lora_m["macro_f1"], 4)},
                "base_frozen_embeddings_logreg": {
                    "accuracy": round(base_m["accuracy"], 4),
                    "macro_f1": round(base_m["macro_f1"], 4),
                    "fit_seconds": round(base_fit_s, 1),
                },
                "steps": result.steps,
                "train_seconds": round(result.seconds, 1),
                "steps_per_s": round(result.steps / result.seconds, 3),
                "s_per_step": round(result.seconds / result.steps, 3),
                "train_loss_last_epoch": round(result.train_loss, 4),
                "predict_per_s": round(len(x_test) / predict_s, 1),
                "adapter_size_bytes": adapter_bytes,
                "adapter_weights_bytes": weight_bytes,
                "would_promote_over_base": decision.promote,
                "threads": args.threads,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
