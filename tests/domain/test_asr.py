"""Real transcription with the packaged tiny.en model (loaded once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.domain.core.models import Segment, Transcript
from pipeline.domain.speech.asr import AsrConfig, AsrEngine, get_engine, resolve_model_path, transcribe_many
from pipeline.domain.speech.audio import (
    AUDIO_DECODE_FAILED,
    AUDIO_EMPTY,
    AUDIO_SILENT,
    AUDIO_TOO_SHORT,
    AudioError,
)
from pipeline.domain.speech.quality import quality_gate, wer_cer

for _k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_k, "1")

STEREO = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "stereo_diarization.wav"
LEFT = (
    "He began a confused complaint against the wizard, who had vanished behind the "
    "curtain on the left."
)
RIGHT = "The horizon seems extremely distant."


@pytest.fixture(scope="session")
def engine() -> AsrEngine:
    # the cached engine, so transcribe_many(workers=1) reuses the same loaded model
    return get_engine(AsrConfig())


@pytest.fixture(scope="session")
def stereo_transcript(engine: AsrEngine) -> Transcript:
    return engine.transcribe_call(STEREO, call_id="call-stereo")


@pytest.fixture(scope="module")
def pcm() -> np.ndarray:
    data, _ = sf.read(STEREO, dtype="float32")
    return data


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_audio")
    corrupt = d / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + os.urandom(2000))
    empty = d / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), 16000)
    silent = d / "silent.wav"
    sf.write(silent, np.zeros((32000, 2), np.float32), 16000)
    short = d / "short.wav"
    data, _ = sf.read(STEREO, dtype="float32")
    sf.write(short, data[16000 : 16000 + 3200], 16000)  # 0.2 s of speech
    return {"corrupt": corrupt, "empty": empty, "silent": silent, "short": short}


EXPECTED_REASON = {
    "corrupt": AUDIO_DECODE_FAILED,
    "empty": AUDIO_EMPTY,
    "silent": AUDIO_SILENT,
    "short": AUDIO_TOO_SHORT,
}


def _channel_text(t: Transcript, speaker: str) -> str:
    return " ".join(s.text for s in t.segments if s.speaker == speaker)


def test_stereo_channels_match_references(stereo_transcript: Transcript) -> None:
    t = stereo_transcript
    assert t.source_format == "asr" and t.diarised and t.call_id == "call-stereo"
    assert t.duration == pytest.approx(5.0) and t.language == "en"
    assert wer_cer(LEFT, _channel_text(t, "agent"))["wer"] <= 0.15
    assert wer_cer(RIGHT, _channel_text(t, "customer"))["wer"] <= 0.15
    assert {s.channel for s in t.segments if s.speaker == "agent"} == {0}
    assert {s.channel for s in t.segments if s.speaker == "customer"} == {1}
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)


def test_stereo_words_and_segment_scores(stereo_transcript: Transcript) -> None:
    for s in stereo_transcript.segments:
        assert s.avg_logprob is not None and -1.0 < s.avg_logprob <= 0
        assert s.no_speech_prob is not None and 0 <= s.no_speech_prob < 0.5
        assert s.compression_ratio is not None and s.compression_ratio > 0
        assert s.words, "word timestamps expected"
        for w in s.words:
            assert 0 <= w.start <= w.end <= 5.0
            assert w.probability is not None and 0 <= w.probability <= 1
            assert s.start - 0.05 <= w.start and w.end <= s.end + 0.05
    # a dict round-trip keeps everything (JSON-safe)
    again = Transcript.from_dict(stereo_transcript.to_dict())
    assert again.segments == stereo_transcript.segments


def test_stereo_quality_filled_and_passes_gate(stereo_transcript: Transcript) -> None:
    q = stereo_transcript.quality
    assert q["duration"] == pytest.approx(5.0)
    assert 0.8 < q["speech_ratio"] <= 1.0  # union over both channels
    assert q["word_count"] == sum(len(s.words) for s in stereo_transcript.segments) > 15
    assert len(q["channels"]) == 2 and q["dual_mono"] is False
    assert q["audio"]["codec"] == "pcm_s16le" and q["asr"]["compute_type"] == "int8"
    assert "speech_intervals" not in q["channels"][0]
    assert quality_gate(q) == []


def test_channel_map_swaps_speakers(engine: AsrEngine, tmp_path: Path, pcm: np.ndarray) -> None:
    # channel map from a sidecar (JSON keys are strings); 8 kHz mu-law telephone audio
    from scipy.signal import resample_poly

    path = tmp_path / "ulaw8k.wav"
    sf.write(path, resample_poly(pcm, 1, 2, axis=0), 8000, subtype="ULAW")
    t = engine.transcribe_call(path, channel_map={"0": "customer", "1": "agent"})
    assert t.quality["audio"]["codec"] == "pcm_mulaw" and t.quality["audio"]["sample_rate"] == 8000
    assert wer_cer(LEFT, _channel_text(t, "customer"))["wer"] <= 0.2
    assert wer_cer(RIGHT, _channel_text(t, "agent"))["wer"] <= 0.2


@pytest.fixture(scope="module")
def mono_call(tmp_path_factory: pytest.TempPathFactory, pcm: np.ndarray) -> tuple[Path, Path]:
    """Left speech (0-4.7 s), a 1 s pause, then right speech: ~8.2 s, one voice track."""
    gap = np.zeros(16000, np.float32)
    mono = np.concatenate([pcm[: int(4.7 * 16000), 0], gap, pcm[: int(2.5 * 16000), 1]])
    d = tmp_path_factory.mktemp("mono")
    mono_path = d / "mono.wav"
    sf.write(mono_path, mono, 16000)
    dual_path = d / "dual_mono.wav"  # the same signal on both channels
    sf.write(dual_path, np.stack([mono, mono], axis=1), 16000)
    return mono_path, dual_path


def test_mono_with_imported_speakers(engine: AsrEngine, mono_call: tuple[Path, Path]) -> None:
    imported = Transcript(
        source_format="webvtt",
        segments=[
            Segment("agent", 0.0, 4.7, LEFT),
            Segment("customer", 5.7, 8.2, RIGHT),
        ],
    )
    t = engine.transcribe_call(mono_call[0], imported=imported, call_id="m1")
    assert t.diarised is True
    assert {s.speaker for s in t.segments} == {"agent", "customer"}
    assert wer_cer(LEFT, _channel_text(t, "agent"))["wer"] <= 0.15
    assert wer_cer(RIGHT, _channel_text(t, "customer"))["wer"] <= 0.15
    assert all(s.start >= 5.0 for s in t.segments if s.speaker == "customer")
    # the imported human transcript serves as a WER reference
    assert t.quality["wer"] <= 0.15 and t.quality["reference_source"] == "webvtt"


def test_mono_without_import_is_undiarised_and_dual_mono_is_mono(
    engine: AsrEngine, mono_call: tuple[Path, Path]
) -> None:
    t = engine.transcribe_call(mono_call[1])  # stereo file, identical channels
    assert t.quality["dual_mono"] is True and len(t.quality["channels"]) == 1
    assert t.diarised is False
    assert {s.speaker for s in t.segments} == {"speaker"}
    assert wer_cer(LEFT + " " + RIGHT, t.text)["wer"] <= 0.15  # not transcribed twice


@pytest.mark.parametrize("name", sorted(EXPECTED_REASON))
def test_bad_audio_raises_with_reason(
    engine: AsrEngine, bad_files: dict[str, Path], name: str
) -> None:
    with pytest.raises(AudioError) as ei:
        engine.transcribe_call(bad_files[name])
    assert ei.value.reason == EXPECTED_REASON[name]
    assert bad_files[name].name in str(ei.value)


def test_noise_is_not_silent(engine: AsrEngine, tmp_path: Path) -> None:
    """Loud non-speech is transcribed (and later gated), not called silent."""
    noise = (0.05 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    p = tmp_path / "noise.wav"
    sf.write(p, noise, 16000)
    t = engine.transcribe_call(p)
    assert t.quality["speech_ratio"] < 0.05
    assert "low_speech_ratio" in quality_gate(t.quality)


def test_transcribe_array(engine: AsrEngine, pcm: np.ndarray) -> None:
    segs, info = engine.transcribe_array(pcm[:, 1], sr=16000)
    assert wer_cer(RIGHT, " ".join(s["text"] for s in segs))["wer"] <= 0.15
    assert info["duration"] == pytest.approx(5.0)
    assert set(segs[0]) >= {"start", "end", "text", "avg_logprob", "no_speech_prob", "words"}
    assert engine.transcribe_array(np.zeros(0, np.float32))[0] == []
    with pytest.raises(ValueError, match="1-D"):
        engine.transcribe_array(pcm)


def test_transcribe_many_goes_on_past_bad_files(
    engine: AsrEngine, bad_files: dict[str, Path]
) -> None:
    jobs = [(n, str(p), None) for n, p in bad_files.items()]
    jobs.insert(2, ("good", str(STEREO), {0: "agent", 1: "customer"}))
    progress: list[tuple[int, int]] = []
    results = dict(transcribe_many(jobs, AsrConfig(), workers=1,
                                   on_progress=lambda d, t: progress.append((d, t))))
    assert set(results) == {"good", *bad_files}
    assert isinstance(results["good"], Transcript) and results["good"].call_id == "good"
    assert wer_cer(RIGHT, _channel_text(results["good"], "customer"))["wer"] <= 0.15
    for name, reason in EXPECTED_REASON.items():
        assert isinstance(results[name], AudioError) and results[name].reason == reason
    assert progress == [(i, 5) for i in range(1, 6)]
    assert engine.loaded  # the shared engine did the work (no second model load)


def test_transcribe_many_process_pool(bad_files: dict[str, Path]) -> None:
    """Two spawned workers, one engine each; errors cross the process boundary intact."""
    jobs = [
        ("corrupt", str(bad_files["corrupt"]), None),
        ("good", str(STEREO), {"0": "agent", "1": "customer"}),
        ("silent", str(bad_files["silent"]), None),
        ("missing", "/nonexistent/call.wav", None),
    ]
    results = dict(transcribe_many(jobs, AsrConfig(workers=2)))
    assert set(results) == {"corrupt", "good", "silent", "missing"}
    assert isinstance(results["good"], Transcript)
    assert wer_cer(LEFT, _channel_text(results["good"], "agent"))["wer"] <= 0.15
    assert results["corrupt"].reason == AUDIO_DECODE_FAILED
    assert results["silent"].reason == AUDIO_SILENT
    assert isinstance(results["missing"], FileNotFoundError)


def test_bad_jobs_and_config_fail_fast(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="job must be"):
        list(transcribe_many([("only-an-id",)]))
    with pytest.raises(ValueError, match="workers"):
        list(transcribe_many([], workers=0))
    with pytest.raises(FileNotFoundError, match="model folder"):
        list(transcribe_many([("a", str(STEREO), None)], AsrConfig(model_path=str(tmp_path / "x"))))
    with pytest.raises(ValueError, match="beam_size"):
        AsrConfig(beam_size=0)
    with pytest.raises(ValueError, match="channel_map key"):
        AsrEngine().transcribe_call(STEREO, channel_map={"left": "agent"})
    assert Path(resolve_model_path(AsrConfig())).is_dir()


def test_engine_loads_lazily_once(engine: AsrEngine) -> None:
    assert not AsrEngine(AsrConfig()).loaded  # constructing never loads the model
    m = engine.model
    engine.load()
    assert engine.loaded and engine.model is m  # loaded once, reused
    assert get_engine(AsrConfig()) is engine


def test_per_channel_path_matches_packed(engine: AsrEngine, stereo_transcript: Transcript) -> None:
    """pack_speech=False decodes each channel on its own: same words, same speakers."""
    from dataclasses import replace

    per_channel = AsrEngine(replace(engine.config, pack_speech=False))
    per_channel._model = engine.model  # share the already-loaded real model (saves a load)
    t = per_channel.transcribe_call(STEREO)
    for speaker in ("agent", "customer"):
        assert wer_cer(_channel_text(stereo_transcript, speaker), _channel_text(t, speaker))[
            "wer"
        ] <= 0.1
    assert t.quality["word_count"] == pytest.approx(stereo_transcript.quality["word_count"], abs=2)


def test_unpack_maps_words_back_to_channel_and_time() -> None:
    from pipeline.domain.speech.asr import _speech_chunks, _unpack_segments

    # packed 0-2 s is channel 0 at 10-12 s; packed 2.2-4.2 s is channel 1 at 11-13 s
    spans = [(0.0, 2.0, 0, 10.0, 12.0), (2.2, 4.2, 1, 11.0, 13.0)]
    seg = {
        "start": 0.4, "end": 3.0, "text": "yes hello there", "avg_logprob": -0.2,
        "words": [
            {"word": "yes", "start": 0.4, "end": 0.8, "probability": 0.9},
            {"word": "hello", "start": 1.9, "end": 2.1, "probability": 0.8},  # in the gap
            {"word": "there", "start": 2.5, "end": 3.0, "probability": 0.7},
        ],
    }
    parts = _unpack_segments([seg], spans)
    assert [(ch, p["text"]) for ch, p in parts] == [(0, "yes hello"), (1, "there")]
    assert (parts[0][1]["start"], parts[0][1]["end"]) == (10.4, 12.0)  # clamped to chunk
    assert (parts[1][1]["start"], parts[1][1]["end"]) == (11.3, 11.8)
    assert parts[1][1]["avg_logprob"] == -0.2

    metrics = [
        {"speech_intervals": [[1.0, 2.0], [2.5, 3.0], [9.0, 9.5]]},
        {"speech_intervals": [[4.0, 5.0]]},
    ]
    chunks = _speech_chunks(metrics, duration=9.6)
    assert chunks == [(0, 0.75, 3.25), (1, 3.75, 5.25), (0, 8.75, 9.6)]


def test_transcription_is_deterministic(engine: AsrEngine) -> None:
    """Regression: temperature-fallback sampling made samples/call_0002 come out different
    on every run (once with a hallucinated repetition that tripped the quality gate)."""
    path = Path(__file__).resolve().parents[2] / "samples" / "recordings" / "call_0002.wav"
    first = engine.transcribe_call(path)
    second = engine.transcribe_call(path)
    assert [(s.speaker, s.text) for s in first.segments] == [(s.speaker, s.text) for s in second.segments]
    assert {s.speaker for s in first.segments} == {"agent", "customer"}


def test_batched_matches_sequential_decoder(engine: AsrEngine, stereo_transcript: Transcript) -> None:
    """batch_size=1 is faster-whisper's sequential decoder; the batched default must give the
    same words per channel and word times within a few hundredths of a second."""
    from dataclasses import replace

    assert engine.config.batch_size > 1  # the default path is the batched one
    seq = AsrEngine(replace(engine.config, batch_size=1))
    seq._model = engine.model
    t = seq.transcribe_call(STEREO)
    for speaker in ("agent", "customer"):
        assert wer_cer(_channel_text(t, speaker), _channel_text(stereo_transcript, speaker))["wer"] <= 0.1
    a = [(w.word, w.start) for s in t.segments for w in s.words]
    b = [(w.word, w.start) for s in stereo_transcript.segments for w in s.words]
    deltas = [abs(x[1] - y[1]) for x, y in zip(a, b) if x[0] == y[0]]
    assert deltas and sorted(deltas)[len(deltas) // 2] <= 0.05


def test_batched_first_word_after_pause_starts_at_speech_onset(engine: AsrEngine) -> None:
    """Regression: Whisper's word-timing heuristics cut the long first word after a pause
    ("4532," spoken as four digits) to start ~0.9 s late, which would leave the start of a
    card number audible in redacted audio. The first word must start at the VAD onset and
    must not depend on the call transcribed before it."""
    from pipeline.domain.speech.asr import _vad_intervals
    from pipeline.domain.speech.audio import decode_call

    path = Path(__file__).resolve().parents[2] / "samples" / "recordings" / "call_0002.wav"
    _, chans = decode_call(path, 16000)
    onset = _vad_intervals(chans[1], engine.config.clip_seconds)[0][0] / 16000
    engine.transcribe_call(STEREO)  # another call first: no state may leak into the next
    t = engine.transcribe_call(path)
    first = min((w for s in t.segments if s.speaker == "customer" for w in s.words), key=lambda w: w.start)
    assert first.start <= onset + 0.05


def test_clip_groups_pack_one_channel_up_to_the_limit() -> None:
    from pipeline.domain.speech.asr import _clip_groups

    sr = 16000
    iv = [(0, 10 * sr), (12 * sr, 22 * sr), (25 * sr, 31 * sr), (40 * sr, 70 * sr)]
    groups = _clip_groups(iv, max_seconds=28.5, gap_s=0.2)
    assert groups == [[iv[0], iv[1], iv[2]], [iv[3]]]  # 10+0.2+10+0.2+6 = 26.4 s fits
    assert _clip_groups([], 28.5, 0.2) == []
    with pytest.raises(ValueError, match="clip_seconds"):
        AsrConfig(clip_seconds=45)


def test_mixed_clips_keep_each_piece_with_its_channel(engine: AsrEngine, stereo_transcript: Transcript) -> None:
    """mix_channels: both sides' pieces share a clip in conversation order, and every
    word still lands under the channel its piece came from (same words as one channel
    per clip)."""
    from pipeline.domain.speech.asr import _clip_groups

    sr = 16000
    pieces = sorted([(0, 2 * sr, 0), (3 * sr, 5 * sr, 0), (1 * sr, 4 * sr, 1)])
    assert _clip_groups(pieces, 28.5, 0.2) == [[(0, 2 * sr, 0), (1 * sr, 4 * sr, 1), (3 * sr, 5 * sr, 0)]]
    assert engine.config.mix_channels is True  # the default
    separate = AsrEngine(AsrConfig(mix_channels=False))
    separate._model = engine.model
    t = separate.transcribe_call(STEREO)
    for speaker in ("agent", "customer"):
        assert _channel_text(t, speaker) == _channel_text(stereo_transcript, speaker)


# ------------------------------------------------------------------ one voice, one speaker
def _words_of(t: Transcript) -> list[str]:
    return [w.word.strip(".,").lower() for s in t.segments for w in s.words]


@pytest.mark.parametrize("rate,subtype", [(16000, "PCM_16"), (8000, "PCM_U8"), (44100, "FLOAT")])
def test_dual_mono_with_a_perturbed_channel_is_transcribed_once(
    engine: AsrEngine, tmp_path: Path, pcm: np.ndarray, rate: int, subtype: str
) -> None:
    """A mono recording saved as stereo whose second channel went through noise (-30 dB)
    is one voice: detected on the decoded audio at any bit depth / rate, each word once."""
    from scipy.signal import resample_poly

    left = pcm[:, 0]
    noise = np.random.default_rng(0).standard_normal(left.size).astype(np.float32)
    noise *= np.sqrt(np.mean(left**2) / np.mean(noise**2)) * 10 ** (-30 / 20)
    stereo = np.stack([left, np.clip(left + noise, -1, 1)], axis=1)
    if rate != 16000:
        stereo = resample_poly(stereo, rate, 16000, axis=0).astype(np.float32)
    path = tmp_path / f"dual_{rate}.wav"
    sf.write(path, np.clip(stereo, -1, 1), rate, subtype=subtype)
    t = engine.transcribe_call(path)
    assert t.quality["dual_mono"] is True
    words = _words_of(t)
    assert words.count("wizard") == 1 and words.count("curtain") == 1
    assert wer_cer(LEFT, t.text)["wer"] < 0.2


def test_true_stereo_is_not_dual_mono() -> None:
    from pipeline.domain.speech.channels import channel_similarity, is_dual_mono

    data, _ = sf.read(STEREO, dtype="float32")
    assert not is_dual_mono([data[:, 0], data[:, 1]])
    sim = channel_similarity(data[:, 0], data[:, 1])
    assert abs(sim["correlation"]) < 0.5
    # half the level, same signal: still one voice
    assert is_dual_mono([data[:, 0], 0.6 * data[:, 0]])


def test_bleed_is_dropped_from_the_quieter_channel(engine: AsrEngine, tmp_path: Path, pcm: np.ndarray) -> None:
    """The agent's voice leaks into the customer channel at -15 dB while the customer is
    silent: the echo words go, each word stays under its true speaker."""
    left, right = pcm[:, 0], pcm[:, 1]
    n = left.size
    agent = np.concatenate([left, np.zeros(n, np.float32)])
    customer = np.concatenate([np.zeros(n, np.float32), right]) + agent * 10 ** (-15 / 20)
    path = tmp_path / "bleed.wav"
    sf.write(path, np.stack([agent, customer], axis=1), 16000)
    t = engine.transcribe_call(path)
    assert t.quality["bleed_words"] > 5  # the echo was transcribed, and dropped
    assert wer_cer(LEFT, _channel_text(t, "agent"))["wer"] < 0.2
    assert wer_cer(RIGHT, _channel_text(t, "customer"))["wer"] < 0.2
    assert "wizard" not in _channel_text(t, "customer").lower()


# ------------------------------------------------------------------ nothing said is lost
class _DropsLastClip(AsrEngine):
    """The batched decoder losing a channel's last speech (the failure seen in the wild)."""

    def __init__(self, config: AsrConfig, also_sequential: bool = False) -> None:
        super().__init__(config)
        self._model = engine_model()
        self.also_sequential = also_sequential

    def _transcribe_batched(self, chans, probs=None):
        found, info = super()._transcribe_batched(chans, probs)
        last = max((i for i, (ch, _) in enumerate(found) if ch == 0), default=None)
        return [f for i, f in enumerate(found) if i != last], info

    def _sequential(self, audio):
        segs = super()._sequential(audio)
        return segs[:-1] if self.also_sequential else segs


def engine_model():
    return get_engine(AsrConfig()).model


def _two_turn_call(tmp_path: Path, pcm: np.ndarray) -> Path:
    left = pcm[:, 0]
    gap = np.zeros(16000, np.float32)
    agent = np.concatenate([left, gap, left])  # the same sentence twice on the agent side
    customer = np.zeros_like(agent)
    customer[left.size: left.size + pcm[:, 1].size] = pcm[:, 1]
    path = tmp_path / "two_turns.wav"
    sf.write(path, np.stack([agent, customer], axis=1), 16000)
    return path


def test_dropped_last_clip_is_noticed_and_redecoded(tmp_path: Path, pcm: np.ndarray) -> None:
    path = _two_turn_call(tmp_path, pcm)
    t = _DropsLastClip(AsrConfig()).transcribe_call(path)
    q = t.quality
    assert q["redecoded_channels"] == [0]
    assert q["channels"][0]["speech_coverage"] >= 0.85
    assert _words_of(t).count("wizard") == 2  # both agent turns are there
    assert quality_gate(q) == []


def test_speech_still_missing_after_redecoding_fails_the_gate(tmp_path: Path, pcm: np.ndarray) -> None:
    path = _two_turn_call(tmp_path, pcm)
    t = _DropsLastClip(AsrConfig(), also_sequential=True).transcribe_call(path)
    q = t.quality
    assert q["channels"][0]["speech_coverage"] < 0.85 and q["speech_coverage_min"] < 0.85
    assert quality_gate(q) == ["speech_dropped"]


def test_platform_transcript_that_disagrees_is_redecoded_then_gated(engine: AsrEngine) -> None:
    wrong = Transcript("webvtt", [Segment("agent", 0.0, 5.0, "Completely different words about a refund request today."),
                                  Segment("customer", 5.0, 8.0, "Nothing like the audio at all.")])
    t = engine.transcribe_call(STEREO, imported=wrong)
    assert t.quality["redecoded_channels"] == [0, 1]  # a second opinion before gating
    assert t.quality["wer"] > 0.25
    assert quality_gate(t.quality) == ["reference_mismatch"]
    right = Transcript("webvtt", [Segment("agent", 0.0, 5.0, LEFT), Segment("customer", 0.5, 3.0, RIGHT)])
    ok = engine.transcribe_call(STEREO, imported=right)
    assert ok.quality["wer"] < 0.25 and ok.quality["redecoded_channels"] == []
    assert quality_gate(ok.quality) == []


def test_device_auto_picks_cuda_float16_when_a_gpu_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.domain.speech.asr as asr_mod

    monkeypatch.setattr(asr_mod, "cuda_available", lambda: False)
    cpu = AsrConfig(device="auto").resolved()
    assert (cpu.device, cpu.compute_type, cpu.batch_size) == ("cpu", "int8", 8)
    monkeypatch.setattr(asr_mod, "cuda_available", lambda: True)
    gpu = AsrConfig(device="auto").resolved()
    assert (gpu.device, gpu.compute_type, gpu.batch_size) == ("cuda", "float16", 16)
    assert AsrConfig(device="auto", compute_type="int8_float16", batch_size=32).resolved().compute_type == "int8_float16"
    assert AsrConfig(device="cpu").resolved() == AsrConfig(device="cpu")


def test_clip_that_ends_early_is_decoded_again_piece_by_piece() -> None:
    """Whisper may end a clip (EOT) after its first piece: faster-whisper's batched
    pipeline never goes back, so the later pieces (samples/call_0005's "Updated.") were
    lost. Each piece of such a clip is now decoded on its own. Real audio, channel-level
    re-decoding off, so only the piece-level repair is at work."""
    e = AsrEngine(AsrConfig(redecode_min_coverage=None, redecode_max_wer=None))
    e._model = engine_model()
    t = e.transcribe_call(Path(__file__).resolve().parents[2] / "samples" / "recordings" / "call_0005.wav")
    agent = [s for s in t.segments if s.speaker == "agent"]
    assert len(agent) == 2 and agent[-1].start > 8.0  # the last agent turn, at its own time
    assert t.quality["speech_coverage_min"] >= 0.85


def test_piece_repair_is_independent_of_the_cpu(tmp_path: Path, pcm: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same repair, forced: the first batched pass returns only each clip's first
    piece (as an early EOT would); every piece still ends up transcribed, at its time."""
    from faster_whisper import BatchedInferencePipeline

    e = AsrEngine(AsrConfig(redecode_min_coverage=None))
    e._model = engine_model()
    left = pcm[:, 0]
    agent = np.concatenate([left, np.zeros(8000, np.float32), left])  # two pieces, one clip
    path = tmp_path / "two_pieces.wav"
    sf.write(path, np.stack([agent, np.zeros_like(agent)], axis=1), 16000)
    real = BatchedInferencePipeline.transcribe
    passes: list[int] = []

    def early_eot(self, audio, **kw):
        passes.append(len(kw["clip_timestamps"]))
        segs, info = real(self, audio, **kw)
        if len(passes) > 1:
            return segs, info
        import dataclasses

        first_piece_end = left.size / 16000 + 0.1
        out = []
        for seg in segs:  # one segment per clip: keep the words of its first piece only
            words = [w for w in seg.words if w.start < first_piece_end]
            if words:
                out.append(dataclasses.replace(seg, words=words, end=words[-1].end,
                                               text="".join(w.word for w in words)))
        return out, info

    monkeypatch.setattr(BatchedInferencePipeline, "transcribe", early_eot)
    t = e.transcribe_call(path)
    assert passes == [1, 2]  # one clip; then its two pieces alone
    assert _words_of(t).count("wizard") == 2
    starts = sorted(s.start for s in t.segments)
    assert starts[0] < 0.5 and starts[-1] > left.size / 16000
