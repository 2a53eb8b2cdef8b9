"""Ensembles of intent classifiers: LoRA adapters + a frozen-embedding logistic regression.

:class:`EnsembleClassifier` averages the class probabilities of one or more LoRA adapters
(:func:`~pipeline.domain.learning.training.train_lora_classifier`, e.g. trained with
different seeds) and mixes them with a multinomial logistic regression on the frozen base
encoder's sentence embeddings (the "base" comparator's features)::

    p = weight * mean(p_adapter_i) + (1 - weight) * p_logreg

The two error sources differ (the adapter moves the encoder, the logistic regression
keeps it), so the mixture usually beats both. :func:`fit_ensemble` fits the logistic
regression on the training texts and picks its ``C`` and the mixing ``weight`` on a
validation split (never on a test set).

An ensemble folder holds ``ensemble.json`` (weight, C, label names, adapter folders
relative to the ensemble folder) and ``ensemble_logreg.safetensors`` (coef, intercept);
the adapter folders may be the ensemble folder itself (saved next to the adapter) or
sub-folders. The logistic regression is stored as plain weights (no pickle) and applied
as ``softmax(x @ coef.T + intercept)``, which is what scikit-learn's multinomial
``predict_proba`` computes, so reloading gives the same probabilities.

Heavy libraries (torch, numpy, sklearn, safetensors) are imported lazily.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from pipeline.domain.learning.training import (
    Classifier,
    _check_base,
    _check_texts,
    _check_training_data,
    _embed,
    _load_encoder,
    _load_tokenizer,
    _Threads,
    load_classifier,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

ENSEMBLE_FILE = "ensemble.json"
LOGREG_WEIGHTS = "ensemble_logreg.safetensors"
DEFAULT_CS = (1.0, 3.0, 10.0, 30.0, 100.0)
DEFAULT_WEIGHTS = tuple(i / 20 for i in range(21))


def frozen_embedder(
    base_model_path: str, label_names: Sequence[str] = (), max_len: int = 64, threads: int | None = None
) -> Classifier:
    """The frozen base encoder as a :class:`Classifier` with an identity head (its
    :func:`embed` output: mean pooling + L2 normalisation)."""
    import torch

    base_model_path = _check_base(base_model_path)
    with _Threads(threads):
        encoder = _load_encoder(base_model_path)
        tokenizer = _load_tokenizer(base_model_path)
    return Classifier(encoder, torch.nn.Identity(), tokenizer, list(label_names), max_len=max_len, threads=threads)


def embed(embedder: Classifier, texts: list[str]) -> "np.ndarray":
    """L2-normalised mean-pooled sentence embeddings, shape (len(texts), hidden)."""
    return _embed(embedder, list(texts))


def _softmax(z: "np.ndarray") -> "np.ndarray":
    import numpy as np

    if not len(z):
        return z
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_logreg(x: "np.ndarray", y: Sequence[int], n_labels: int, C: float, seed: int = 0) -> tuple["np.ndarray", "np.ndarray"]:
    """Multinomial logistic regression on embeddings; returns (coef, intercept) with one
    row per label index 0..n_labels-1 (every index must occur in ``y``)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    if sorted(set(int(v) for v in y)) != list(range(n_labels)):
        raise ValueError("every label must occur in the logistic-regression training data")
    model = LogisticRegression(C=C, max_iter=3000, random_state=seed)
    model.fit(x, list(y))
    return model.coef_.astype(np.float32), model.intercept_.astype(np.float32)


def logreg_proba(x: "np.ndarray", coef: "np.ndarray", intercept: "np.ndarray") -> "np.ndarray":
    """``softmax(x @ coef.T + intercept)``."""
    return _softmax(x @ coef.T + intercept)


def mix(adapter_probas: Sequence["np.ndarray"], logreg_p: "np.ndarray | None", weight: float) -> "np.ndarray":
    """``weight * mean(adapter_probas) + (1 - weight) * logreg_p``."""
    import numpy as np

    p = np.mean(np.stack(list(adapter_probas)), axis=0) if adapter_probas else None
    if p is None:
        if logreg_p is None:
            raise ValueError("nothing to mix")
        return logreg_p
    if logreg_p is None or weight >= 1.0:
        return p
    return weight * p + (1.0 - weight) * logreg_p


def select_mixture(
    adapter_p: "np.ndarray",
    logreg_ps: dict[float, "np.ndarray"],
    y: Sequence[int],
    weights: Sequence[float] = DEFAULT_WEIGHTS,
) -> tuple[float, float, float]:
    """Grid-search (C, weight) maximising accuracy on (adapter_p, logreg_ps[C], y); ties
    broken by lower log-loss, then by larger weight. Returns (C, weight, accuracy)."""
    import numpy as np

    y_arr = np.asarray(list(y))
    best: tuple[float, float, float, float] | None = None  # (acc, -logloss, weight, C)
    for C, lp in sorted(logreg_ps.items()):
        for w in weights:
            p = w * adapter_p + (1.0 - w) * lp
            acc = float((p.argmax(axis=1) == y_arr).mean())
            ll = float(-np.log(np.clip(p[np.arange(len(y_arr)), y_arr], 1e-12, None)).mean())
            key = (acc, -ll, float(w), float(C))
            if best is None or key > best:
                best = key
    assert best is not None
    return best[3], best[2], best[0]


@dataclass
class EnsembleClassifier:
    """Mean of adapter probabilities mixed with a frozen-embedding logistic regression."""

    adapters: list[Classifier]
    embedder: Classifier | None
    coef: "np.ndarray | None"
    intercept: "np.ndarray | None"
    weight: float
    label_names: list[str]
    C: float | None = None
    adapter_dirs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        for a in self.adapters:
            if list(a.label_names) != list(self.label_names):
                raise ValueError("all adapters must share the ensemble's label names (same order)")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1] (got {self.weight})")
        if self.weight < 1.0 and (self.embedder is None or self.coef is None or self.intercept is None):
            raise ValueError("weight < 1 needs an embedder and logistic-regression weights")
        if self.weight > 0.0 and not self.adapters:
            raise ValueError("weight > 0 needs at least one adapter")

    def component_probas(self, texts: list[str]) -> tuple[list["np.ndarray"], "np.ndarray | None"]:
        """(per-adapter probabilities, logistic-regression probabilities or None)."""
        _check_texts(texts)
        adapter_ps = [a.predict_proba(texts) for a in self.adapters] if self.weight > 0 else []
        lr_p = None
        if self.weight < 1.0:
            lr_p = logreg_proba(embed(self.embedder, texts), self.coef, self.intercept)  # type: ignore[arg-type]
        return adapter_ps, lr_p

    def predict_proba(self, texts: list[str]) -> "np.ndarray":
        """Class probabilities, columns in ``label_names`` order."""
        import numpy as np

        if not texts:
            _check_texts(texts)
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        adapter_ps, lr_p = self.component_probas(texts)
        return mix(adapter_ps, lr_p, self.weight)

    def predict(self, texts: list[str]) -> list[str]:
        """Most probable label per text."""
        return [self.label_names[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def save(self, out_dir: Path | str) -> Path:
        """Write ``ensemble.json`` + ``ensemble_logreg.safetensors`` into ``out_dir`` (which
        may be the adapter folder itself). Adapter folders are recorded relative to it."""
        import numpy as np
        from safetensors.numpy import save_file

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.adapters and len(self.adapter_dirs) != len(self.adapters):
            raise ValueError("adapter_dirs must name the folder of every adapter to save the ensemble")
        if self.coef is not None and self.intercept is not None:
            save_file(
                {"coef": np.ascontiguousarray(self.coef, dtype=np.float32),
                 "intercept": np.ascontiguousarray(self.intercept, dtype=np.float32)},
                str(out_dir / LOGREG_WEIGHTS),
            )
        meta = {
            "weight": self.weight,
            "C": self.C,
            "label_names": self.label_names,
            "adapters": [os.path.relpath(Path(d).resolve(), out_dir.resolve()) for d in self.adapter_dirs],
            "max_len": self.embedder.max_len if self.embedder is not None else None,
            "logreg": self.coef is not None,
        }
        (out_dir / ENSEMBLE_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return out_dir


def load_ensemble(base_model_path: str, ensemble_dir: Path | str, threads: int | None = None) -> EnsembleClassifier:
    """Load an ensemble folder written by :meth:`EnsembleClassifier.save`."""
    from safetensors.numpy import load_file

    ensemble_dir = Path(ensemble_dir)
    if not (ensemble_dir / ENSEMBLE_FILE).is_file():
        raise FileNotFoundError(f"{ensemble_dir} has no {ENSEMBLE_FILE}")
    try:
        meta = json.loads((ensemble_dir / ENSEMBLE_FILE).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{ensemble_dir / ENSEMBLE_FILE}: invalid JSON: {e}") from e
    dirs = [ensemble_dir / d for d in meta.get("adapters", [])]
    adapters = [load_classifier(base_model_path, d, threads=threads) for d in dirs]
    label_names = list(meta["label_names"])
    embedder = coef = intercept = None
    if meta.get("logreg"):
        state = load_file(str(ensemble_dir / LOGREG_WEIGHTS))
        coef, intercept = state["coef"], state["intercept"]
        if coef.shape[0] != len(label_names):
            raise ValueError(f"{ensemble_dir / LOGREG_WEIGHTS}: does not match {len(label_names)} labels")
        embedder = frozen_embedder(base_model_path, label_names, max_len=int(meta.get("max_len") or 64), threads=threads)
    return EnsembleClassifier(adapters, embedder, coef, intercept, float(meta["weight"]), label_names,
                              C=meta.get("C"), adapter_dirs=dirs)


def fit_ensemble(
    base_model_path: str,
    adapters: list[Classifier],
    adapter_dirs: list[Path | str],
    train_texts: list[str],
    train_labels: list[str],
    val_texts: list[str],
    val_labels: list[str],
    Cs: Sequence[float] = DEFAULT_CS,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    max_len: int = 64,
    threads: int | None = None,
    seed: int = 0,
    on_progress: Callable[[str], None] | None = None,
) -> tuple[EnsembleClassifier, dict[str, Any]]:
    """Fit the logistic regression on the training texts for every ``C`` in ``Cs``, then
    pick (C, weight) by validation accuracy. Returns the ensemble and a report with the
    validation accuracy of each component and of the chosen mixture."""
    import numpy as np

    label_names = _check_training_data(train_texts, train_labels)
    _check_texts(val_texts)
    if not val_texts or len(val_texts) != len(val_labels):
        raise ValueError("need a non-empty validation split with one label per text")
    index = {n: i for i, n in enumerate(label_names)}
    unknown = sorted(set(val_labels) - set(index))
    if unknown:
        raise ValueError(f"validation labels not in training labels: {unknown[:5]}")
    for a in adapters:
        if list(a.label_names) != label_names:
            raise ValueError("adapter label names differ from the training labels")
    y_tr = [index[v] for v in train_labels]
    y_val = [index[v] for v in val_labels]
    report = lambda msg: on_progress(msg) if on_progress else None  # noqa: E731

    embedder = frozen_embedder(base_model_path, label_names, max_len=max_len, threads=threads)
    report("embedding train/val with the frozen encoder")
    x_tr, x_val = embed(embedder, train_texts), embed(embedder, val_texts)
    coefs: dict[float, tuple[Any, Any]] = {}
    lr_ps: dict[float, Any] = {}
    for C in Cs:
        report(f"logistic regression C={C}")
        coefs[C] = fit_logreg(x_tr, y_tr, len(label_names), C, seed=seed)
        lr_ps[C] = logreg_proba(x_val, *coefs[C])
    adapter_ps = [a.predict_proba(val_texts) for a in adapters]
    y_arr = np.asarray(y_val)
    acc = lambda p: float((p.argmax(axis=1) == y_arr).mean())  # noqa: E731
    if adapter_ps:
        adapter_p = np.mean(np.stack(adapter_ps), axis=0)
        C, w, best_acc = select_mixture(adapter_p, lr_ps, y_val, weights)
    else:
        C = max(Cs, key=lambda c: acc(lr_ps[c]))
        w, best_acc = 0.0, acc(lr_ps[C])
    ens = EnsembleClassifier(list(adapters), embedder, coefs[C][0], coefs[C][1], float(w), label_names,
                             C=float(C), adapter_dirs=[Path(d) for d in adapter_dirs])
    info = {
        "C": float(C),
        "weight": float(w),
        "val_accuracy": best_acc,
        "val_accuracy_adapters": [acc(p) for p in adapter_ps],
        "val_accuracy_adapter_mean": acc(np.mean(np.stack(adapter_ps), axis=0)) if adapter_ps else None,
        "val_accuracy_logreg": {str(c): acc(p) for c, p in lr_ps.items()},
    }
    return ens, info
