"""Training datasets from redacted, labelled calls (pure domain; no dagster).

A consented call becomes one chat example (customer turns are ``user``, agent turns are
``assistant``, consecutive same-speaker segments merged) plus a customer-side ``text``
for intent/outcome classifiers. Splits are assigned per call by a seeded hash of the
``call_id``, so a call never spans two splits and existing calls keep their split when
new calls arrive.

Skipped calls are returned with a machine-readable reason, never silently dropped.
Reason codes: ``no_training_consent``, ``duplicate_call_id``, ``empty_transcript``,
``unknown_speaker``, ``no_customer_turn``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.domain.core.models import AGENT, CUSTOMER, Transcript, stable_hash

if TYPE_CHECKING:  # pragma: no cover - typing only
    import datasets as hf_datasets

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, polite contact-centre agent. Resolve the customer's request "
    "accurately and never ask for or repeat personal data that is not needed."
)

SPLITS = ("train", "validation", "test")
ROLE_BY_SPEAKER = {CUSTOMER: "user", AGENT: "assistant"}

# Skip reasons (machine-readable codes).
NO_TRAINING_CONSENT = "no_training_consent"
DUPLICATE_CALL_ID = "duplicate_call_id"
EMPTY_TRANSCRIPT = "empty_transcript"
UNKNOWN_SPEAKER = "unknown_speaker"
NO_CUSTOMER_TURN = "no_customer_turn"


@dataclass
class LabelledCall:
    """A call ready for dataset building. ``transcript`` MUST already be redacted."""

    call_id: str
    tenant: str
    training_consent: bool
    transcript: Transcript
    intent: str | None = None
    outcome: str | None = None


def _merge_turns(transcript: Transcript) -> list[tuple[str, str]]:
    """(speaker, text) turns with consecutive same-speaker segments merged; empty
    segments are ignored. Segments are taken in timeline order."""
    turns: list[tuple[str, str]] = []
    segments = sorted(transcript.segments, key=lambda s: (s.start, s.end))
    for seg in segments:
        text = " ".join(seg.text.split())
        if not text:
            continue
        if turns and turns[-1][0] == seg.speaker:
            turns[-1] = (seg.speaker, turns[-1][1] + " " + text)
        else:
            turns.append((seg.speaker, text))
    return turns


def build_examples(
    calls: list[LabelledCall], system_prompt: str = DEFAULT_SYSTEM_PROMPT
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Turn labelled calls into chat examples.

    Only calls with ``training_consent`` are used. Returns ``(examples, skipped)`` where
    each example is ``{"call_id", "tenant", "intent", "outcome", "messages", "text"}``
    (``messages`` starts with the system prompt; ``text`` is the customer-side text) and
    ``skipped`` lists ``(call_id, reason_code)`` for every call not used. Output order
    follows input order.
    """
    examples: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for call in calls:
        if not call.training_consent:
            skipped.append((call.call_id, NO_TRAINING_CONSENT))
            continue
        if call.call_id in seen:
            skipped.append((call.call_id, DUPLICATE_CALL_ID))
            continue
        turns = _merge_turns(call.transcript)
        if not turns:
            skipped.append((call.call_id, EMPTY_TRANSCRIPT))
            continue
        if any(speaker not in ROLE_BY_SPEAKER for speaker, _ in turns):
            # Undiarised or unattributed speech: we cannot tell customer from agent.
            skipped.append((call.call_id, UNKNOWN_SPEAKER))
            continue
        customer_text = [text for speaker, text in turns if speaker == CUSTOMER]
        if not customer_text:
            skipped.append((call.call_id, NO_CUSTOMER_TURN))
            continue
        seen.add(call.call_id)
        messages = [{"role": "system", "content": system_prompt}] + [
            {"role": ROLE_BY_SPEAKER[speaker], "content": text} for speaker, text in turns
        ]
        examples.append(
            {
                "call_id": call.call_id,
                "tenant": call.tenant,
                "intent": call.intent,
                "outcome": call.outcome,
                "messages": messages,
                "text": " ".join(customer_text),
            }
        )
    return examples, skipped


def _unit_hash(call_id: str, seed: int) -> float:
    """A stable number in [0, 1) derived from (seed, call_id)."""
    digest = hashlib.sha256(f"{seed}:{call_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_call(
    examples: list[dict[str, Any]],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> dict[str, list[dict[str, Any]]]:
    """Split examples into ``train``/``validation``/``test`` by a seeded hash of call_id.

    All examples of one call land in the same split, and a call's split does not change
    when other calls are added. With at least 3 distinct calls the test split is never
    empty (nor validation, when its fraction is > 0): in that small-sample case the
    calls hashing closest to the boundary are moved.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions!r}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fractions)})")
    for i, ex in enumerate(examples):
        if not ex.get("call_id"):
            raise ValueError(f"example #{i} has no call_id")

    call_ids = sorted({ex["call_id"] for ex in examples})
    u = {cid: _unit_hash(cid, seed) for cid in call_ids}
    cut_train, cut_val = fractions[0], fractions[0] + fractions[1]
    assign: dict[str, str] = {}
    for cid in call_ids:
        assign[cid] = "train" if u[cid] < cut_train else "validation" if u[cid] < cut_val else "test"

    def members(split: str) -> list[str]:
        return sorted((c for c in call_ids if assign[c] == split), key=lambda c: u[c])

    if len(call_ids) >= 3:
        if not members("test"):
            # the call hashing closest to the test boundary moves
            assign[max(call_ids, key=u.__getitem__)] = "test"
        if fractions[1] > 0 and not members("validation") and len(members("train")) > 1:
            assign[members("train")[-1]] = "validation"

    out: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for ex in examples:
        out[assign[ex["call_id"]]].append(ex)
    return out


def write_chat_jsonl(examples: list[dict[str, Any]], path: Path | str) -> int:
    """Write examples as JSON lines (one chat example per line), atomically.

    Returns the number of lines written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for ex in examples:
                fh.write(json.dumps(ex, ensure_ascii=False, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(examples)


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Read JSON-object lines (blank lines skipped); errors name the file and line."""
    path = Path(path)
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg})") from e
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{lineno}: not a JSON object")  # noqa: TRY004 - bad file content
            out.append(obj)
    return out


def read_chat_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Read a file written by :func:`write_chat_jsonl`; errors name the file and line."""
    rows = read_jsonl(path)
    for lineno, obj in enumerate(rows, 1):
        if "messages" not in obj:
            raise ValueError(f"{path}: row {lineno}: not a chat example (no 'messages')")
    return rows


def _features() -> "hf_datasets.Features":
    import datasets as hf_datasets

    string = hf_datasets.Value("string")
    return hf_datasets.Features(
        {
            "call_id": string,
            "tenant": string,
            "intent": string,
            "outcome": string,
            "messages": hf_datasets.List({"role": string, "content": string}),
            "text": string,
        }
    )


def to_dataset_dict(splits: dict[str, list[dict[str, Any]]]) -> "hf_datasets.DatasetDict":
    """Build a Hugging Face ``DatasetDict`` (train/validation/test, fixed schema even for
    empty splits) from :func:`split_by_call` output."""
    import datasets as hf_datasets

    features = _features()
    cols = list(features)
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}; expected {SPLITS}")
    dd = {}
    for name in SPLITS:
        rows = splits.get(name, [])
        data = {c: [row.get(c) for row in rows] for c in cols}
        dd[name] = hf_datasets.Dataset.from_dict(data, features=features)
    return hf_datasets.DatasetDict(dd)


def dataset_version(examples: list[dict[str, Any]]) -> str:
    """Content hash of a set of examples, independent of their order."""
    canonical = sorted(
        (json.dumps(ex, sort_keys=True, ensure_ascii=False) for ex in examples)
    )
    return "ds-" + stable_hash(canonical)
