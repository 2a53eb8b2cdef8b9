"""Audio decoding, probing and signal metrics (no ASR model needed; VAD is Silero ONNX)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.domain.speech.audio import (
    AUDIO_DECODE_FAILED,
    AUDIO_EMPTY,
    DBFS_FLOOR,
    AudioError,
    decode_call,
    load_channels,
    probe_audio,
    resample,
    signal_metrics,
)

STEREO = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "stereo_diarization.wav"


@pytest.fixture(scope="module")
def stereo_pcm() -> np.ndarray:
    data, sr = sf.read(STEREO, dtype="float32")
    assert sr == 16000 and data.shape[1] == 2
    return data


def test_probe_stereo_fixture() -> None:
    info = probe_audio(STEREO)
    assert info.duration == pytest.approx(5.0)
    assert (info.sample_rate, info.channels, info.codec, info.format, info.samples) == (
        16000,
        2,
        "pcm_s16le",
        "wav",
        80000,
    )
    assert info.to_dict()["channels"] == 2


def test_load_channels_is_exact_and_never_touches_the_file(stereo_pcm: np.ndarray) -> None:
    before = hashlib.sha256(STEREO.read_bytes()).hexdigest()
    mtime = STEREO.stat().st_mtime_ns
    chans = load_channels(STEREO)
    assert len(chans) == 2
    for i, ch in enumerate(chans):
        assert ch.dtype == np.float32 and ch.ndim == 1 and ch.size == 80000
        np.testing.assert_allclose(ch, stereo_pcm[:, i], atol=1e-6)
    assert hashlib.sha256(STEREO.read_bytes()).hexdigest() == before
    assert STEREO.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("name", "rate", "subtype", "codec", "fmt", "min_corr"),
    [
        ("mulaw.wav", 8000, "ULAW", "pcm_mulaw", "wav", 0.97),
        ("alaw.wav", 8000, "ALAW", "pcm_alaw", "wav", 0.97),
        ("u8.wav", 11025, "PCM_U8", "pcm_u8", "wav", 0.97),
        ("cd.flac", 44100, None, "flac", "flac", 0.99),
        ("hi.ogg", 48000, "VORBIS", "vorbis", "ogg", 0.9),
        ("mid.mp3", 22050, "MPEG_LAYER_III", "mp3", "mp3", 0.8),
    ],
)
def test_any_call_audio_decodes_to_16k_channels(
    tmp_path: Path,
    stereo_pcm: np.ndarray,
    name: str,
    rate: int,
    subtype: str | None,
    codec: str,
    fmt: str,
    min_corr: float,
) -> None:
    from scipy.signal import resample_poly

    path = tmp_path / name
    sf.write(path, resample_poly(stereo_pcm, rate, 16000, axis=0), rate, subtype=subtype)
    info = probe_audio(path)
    assert info.sample_rate == rate and info.channels == 2 and info.format == fmt
    assert info.codec.startswith(codec)  # mp3 decodes as "mp3float"
    assert info.duration == pytest.approx(5.0, abs=0.1)
    chans = load_channels(path, sr=16000)
    assert len(chans) == 2
    for i, ch in enumerate(chans):
        assert ch.dtype == np.float32
        assert abs(ch.size - 80000) < 0.05 * 80000
        assert float(np.max(np.abs(ch))) <= 1.0
        # the content survives: correlate with the original after aligning (mp3 delay)
        n = min(ch.size, 80000)
        ref = stereo_pcm[:n, i]
        corr = max(
            float(np.corrcoef(ch[lag : lag + n - 3000], ref[: n - 3000])[0, 1])
            for lag in range(0, 2400, 8)
        )
        assert corr > min_corr, (name, i, corr)


def test_mono_and_other_rates(tmp_path: Path, stereo_pcm: np.ndarray) -> None:
    path = tmp_path / "mono.wav"
    sf.write(path, stereo_pcm[:, 0], 16000)
    info, chans = decode_call(path, sr=8000)
    assert info.channels == 1 and len(chans) == 1
    assert chans[0].size == 40000


def test_garbage_is_decode_failed(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 8)
    with pytest.raises(AudioError) as ei:
        probe_audio(bad)
    assert ei.value.reason == AUDIO_DECODE_FAILED
    assert "corrupt.wav" in str(ei.value)
    with pytest.raises(AudioError) as ei:
        load_channels(bad)
    assert ei.value.reason == AUDIO_DECODE_FAILED


def test_text_file_is_decode_failed(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp3"
    bad.write_text("this is not audio at all\n" * 50)
    with pytest.raises(AudioError) as ei:
        probe_audio(bad)
    assert ei.value.reason == AUDIO_DECODE_FAILED


def test_zero_byte_file_is_empty(tmp_path: Path) -> None:
    p = tmp_path / "zero.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError) as ei:
        probe_audio(p)
    assert ei.value.reason == AUDIO_EMPTY


def test_header_only_wav_is_empty(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros((0, 2), np.float32), 16000)
    assert p.stat().st_size > 0
    with pytest.raises(AudioError) as ei:
        load_channels(p)
    assert ei.value.reason == AUDIO_EMPTY
    assert "0 samples" in str(ei.value)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        probe_audio(tmp_path / "nope.wav")


def test_bad_sample_rate_rejected() -> None:
    with pytest.raises(ValueError, match="sample rate"):
        decode_call(STEREO, sr=0)


def test_audio_error_reason_is_validated_and_pickles() -> None:
    with pytest.raises(ValueError, match="unknown AudioError reason"):
        AudioError("whatever", "x")
    e = AudioError(AUDIO_EMPTY, "f.wav: empty", "f.wav")
    e2 = pickle.loads(pickle.dumps(e))
    assert isinstance(e2, AudioError) and isinstance(e2, ValueError)
    assert (e2.reason, e2.path, str(e2)) == (e.reason, e.path, str(e))


def test_resample_lengths() -> None:
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert resample(x, 16000, 16000) is not None and resample(x, 16000, 16000).size == 16000
    assert resample(x, 16000, 8000).size == 8000
    assert resample(x, 16000, 44100).size == 44100


# ------------------------------------------------------------------ signal metrics


def test_metrics_of_digital_silence() -> None:
    m = signal_metrics(np.zeros(32000, np.float32), 16000)
    assert m["duration"] == 2.0
    assert m["rms_dbfs"] == DBFS_FLOOR
    assert m["speech_ratio"] == 0.0 and m["speech_intervals"] == []
    assert m["clipping_ratio"] == 0.0 and m["snr_db"] == 0.0


def test_metrics_rms_and_clipping() -> None:
    t = np.arange(16000) / 16000
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    m = signal_metrics(sine, 16000, vad=False)
    assert m["rms_dbfs"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert m["clipping_ratio"] == 0.0
    assert "speech_ratio" not in m
    clipped = np.clip(sine * 4, -1, 1)
    assert signal_metrics(clipped, 16000, vad=False)["clipping_ratio"] > 0.5


def test_metrics_snr_estimate() -> None:
    rng = np.random.default_rng(1)
    sr = 16000
    noise = 0.001 * rng.standard_normal(4 * sr)  # -60 dBFS floor
    x = noise.copy()
    t = np.arange(sr) / sr
    x[sr : 2 * sr] += 0.1 * np.sqrt(2) * np.sin(2 * np.pi * 300 * t)  # -20 dBFS burst
    m = signal_metrics(x.astype(np.float32), sr, vad=False)
    assert m["snr_db"] == pytest.approx(40.0, abs=3.0)


def test_metrics_speech_ratio_on_real_speech(stereo_pcm: np.ndarray) -> None:
    left = signal_metrics(stereo_pcm[:, 0], 16000)
    right = signal_metrics(stereo_pcm[:, 1], 16000)
    # left speaks ~4.6 s of 5 s, right ~2.3 s
    assert 0.75 < left["speech_ratio"] <= 1.0
    assert 0.3 < right["speech_ratio"] < 0.65
    assert right["speech_intervals"][0][0] < 0.6
    # VAD works at other rates too (resampled to 16 kHz internally)
    from scipy.signal import resample_poly

    r8 = signal_metrics(resample_poly(stereo_pcm[:, 1], 1, 2).astype(np.float32), 8000)
    assert abs(r8["speech_ratio"] - right["speech_ratio"]) < 0.1


@pytest.mark.parametrize("bad", [np.zeros((2, 100), np.float32), "sr0"])
def test_metrics_bad_input(bad: object) -> None:
    with pytest.raises(ValueError):
        if isinstance(bad, str):
            signal_metrics(np.zeros(10, np.float32), 0)
        else:
            signal_metrics(bad, 16000)  # type: ignore[arg-type]


def test_one_vad_pass_serves_every_interval_setting(stereo_pcm: np.ndarray) -> None:
    """The Silero model runs once per channel: intervals derived from its probabilities
    equal faster-whisper's own, for the metrics' tight settings and the decoder's clips."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from pipeline.domain.speech.audio import speech_timestamps, vad_probabilities, vad_timestamps

    x = np.ascontiguousarray(np.tile(stereo_pcm[:, 0], 3))
    probs = vad_probabilities(x)
    for opts in (VadOptions(max_speech_duration_s=28.5, min_silence_duration_ms=160),
                 VadOptions(min_silence_duration_ms=100, speech_pad_ms=30)):
        assert vad_timestamps(x, opts, probs) == get_speech_timestamps(x, opts) != []
    assert speech_timestamps(x, 16000, probs) == speech_timestamps(x, 16000)
    # the library's own model getter is restored afterwards
    import faster_whisper.vad as fv

    assert fv.get_vad_model.__name__ == "get_vad_model"
