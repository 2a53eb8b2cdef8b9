"""The shared data model: one transcript model whatever the source, call metadata,
events and quarantine records. Plain dataclasses with dict round-trips (JSON-safe).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

AGENT = "agent"
CUSTOMER = "customer"
UNKNOWN_SPEAKER = "speaker"


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass
class Segment:
    speaker: str
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    channel: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not self.words:
            d.pop("words")
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Segment":
        words = [Word(**w) for w in d.get("words") or []]
        return cls(
            speaker=d["speaker"],
            start=float(d["start"]),
            end=float(d["end"]),
            text=d["text"],
            words=words,
            avg_logprob=d.get("avg_logprob"),
            no_speech_prob=d.get("no_speech_prob"),
            compression_ratio=d.get("compression_ratio"),
            channel=d.get("channel"),
        )


@dataclass
class Transcript:
    """One call's transcript on one merged timeline, sorted by start time.

    ``source_format`` is ``asr`` for our own transcription, else the import format
    (``webvtt``, ``srt``, ``aws_transcribe``, ``google_stt``, ``text``).
    ``diarised`` is False when speakers could not be told apart (mono, no import).
    """

    source_format: str
    segments: list[Segment]
    call_id: str | None = None
    language: str | None = None
    duration: float | None = None
    diarised: bool = True
    quality: dict[str, Any] = field(default_factory=dict)

    def sorted(self) -> "Transcript":
        self.segments.sort(key=lambda s: (s.start, s.end))  # stable: keeps file order on ties
        return self

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "call_id": self.call_id,
            "source_format": self.source_format,
            "language": self.language,
            "duration": self.duration,
            "diarised": self.diarised,
            "segments": [s.to_dict() for s in self.segments],
        }
        if self.quality:
            d["quality"] = self.quality
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Transcript":
        return cls(
            source_format=d["source_format"],
            segments=[Segment.from_dict(s) for s in d.get("segments", [])],
            call_id=d.get("call_id"),
            language=d.get("language"),
            duration=d.get("duration"),
            diarised=d.get("diarised", True),
            quality=d.get("quality") or {},
        )


@dataclass(frozen=True)
class Consent:
    recording: str  # "granted" | "opt_out"
    training: bool

    @property
    def recording_allowed(self) -> bool:
        return self.recording == "granted"


@dataclass(frozen=True)
class CallMetadata:
    """The validated sidecar of a recording (see pipeline/domain/intake/sidecar.py)."""

    call_id: str
    tenant: str
    started_at: datetime
    agent_id: str
    direction: str  # "inbound" | "outbound"
    consent: Consent
    customer_id: str | None = None
    # which audio channel holds whom; default agent left (0), customer right (1)
    channel_map: dict[int, str] = field(default_factory=lambda: {0: AGENT, 1: CUSTOMER})
    legal_hold: bool = False

    @property
    def call_date(self) -> str:
        return self.started_at.astimezone(timezone.utc).date().isoformat()

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "tenant": self.tenant,
            "started_at": self.started_at.isoformat(),
            "agent_id": self.agent_id,
            "direction": self.direction,
            "consent": {"recording": self.consent.recording, "training": self.consent.training},
            "customer_id": self.customer_id,
            "channel_map": {str(k): v for k, v in self.channel_map.items()},
            "legal_hold": self.legal_hold,
        }


@dataclass(frozen=True)
class Event:
    trace_id: str
    seq: int
    ts: str
    type: str
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class QuarantineRecord:
    """Why a call (or file) did not pass a stage. ``reason`` is a machine-readable code
    (e.g. ``audio_decode_failed``, ``sidecar_missing_field``); ``detail`` is for humans
    and must never contain transcript text or PII."""

    call_id: str
    stage: str
    reason: str
    detail: str
    source_uri: str
    partition: str | None = None
    tenant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stable_hash(obj: Any) -> str:
    """Deterministic short hash of a JSON-serialisable object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
