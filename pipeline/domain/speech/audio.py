"""Audio decoding, probing and signal metrics for call recordings.

Any container/codec that the FFmpeg bundled with PyAV can read is accepted (WAV, FLAC,
MP3, OGG, 8-bit mu-law/A-law telephone WAV, 8-48 kHz, mono/stereo/multi-channel). The
original file is only ever opened for reading; decoding produces float32 arrays in
[-1, 1], one per channel, resampled to the requested rate.

Failures raise :class:`AudioError` whose ``reason`` is a machine-readable quarantine code.
Heavy libraries (numpy, av, faster_whisper) are imported lazily.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

AUDIO_DECODE_FAILED = "audio_decode_failed"
AUDIO_EMPTY = "audio_empty"
AUDIO_TOO_SHORT = "audio_too_short"
AUDIO_SILENT = "audio_silent"
REASONS = (AUDIO_DECODE_FAILED, AUDIO_EMPTY, AUDIO_TOO_SHORT, AUDIO_SILENT)

#: Samples at or above this magnitude count as clipped.
CLIP_LEVEL = 0.999
#: Floor used for dBFS values of digital silence (log of zero).
DBFS_FLOOR = -120.0
#: The Silero VAD inside faster-whisper runs at 16 kHz.
VAD_SAMPLE_RATE = 16000


class AudioError(ValueError):
    """Audio that cannot become a transcript.

    ``reason`` is one of :data:`REASONS` (a quarantine code); the message is for humans,
    names the file and never contains transcript text.
    """

    def __init__(self, reason: str, message: str, path: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown AudioError reason {reason!r}; expected one of {REASONS}")
        self.reason = reason
        self.path = path
        self.message = message
        super().__init__(f"{reason}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # keep reason/path when the error crosses a process boundary (transcribe_many)
        return (type(self), (self.reason, self.message, self.path))


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a recording (plus the decoded sample count)."""

    duration: float  # seconds, from decoded samples
    sample_rate: int
    channels: int
    codec: str  # e.g. pcm_s16le, pcm_mulaw, flac, mp3, vorbis
    format: str  # container, e.g. wav, flac, mp3, ogg
    samples: int = 0  # samples per channel at the native rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)


def _open_error(path: Path, exc: BaseException) -> AudioError:
    return AudioError(
        AUDIO_DECODE_FAILED,
        f"{path}: cannot decode audio ({type(exc).__name__}: {exc})",
        str(path),
    )


def _decode(path: str | Path, sr: int | None) -> tuple[AudioInfo, list[np.ndarray]]:
    """Decode ``path``; resample to ``sr`` and return channels, or only count samples
    when ``sr`` is None (then the channel list is empty)."""
    import av
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: audio file not found")
    if p.stat().st_size == 0:
        raise AudioError(AUDIO_EMPTY, f"{p}: file is 0 bytes", str(p))

    chunks: list[np.ndarray] = []
    samples = 0
    try:
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(AUDIO_DECODE_FAILED, f"{p}: no audio stream", str(p))
            stream = container.streams.audio[0]
            native_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
            n_channels = int(stream.codec_context.channels or 0)
            codec = stream.codec_context.name
            fmt = container.format.name.split(",")[0]
            if native_rate <= 0 or n_channels <= 0:
                raise AudioError(
                    AUDIO_DECODE_FAILED,
                    f"{p}: stream has no sample rate/channel count",
                    str(p),
                )
            resampler = None
            if sr is not None:
                resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=sr)
            bad_packets = 0
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    bad_packets += 1  # tolerate damaged packets, like faster-whisper
                    continue
                for frame in frames:
                    samples += frame.samples
                    if resampler is not None:
                        frame.pts = None
                        for out in resampler.resample(frame):
                            chunks.append(out.to_ndarray())
            if resampler is not None:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, EOFError, IndexError) as exc:
        raise _open_error(p, exc) from exc

    if samples == 0:
        if bad_packets:
            raise AudioError(
                AUDIO_DECODE_FAILED, f"{p}: all {bad_packets} audio packets are invalid", str(p)
            )
        raise AudioError(AUDIO_EMPTY, f"{p}: audio stream has 0 samples", str(p))

    info = AudioInfo(
        duration=samples / native_rate,
        sample_rate=native_rate,
        channels=n_channels,
        codec=codec,
        format=fmt,
        samples=samples,
    )
    if sr is None:
        return info, []
    data = np.concatenate(chunks, axis=1) if chunks else np.zeros((n_channels, 0), np.float32)
    if data.shape[0] != n_channels:  # pragma: no cover - defensive: layout mismatch
        raise AudioError(
            AUDIO_DECODE_FAILED,
            f"{p}: decoded {data.shape[0]} channels, stream declares {n_channels}",
            str(p),
        )
    channels = [np.ascontiguousarray(np.clip(c, -1.0, 1.0), dtype=np.float32) for c in data]
    return info, channels


def probe_audio(path: str | Path) -> AudioInfo:
    """Describe a recording (duration, native sample rate, channels, codec, container).

    The audio is decoded (not resampled) to count samples, so truncated or damaged files
    are caught here. Raises :class:`AudioError` (``audio_decode_failed`` for unreadable
    data, ``audio_empty`` for 0 samples) and ``FileNotFoundError`` for a missing path.
    """
    info, _ = _decode(path, None)
    return info


def decode_call(path: str | Path, sr: int = 16000) -> tuple[AudioInfo, list[np.ndarray]]:
    """Probe and decode in one pass: ``(AudioInfo, [float32 channel arrays at sr])``."""
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    return _decode(path, sr)


def load_channels(path: str | Path, sr: int = 16000) -> list[np.ndarray]:
    """Decode ``path`` to one float32 mono array per channel, resampled to ``sr``.

    The file is opened read-only and never modified. Raises like :func:`probe_audio`.
    """
    return decode_call(path, sr)[1]


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of a 1-D float array (identity when the rates match)."""
    import numpy as np

    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(int(sr_in), int(sr_out))
    return resample_poly(np.asarray(x, dtype=np.float32), sr_out // g, sr_in // g).astype(
        np.float32
    )


def _dbfs(power: float) -> float:
    return DBFS_FLOOR if power <= 1e-12 else max(DBFS_FLOOR, 10.0 * math.log10(power))


_VAD_WINDOW = 512  # samples per Silero VAD frame at 16 kHz (faster-whisper's)
_VAD_LOCK = threading.Lock()


def vad_probabilities(x16k: np.ndarray) -> np.ndarray:
    """Silero speech probabilities of a 16 kHz channel (one per 512-sample frame): the
    expensive half of VAD. Pass them to :func:`vad_timestamps` as often as needed."""
    import numpy as np
    from faster_whisper.vad import get_vad_model

    a = np.asarray(x16k, dtype=np.float32)
    padded = np.pad(a, (0, _VAD_WINDOW - a.shape[0] % _VAD_WINDOW))
    return get_vad_model()(padded)


def vad_timestamps(x16k: np.ndarray, options: Any, probs: np.ndarray | None = None) -> list[dict[str, int]]:
    """faster-whisper's ``get_speech_timestamps`` on a 16 kHz channel; with ``probs`` (from
    :func:`vad_probabilities` of the same array) the Silero model is not run again, so one
    pass serves several interval settings."""
    import faster_whisper.vad as fv

    if probs is None:
        return fv.get_speech_timestamps(x16k, vad_options=options, sampling_rate=VAD_SAMPLE_RATE)
    with _VAD_LOCK:  # the module's model getter is swapped for this call only
        original = fv.get_vad_model
        fv.get_vad_model = lambda: (lambda _padded: probs)
        try:
            return fv.get_speech_timestamps(x16k, vad_options=options, sampling_rate=VAD_SAMPLE_RATE)
        finally:
            fv.get_vad_model = original


def speech_timestamps(x: np.ndarray, sr: int = 16000, probs: np.ndarray | None = None) -> list[tuple[float, float]]:
    """Speech intervals in seconds from the Silero VAD shipped with faster-whisper.

    Tight settings (30 ms padding, 100 ms minimum silence) so the intervals measure speech,
    not the generous chunks faster-whisper feeds to the decoder. ``probs``: see
    :func:`vad_timestamps` (only for 16 kHz input).
    """
    import numpy as np
    from faster_whisper.vad import VadOptions

    y = resample(np.asarray(x, dtype=np.float32), sr, VAD_SAMPLE_RATE)
    if y.size == 0:
        return []
    opts = VadOptions(min_silence_duration_ms=100, speech_pad_ms=30)
    return [
        (c["start"] / VAD_SAMPLE_RATE, min(c["end"], y.size) / VAD_SAMPLE_RATE)
        for c in vad_timestamps(y, opts, probs if sr == VAD_SAMPLE_RATE else None)
    ]


def signal_metrics(x: np.ndarray, sr: int, vad: bool = True, vad_probs: np.ndarray | None = None) -> dict[str, Any]:
    """Signal-level quality of one channel.

    Returns ``duration`` (s), ``rms_dbfs``, ``peak_dbfs``, ``clipping_ratio`` (share of
    samples with ``|x| >= 0.999``), ``snr_db`` (estimate: 95th vs 10th percentile of
    20 ms frame energies, capped at 100), and with ``vad`` ``speech_ratio`` /
    ``speech_seconds`` / ``speech_intervals`` from the Silero VAD.
    """
    import numpy as np

    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"signal_metrics expects a 1-D channel, got shape {a.shape}")
    n = int(a.size)
    duration = n / sr
    out: dict[str, Any] = {"duration": round(duration, 4)}
    if n == 0:
        out.update(rms_dbfs=DBFS_FLOOR, peak_dbfs=DBFS_FLOOR, clipping_ratio=0.0, snr_db=0.0)
        if vad:
            out.update(speech_ratio=0.0, speech_seconds=0.0, speech_intervals=[])
        return out
    a64 = a.astype(np.float64)
    out["rms_dbfs"] = round(_dbfs(float(np.mean(a64 * a64))), 2)
    out["peak_dbfs"] = round(_dbfs(float(np.max(np.abs(a64))) ** 2), 2)
    out["clipping_ratio"] = round(float(np.mean(np.abs(a) >= CLIP_LEVEL)), 6)

    frame = max(1, int(0.02 * sr))
    n_frames = n // frame
    if n_frames >= 2:
        energies = np.mean(a64[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)
        noise = float(np.percentile(energies, 10))
        signal = float(np.percentile(energies, 95))
    else:
        noise = signal = float(np.mean(a64 * a64))
    if signal <= 1e-12:
        snr = 0.0  # digital silence: no signal at all
    elif noise <= 1e-12:
        snr = 100.0  # perfectly clean gaps
    else:
        snr = min(100.0, max(0.0, 10.0 * math.log10(signal / noise)))
    out["snr_db"] = round(snr, 2)

    if vad:
        intervals = speech_timestamps(a, sr, vad_probs)
        speech = sum(e - s for s, e in intervals)
        out["speech_seconds"] = round(speech, 3)
        out["speech_ratio"] = round(min(1.0, speech / duration), 4) if duration else 0.0
        out["speech_intervals"] = [[round(s, 3), round(e, 3)] for s, e in intervals]
    return out
