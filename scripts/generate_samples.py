#!/usr/bin/env python3
"""Generate the bundled sample calls under ``samples/``.

Synthesises short two-speaker calls with espeak-ng (agent and customer voices), lays
them out as 16 kHz 16-bit stereo WAV (agent LEFT, customer RIGHT), and writes the
sidecars, agent event logs, platform transcripts (WebVTT, SRT, AWS Transcribe JSON),
sample labels and a manifest. Two calls are deliberately broken (corrupt audio,
sidecar missing ``agent_id``) so the pipeline's quarantine path has something to do.

Deterministic and idempotent: no unseeded randomness, fixed timestamps, sox in
repeatable mode without dither; re-running rewrites byte-identical files (given the
same espeak-ng and sox versions, which the manifest records) and removes nothing else.

Usage (from the project root)::

    .venv/bin/python scripts/generate_samples.py            # writes samples/
    .venv/bin/python scripts/generate_samples.py --out DIR  # writes elsewhere
    .venv/bin/python scripts/generate_samples.py --no-install

espeak-ng and sox are installed with apt-get when missing (root only) unless
``--no-install`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
WPM = 165
# en-us+m1 rather than +m3: whisper tiny.en hears +m3's "training" as "trading".
VOICES: dict[str, str] = {"agent": "en-us+m1", "customer": "en-us+f2"}
CHANNEL_OF: dict[str, int] = {"agent": 0, "customer": 1}
DISCLOSURE = "this call may be recorded for quality and training purposes"
PEAK = 0.5  # per-turn peak amplitude (-6 dBFS)
LEAD_IN_S = 0.1  # silence before the first turn
TAIL_S = 0.1  # silence after the last turn
MAX_INTERNAL_SILENCE_S = 0.1  # longer pauses inside a turn are shortened to this
FRAME_S = 0.01  # frame length for the silence detector
SILENCE_REL = 0.02  # frame RMS below this fraction of the turn's peak RMS is silence
EDGE_PAD_S = 0.03  # kept around speech when trimming a turn's edges

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "samples"
CARD_NUMBER = "4532015112830366"  # Luhn-valid test number, spoken in 4-digit groups


class SampleGenerationError(RuntimeError):
    """A sample could not be generated (missing tool, synthesis failure)."""


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Turn:
    """One utterance. ``gap`` is the silence before it in seconds (negative: overlap
    with the previous turn, which is always on the other channel)."""

    speaker: str
    text: str
    gap: float = 0.5


@dataclass(frozen=True)
class ErrorEvent:
    """An ``error`` event emitted just after turn ``after_turn``."""

    after_turn: int
    layer: str
    message: str


@dataclass(frozen=True)
class CallSpec:
    """Everything that defines one sample call."""

    call_id: str
    tenant: str
    started_at: str
    agent_id: str | None  # None -> the sidecar omits the (required) field
    direction: str
    recording: str
    training: bool
    intent: str
    outcome: str
    covers: str  # one line for the README
    turns: tuple[Turn, ...] = ()
    customer_id: str | None = None
    channel_map: bool = True
    corrupt_audio: bool = False
    events: bool = True
    tools: dict[int, str] = field(default_factory=dict)  # customer turn index -> tool
    errors: tuple[ErrorEvent, ...] = ()
    pii_in_events: bool = False
    shuffle_events: bool = False
    transcript: str | None = None  # "vtt" | "srt" | "aws" | None


def _spoken_digits(digits: str, group: int) -> str:
    names = "zero one two three four five six seven eight nine".split()
    groups = [digits[i : i + group] for i in range(0, len(digits), group)]
    return ", ".join(" ".join(names[int(c)] for c in g) for g in groups)


def luhn_valid(number: str) -> bool:
    """True when ``number`` (digits only) passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


D = DISCLOSURE[0].upper() + DISCLOSURE[1:] + "."

CALLS: tuple[CallSpec, ...] = (
    CallSpec(
        call_id="call_0001",
        tenant="acme",
        started_at="2026-11-02T09:15:00Z",
        agent_id="agt_101",
        direction="inbound",
        recording="granted",
        training=True,
        customer_id="cust_001",
        intent="card_lost",
        outcome="resolved",
        covers="full name + phone number digit by digit; PII in the event log "
        "(caller_number, utterance); WebVTT transcript",
        turns=(
            Turn("agent", D),
            Turn("customer", "I lost my card. My name is Sarah Lee.", 0.4),
            Turn("agent", "Your phone number?", 0.3),
            Turn("customer", "Five five five, one two three, four five six seven.", 0.3),
        ),
        tools={3: "block_card"},
        pii_in_events=True,
        transcript="vtt",
    ),
    CallSpec(
        call_id="call_0002",
        tenant="acme",
        started_at="2026-11-02T10:42:30Z",
        agent_id="agt_102",
        direction="inbound",
        recording="granted",
        training=True,
        customer_id="cust_001",
        intent="card_lost",
        outcome="resolved",
        covers="16-digit card number (Luhn-valid, 4-digit groups) + email; same customer_id "
        "as call_0001; event log out of seq order with a duplicate line; SRT transcript",
        turns=(
            Turn("agent", D),
            Turn("customer", f"{_spoken_digits(CARD_NUMBER, 4).capitalize()}. "
                 "Sarah dot lee at example dot com.", 0.3),
        ),
        tools={1: "replace_card"},
        shuffle_events=True,
        transcript="srt",
    ),
    CallSpec(
        call_id="call_0003",
        tenant="acme",
        started_at="2026-11-02T14:05:10Z",
        agent_id="agt_101",
        direction="inbound",
        recording="opt_out",
        training=True,
        customer_id="cust_003",
        intent="billing_dispute",
        outcome="resolved",
        covers="consent.recording = opt_out (training flag true: opt_out must still win); "
        "phone number",
        turns=(
            Turn("agent", D),
            Turn("customer", "Do not record me. My number is five five five, two three four, "
                 "nine eight seven six.", 0.5),
        ),
        tools={1: "schedule_callback"},
    ),
    CallSpec(
        call_id="call_0004",
        tenant="acme",
        started_at="2026-11-03T08:30:00Z",
        agent_id="agt_102",
        direction="inbound",
        recording="granted",
        training=False,
        customer_id="cust_004",
        channel_map=False,
        intent="billing_dispute",
        outcome="resolved",
        covers="consent.training = false; date of birth; no channel_map (default layout); "
        "asr error event",
        turns=(
            Turn("agent", D),
            Turn("customer", "I dispute a charge. Born the twelfth of July, nineteen seventy "
                 "nine.", 0.5),
        ),
        tools={1: "open_dispute"},
        errors=(ErrorEvent(1, "asr", "asr stream dropped for 800 ms; reconnected"),),
    ),
    CallSpec(
        call_id="call_0005",
        tenant="globex",
        started_at="2026-11-03T11:20:00Z",
        agent_id="agt_201",
        direction="inbound",
        recording="granted",
        training=True,
        customer_id="gbx_105",
        intent="update_address",
        outcome="resolved",
        covers="second tenant; name + street address; AWS Transcribe JSON transcript",
        turns=(
            Turn("agent", D),
            Turn("customer", "My name is John Carter. I moved to forty two Maple Street, "
                 "Springfield.", 0.5),
            Turn("agent", "Updated.", 0.4),
        ),
        tools={1: "update_address"},
        transcript="aws",
    ),
    CallSpec(
        call_id="call_0006",
        tenant="globex",
        started_at="2026-11-03T15:45:00Z",
        agent_id="agt_202",
        direction="inbound",
        recording="granted",
        training=True,
        intent="billing_dispute",
        outcome="escalated",
        covers="no PII and no disclosure phrase; customer asks for a manager "
        "(overlapping speech) and is transferred; telephony error event",
        turns=(
            Turn("agent", "Hello, how can I help you?"),
            Turn("customer", "I was charged twice.", 0.4),
            Turn("agent", "One charge is still pending.", 0.5),
            Turn("customer", "Let me speak to a manager.", -0.3),
            Turn("agent", "Transferring you now.", 0.4),
        ),
        tools={3: "transfer_to_supervisor"},
        errors=(ErrorEvent(4, "telephony", "SIP 503 on first transfer attempt; retried"),),
    ),
    CallSpec(
        call_id="call_0007",
        tenant="acme",
        started_at="2026-11-03T09:00:00Z",
        agent_id="agt_101",
        direction="outbound",
        recording="granted",
        training=True,
        customer_id="cust_007",
        intent="card_lost",
        outcome="resolved",
        covers="CORRUPT audio: RIFF/WAVE header with no fmt chunk, garbage body, truncated; "
        "valid sidecar",
        corrupt_audio=True,
        events=False,
    ),
    CallSpec(
        call_id="call_0008",
        tenant="acme",
        started_at="2026-11-02T16:10:00Z",
        agent_id=None,
        direction="inbound",
        recording="granted",
        training=True,
        customer_id="cust_008",
        intent="card_lost",
        outcome="resolved",
        covers="valid audio; sidecar MISSING the required agent_id (started_at present)",
        turns=(
            Turn("agent", D),
            Turn("customer", "I lost my card.", 0.5),
            Turn("agent", "I have blocked it.", 0.4),
        ),
        events=False,
    ),
    CallSpec(
        call_id="call_0009",
        tenant="acme",
        started_at="2026-11-03T13:25:00Z",
        agent_id="agt_103",
        direction="outbound",
        recording="granted",
        training=True,
        customer_id="cust_009",
        intent="update_address",
        outcome="resolved",
        covers="ordinary outbound call; a name",
        turns=(
            Turn("agent", D),
            Turn("customer", "Hi, this is Maria Gomez.", 0.5),
            Turn("agent", "Your address change is done.", 0.4),
        ),
        tools={1: "update_address"},
    ),
)


# --------------------------------------------------------------------------- tools


def ensure_tools(install: bool) -> dict[str, str]:
    """Make sure espeak-ng and sox exist (apt-get install them when allowed) and return
    their version strings."""
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        if not install:
            raise SampleGenerationError(
                f"missing tools {missing}; install with `apt-get install -y espeak-ng sox`"
            )
        if os.geteuid() != 0:
            raise SampleGenerationError(
                f"missing tools {missing} and not root; run `sudo apt-get install -y "
                "espeak-ng sox` first"
            )
        print(f"installing {missing} with apt-get ...", file=sys.stderr)
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(["apt-get", "install", "-y", "espeak-ng", "sox"], check=True)
    # first part only: espeak-ng also prints its (machine-specific) data folder
    espeak = _run(["espeak-ng", "--version"]).decode().strip().split("  ")[0]
    sox = " ".join(_run(["sox", "--version"]).decode().split()[1:])
    return {"espeak-ng": espeak, "sox": sox}


def _run(cmd: list[str]) -> bytes:
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")[:500]
        raise SampleGenerationError(f"{cmd[0]} failed (exit {proc.returncode}): {err}")
    return proc.stdout


# --------------------------------------------------------------------------- audio


def synthesize(text: str, voice: str, workdir: Path) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return mono float32 at 16 kHz, edges trimmed,
    long internal pauses shortened and the peak normalised to ``PEAK``."""
    raw_wav = workdir / "tts.wav"
    _run(["espeak-ng", "-v", voice, "-s", str(WPM), "-w", str(raw_wav), text])
    pcm = _run(
        ["sox", "-R", "-D", str(raw_wav), "-t", "raw", "-e", "floating-point", "-b", "32",
         "-c", "1", "-r", str(SAMPLE_RATE), "-"]
    )
    audio = np.frombuffer(pcm, dtype="<f4").astype(np.float32)
    if audio.size < SAMPLE_RATE * FRAME_S or not np.any(audio):
        raise SampleGenerationError(f"espeak-ng produced no audio for voice {voice}")
    return _normalise(_compress_silence(audio))


def _compress_silence(audio: np.ndarray) -> np.ndarray:
    frame = int(FRAME_S * SAMPLE_RATE)
    n = audio.size // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    voiced = rms >= SILENCE_REL * float(rms.max())
    idx = np.flatnonzero(voiced)
    first, last = int(idx[0]), int(idx[-1])
    pad = int(EDGE_PAD_S / FRAME_S)
    max_run = int(MAX_INTERNAL_SILENCE_S / FRAME_S)
    keep: list[np.ndarray] = []
    run: list[int] = []
    for f in range(max(0, first - pad), min(n, last + pad + 1)):
        if voiced[f] or f < first or f > last:
            if run:
                # keep the middle-most max_run frames of a long pause, centred
                excess = max(0, len(run) - max_run)
                kept = run[excess // 2 : len(run) - (excess - excess // 2)]
                keep.extend(audio[k * frame : (k + 1) * frame] for k in kept)
                run = []
            keep.append(audio[f * frame : (f + 1) * frame])
        else:
            run.append(f)
    return np.concatenate(keep)


def _normalise(audio: np.ndarray) -> np.ndarray:
    peak = float(np.abs(audio).max())
    return (audio * (PEAK / peak)).astype(np.float32) if peak > 0 else audio


@dataclass(frozen=True)
class PlacedTurn:
    """A turn placed on the call timeline (seconds)."""

    index: int
    speaker: str
    text: str
    start: float
    end: float


def render_call(spec: CallSpec, workdir: Path) -> tuple[bytes, list[PlacedTurn], float]:
    """Synthesise and mix a call; return (WAV bytes, placed turns, duration in s)."""
    clips: list[np.ndarray] = []
    for i, t in enumerate(spec.turns):
        try:
            clips.append(synthesize(t.text, VOICES[t.speaker], workdir))
        except SampleGenerationError as e:
            raise SampleGenerationError(f"{spec.call_id} turn {i}: {e}") from e
    placed: list[PlacedTurn] = []
    cursor = int(LEAD_IN_S * SAMPLE_RATE)
    starts: list[int] = []
    for i, (turn, clip) in enumerate(zip(spec.turns, clips, strict=True)):
        if i > 0:
            if turn.gap < 0 and spec.turns[i - 1].speaker == turn.speaker:
                raise SampleGenerationError(f"{spec.call_id} turn {i}: overlap on one channel")
            cursor += int(round(turn.gap * SAMPLE_RATE))
        starts.append(cursor)
        placed.append(
            PlacedTurn(i, turn.speaker, turn.text, round(cursor / SAMPLE_RATE, 3),
                       round((cursor + clip.size) / SAMPLE_RATE, 3))
        )
        cursor += clip.size
    total = max(s + c.size for s, c in zip(starts, clips)) + int(TAIL_S * SAMPLE_RATE)
    mix = np.zeros((total, 2), dtype=np.float32)
    for turn, start, clip in zip(spec.turns, starts, clips):
        mix[start : start + clip.size, CHANNEL_OF[turn.speaker]] += clip
    pcm = np.clip(np.round(mix * 32767.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue(), placed, round(total / SAMPLE_RATE, 3)


def corrupt_wav(call_id: str) -> bytes:
    """A 'WAV' whose RIFF header claims more data than exists and whose body is
    deterministic garbage (no fmt chunk): no decoder can read it."""
    garbage = b""
    block = call_id.encode()
    while len(garbage) < 2048:
        block = hashlib.sha256(block).digest()
        garbage += block
    return b"RIFF" + (1_000_000).to_bytes(4, "little") + b"WAVE" + b"junk" + garbage[:2000]


# --------------------------------------------------------------------------- text files


def sidecar(spec: CallSpec) -> dict[str, Any]:
    """The sidecar JSON object for a call (``agent_id`` omitted when it is None)."""
    d: dict[str, Any] = {"call_id": spec.call_id, "tenant": spec.tenant,
                         "started_at": spec.started_at}
    if spec.agent_id is not None:
        d["agent_id"] = spec.agent_id
    d["direction"] = spec.direction
    d["consent"] = {"recording": spec.recording, "training": spec.training}
    if spec.customer_id is not None:
        d["customer_id"] = spec.customer_id
    if spec.channel_map:
        d["channel_map"] = {"0": "agent", "1": "customer"}
    return d


def _iso(base: datetime, offset_s: float) -> str:
    t = base + timedelta(milliseconds=round(offset_s * 1000))
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _parse_z(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def events(spec: CallSpec, turns: list[PlacedTurn], duration: float) -> list[dict[str, Any]]:
    """The agent event log of a call, in seq order (before any shuffling). Timestamps
    follow the audio timeline and never go backwards; latencies come from an RNG seeded
    with the call id, so the log is the same on every run."""
    rng = random.Random(int(hashlib.sha256(spec.call_id.encode()).hexdigest()[:16], 16))
    base = _parse_z(spec.started_at)
    out: list[dict[str, Any]] = []
    clock = [0.0]

    def emit(offset: float, etype: str, payload: dict[str, Any]) -> None:
        clock[0] = max(offset, clock[0] + 0.001) if out else offset
        out.append({"trace_id": spec.call_id, "seq": len(out) + 1,
                    "ts": _iso(base, clock[0]), "type": etype, "payload": payload})

    started: dict[str, Any] = {"tenant": spec.tenant, "direction": spec.direction}
    if spec.agent_id:
        started["agent_id"] = spec.agent_id
    if spec.pii_in_events:
        started["caller_number"] = "+1 555 123 4567"
    emit(0.0, "call.started", started)
    errors = {e.after_turn: e for e in spec.errors}
    for t in turns:
        if t.speaker == "agent":
            tts = rng.randint(40, 100)
            emit(t.start, "tts.play", {"latency_ms": tts, "chars": len(t.text)})
        if t.index in errors:
            e = errors[t.index]
            emit(t.end + 0.02, "error", {"layer": e.layer, "message": e.message})
        if t.speaker == "customer":
            asr = rng.randint(60, 160)
            llm = rng.randint(120, 300)
            asr_payload: dict[str, Any] = {"latency_ms": asr, "speaker": "customer",
                                           "n_words": len(t.text.split()),
                                           "confidence": round(rng.uniform(0.82, 0.97), 2)}
            if spec.pii_in_events:
                asr_payload["utterance"] = t.text
            emit(t.end + asr / 1000, "asr.final", asr_payload)
            emit(clock[0] + llm / 1000, "llm.response",
                 {"latency_ms": llm, "tokens_out": rng.randint(12, 48)})
            if t.index in spec.tools:
                tool = rng.randint(30, 120)
                emit(clock[0] + tool / 1000, "tool.call",
                     {"latency_ms": tool, "tool": spec.tools[t.index], "status": "ok"})
    emit(duration, "call.ended", {"duration_s": duration, "outcome": spec.outcome})
    return out


def events_jsonl(spec: CallSpec, evs: list[dict[str, Any]]) -> str:
    """Serialise events, one JSON object per line. ``shuffle_events`` swaps neighbours
    (lines out of seq order) and appends an exact duplicate of seq 3."""
    lines = [json.dumps(e, ensure_ascii=False) for e in evs]
    if spec.shuffle_events:
        order = list(range(len(lines)))
        for i in range(0, len(order) - 1, 3):  # swap pairs (0,1), (3,4), ...
            order[i], order[i + 1] = order[i + 1], order[i]
        order.reverse()
        lines = [lines[i] for i in order] + [lines[2]]
    return "\n".join(lines) + "\n"


def _ts(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def webvtt(turns: list[PlacedTurn]) -> str:
    """WebVTT with ``<v Agent>`` / ``<v Customer>`` voice tags, one cue per turn."""
    parts = ["WEBVTT", ""]
    for t in turns:
        parts += [f"{_ts(t.start, '.')} --> {_ts(t.end, '.')}",
                  f"<v {t.speaker.capitalize()}>{t.text}</v>", ""]
    return "\n".join(parts)


def srt(turns: list[PlacedTurn]) -> str:
    """SRT with "Agent:" / "Customer:" speaker prefixes."""
    parts: list[str] = []
    for n, t in enumerate(turns, start=1):
        parts += [str(n), f"{_ts(t.start, ',')} --> {_ts(t.end, ',')}",
                  f"{t.speaker.capitalize()}: {t.text}", ""]
    return "\n".join(parts)


def _aws_items(t: PlacedTurn) -> list[dict[str, Any]]:
    """Word items for a turn: times spread over the turn by word length (espeak gives
    no word timings), trailing punctuation as separate punctuation items."""
    words = t.text.split()
    stripped = [w.rstrip(".,?!") for w in words]
    weights = [len(w) + 2 for w in stripped]
    span = t.end - t.start
    items: list[dict[str, Any]] = []
    cursor = t.start
    for word, core, weight in zip(words, stripped, weights):
        end = cursor + span * weight / sum(weights)
        items.append({"start_time": f"{cursor:.2f}", "end_time": f"{end:.2f}",
                      "alternatives": [{"confidence": "0.99", "content": core}],
                      "type": "pronunciation"})
        if core != word:
            items.append({"alternatives": [{"confidence": "0.0", "content": word[len(core):]}],
                          "type": "punctuation"})
        cursor = end
    return items


def aws_transcribe(spec: CallSpec, turns: list[PlacedTurn]) -> dict[str, Any]:
    """An Amazon Transcribe batch result with channel identification (ch_0 agent,
    ch_1 customer), shaped like real output: results.transcripts, channel_labels and a
    merged top-level items list."""
    per_channel: dict[str, list[dict[str, Any]]] = {"ch_0": [], "ch_1": []}
    for t in turns:
        per_channel[f"ch_{CHANNEL_OF[t.speaker]}"].extend(_aws_items(t))
    merged = [it for t in sorted(turns, key=lambda x: x.start) for it in _aws_items(t)]
    return {
        "jobName": f"{spec.tenant}-{spec.call_id}",
        "accountId": "XXXXXXXXXXXX",
        "results": {
            "transcripts": [{"transcript": " ".join(t.text for t in turns)}],
            "channel_labels": {
                "channels": [{"channel_label": k, "items": v} for k, v in per_channel.items()],
                "number_of_channels": 2,
            },
            "items": merged,
        },
        "status": "COMPLETED",
    }


# --------------------------------------------------------------------------- output


def _write(path: Path, data: bytes) -> None:
    """Atomically write ``data`` unless the file already holds exactly these bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def generate(out: Path, install: bool = True) -> dict[str, Any]:
    """Generate every sample under ``out`` and return the manifest that was written."""
    if not luhn_valid(CARD_NUMBER):
        raise SampleGenerationError("CARD_NUMBER fails the Luhn check")
    versions = ensure_tools(install)
    manifest: dict[str, Any] = {
        "generator": "scripts/generate_samples.py",
        "tools": versions,
        "voices": VOICES,
        "wpm": WPM,
        "sample_rate": SAMPLE_RATE,
        "calls": {},
    }
    labels: list[str] = []
    with tempfile.TemporaryDirectory(prefix="callforge_samples_") as tmp:
        workdir = Path(tmp)
        for spec in CALLS:
            rec = out / "recordings" / f"{spec.call_id}.wav"
            entry: dict[str, Any] = {"tenant": spec.tenant, "covers": spec.covers}
            if spec.corrupt_audio:
                _write(rec, corrupt_wav(spec.call_id))
                entry["duration_s"] = None
            else:
                wav, turns, duration = render_call(spec, workdir)
                _write(rec, wav)
                entry["duration_s"] = duration
                entry["turns"] = [
                    {"speaker": t.speaker, "start": t.start, "end": t.end, "text": t.text}
                    for t in turns
                ]
                if spec.events:
                    evs = events(spec, turns, duration)
                    _write(out / "events" / f"{spec.call_id}.jsonl",
                           events_jsonl(spec, evs).encode())
                if spec.transcript == "vtt":
                    _write(out / "transcripts" / f"{spec.call_id}.vtt", webvtt(turns).encode())
                elif spec.transcript == "srt":
                    _write(out / "transcripts" / f"{spec.call_id}.srt", srt(turns).encode())
                elif spec.transcript == "aws":
                    _write(out / "transcripts" / f"{spec.call_id}.aws.json",
                           _json_bytes(aws_transcribe(spec, turns)))
            _write(out / "recordings" / f"{spec.call_id}.json", _json_bytes(sidecar(spec)))
            labels.append(json.dumps({"call_id": spec.call_id, "intent": spec.intent,
                                      "outcome": spec.outcome}))
            manifest["calls"][spec.call_id] = entry
    _write(out / "labels.jsonl", ("\n".join(labels) + "\n").encode())
    _write(out / "manifest.json", _json_bytes(manifest))
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints per-call durations and the total size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--no-install", action="store_true",
                        help="fail instead of apt-get installing espeak-ng and sox")
    args = parser.parse_args(argv)
    try:
        manifest = generate(args.out, install=not args.no_install)
    except SampleGenerationError as e:
        print(f"generate_samples: {e}", file=sys.stderr)
        return 1
    for call_id, entry in manifest["calls"].items():
        print(f"{call_id}  {entry['tenant']:7s} duration_s={entry['duration_s']}")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"total bytes under {args.out}: {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
