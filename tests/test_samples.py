"""The bundled sample calls (samples/) and their generator (scripts/generate_samples.py).

Fast: no models. The regeneration test needs espeak-ng and sox and is skipped without them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
RECORDINGS = SAMPLES / "recordings"
EVENTS = SAMPLES / "events"
TRANSCRIPTS = SAMPLES / "transcripts"
CORRUPT = "call_0007"
MISSING_AGENT = "call_0008"
REQUIRED = ("call_id", "tenant", "started_at", "agent_id", "direction", "consent")
EVENT_TYPES = {"call.started", "asr.final", "llm.response", "tool.call", "tts.play", "error",
               "call.ended"}
ERROR_LAYERS = {"telephony", "audio", "asr", "llm", "tts", "tool"}
DISCLOSURE = "this call may be recorded for quality and training purposes"
DIGITS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine".split())}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_samples", ROOT / "scripts" / "generate_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_samples"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads((SAMPLES / "manifest.json").read_text())


@pytest.fixture(scope="module")
def sidecars() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(RECORDINGS.glob("*.json"))}


def _events(call_id: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EVENTS / f"{call_id}.jsonl").read_text().splitlines()]


def _spoken_digits(text: str) -> str:
    return "".join(DIGITS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in DIGITS)


# ------------------------------------------------------------------ audio


def test_there_are_nine_calls_each_with_audio_and_sidecar() -> None:
    wavs = sorted(p.stem for p in RECORDINGS.glob("*.wav"))
    assert wavs == [f"call_{i:04d}" for i in range(1, 10)]
    assert sorted(p.stem for p in RECORDINGS.glob("*.json")) == wavs


@pytest.mark.parametrize(
    "call_id", [f"call_{i:04d}" for i in range(1, 10) if f"call_{i:04d}" != CORRUPT])
def test_wav_decodes_as_16k_stereo_pcm16_of_6_to_12_s(call_id: str) -> None:
    path = RECORDINGS / f"{call_id}.wav"
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 2, "PCM_16")
    audio, sr = sf.read(str(path), dtype="float32")
    assert audio.shape == (info.frames, 2)
    assert 6.0 <= len(audio) / sr <= 12.0
    assert np.abs(audio).max() > 0.1  # not silence


def test_corrupt_wav_does_not_decode() -> None:
    path = RECORDINGS / f"{CORRUPT}.wav"
    assert path.read_bytes()[:4] == b"RIFF"
    with pytest.raises(sf.LibsndfileError):
        sf.read(str(path))


def test_manifest_durations_match_the_audio(manifest: dict[str, Any]) -> None:
    for call_id, entry in manifest["calls"].items():
        if call_id == CORRUPT:
            assert entry["duration_s"] is None
            continue
        info = sf.info(str(RECORDINGS / f"{call_id}.wav"))
        assert entry["duration_s"] == pytest.approx(info.frames / info.samplerate, abs=1e-3)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


def test_agent_speaks_left_customer_right_other_channel_silent(
    manifest: dict[str, Any],
) -> None:
    checked = 0
    for call_id, entry in manifest["calls"].items():
        if not entry.get("turns"):
            continue
        audio, sr = sf.read(str(RECORDINGS / f"{call_id}.wav"), dtype="float32")
        turns = entry["turns"]
        for i, t in enumerate(turns):
            own = 0 if t["speaker"] == "agent" else 1
            a, b = int(t["start"] * sr), int(t["end"] * sr)
            # trim the span to the part no other turn overlaps
            for j, o in enumerate(turns):
                if j != i and o["start"] < t["end"] and o["end"] > t["start"]:
                    if o["start"] <= t["start"]:
                        a = max(a, int(o["end"] * sr))
                    else:
                        b = min(b, int(o["start"] * sr))
            assert b - a > sr // 4, f"{call_id} turn {i}: too little non-overlapping speech"
            assert _rms(audio[a:b, own]) > 0.02, f"{call_id} turn {i}: speaker channel quiet"
            assert _rms(audio[a:b, 1 - own]) < 1e-4, f"{call_id} turn {i}: other channel busy"
            checked += 1
    assert checked >= 20


def test_turns_alternate_with_small_gaps_and_one_overlap(manifest: dict[str, Any]) -> None:
    overlaps = []
    for call_id, entry in manifest["calls"].items():
        turns = entry.get("turns") or []
        for prev, cur in zip(turns, turns[1:]):
            assert prev["speaker"] != cur["speaker"], f"{call_id}: turns do not alternate"
            gap = cur["start"] - prev["end"]
            if gap < 0:
                overlaps.append(call_id)
                assert gap >= -0.5
            else:
                assert 0.3 - 1e-3 <= gap <= 0.8 + 1e-3, f"{call_id}: gap {gap}"
    assert overlaps == ["call_0006"]
    audio, sr = sf.read(str(RECORDINGS / "call_0006.wav"), dtype="float32")
    frames = np.abs(audio[: len(audio) // 160 * 160].reshape(-1, 160, 2)).max(axis=1)
    assert int(((frames[:, 0] > 0.01) & (frames[:, 1] > 0.01)).sum()) >= 5  # both speaking


# ------------------------------------------------------------------ sidecars and labels


def test_sidecars_are_json_with_required_fields_except_call_0008(
    sidecars: dict[str, dict[str, Any]],
) -> None:
    assert len(sidecars) == 9
    for call_id, sc in sidecars.items():
        assert sc["call_id"] == call_id
        datetime.fromisoformat(sc["started_at"].replace("Z", "+00:00"))
        assert sc["started_at"].endswith("Z")
        if call_id == MISSING_AGENT:
            assert "agent_id" not in sc
            assert set(REQUIRED) - {"agent_id"} <= set(sc)
            continue
        assert set(REQUIRED) <= set(sc), call_id
        assert sc["direction"] in {"inbound", "outbound"}
        assert sc["consent"]["recording"] in {"granted", "opt_out"}
        assert isinstance(sc["consent"]["training"], bool)
        if "channel_map" in sc:
            assert sc["channel_map"] == {"0": "agent", "1": "customer"}


def test_consent_tenants_dates_and_shared_customer(
    sidecars: dict[str, dict[str, Any]],
) -> None:
    opt_out = [c for c, s in sidecars.items() if s["consent"]["recording"] == "opt_out"]
    no_training = [c for c, s in sidecars.items() if s["consent"]["training"] is False]
    assert opt_out == ["call_0003"]
    assert no_training == ["call_0004"]
    assert {s["tenant"] for s in sidecars.values()} == {"acme", "globex"}
    assert {s["started_at"][:10] for s in sidecars.values()} == {"2026-11-02", "2026-11-03"}
    cust_001 = [c for c, s in sidecars.items() if s.get("customer_id") == "cust_001"]
    assert cust_001 == ["call_0001", "call_0002"]
    assert "channel_map" not in sidecars["call_0004"]  # exercises the default layout


def test_labels_cover_the_calls() -> None:
    rows = [json.loads(line) for line in (SAMPLES / "labels.jsonl").read_text().splitlines()]
    assert all(set(r) == {"call_id", "intent", "outcome"} for r in rows)
    by_id = {r["call_id"]: r for r in rows}
    assert len(by_id) == len(rows) == 9
    assert by_id["call_0001"]["intent"] == "card_lost"
    assert by_id["call_0004"]["intent"] == "billing_dispute"
    assert by_id["call_0005"]["intent"] == "update_address"
    assert by_id["call_0006"]["outcome"] == "escalated"
    assert by_id["call_0009"] == {"call_id": "call_0009", "intent": "update_address",
                                  "outcome": "resolved"}


def test_total_size_under_5_mb() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 5_000_000, total


# ------------------------------------------------------------------ spoken content


def test_disclosure_in_every_call_but_call_0006(manifest: dict[str, Any]) -> None:
    for call_id, entry in manifest["calls"].items():
        turns = entry.get("turns") or []
        if not turns:
            continue
        first_agent = next(t for t in turns if t["speaker"] == "agent")
        said = " ".join(t["text"].lower() for t in turns)
        if call_id == "call_0006":
            assert DISCLOSURE not in said
        else:
            assert DISCLOSURE in first_agent["text"].lower()
            assert first_agent["start"] < 1.0


def test_pii_is_spoken_where_the_brief_says(manifest: dict[str, Any]) -> None:
    def customer(call_id: str) -> str:
        return " ".join(t["text"] for t in manifest["calls"][call_id]["turns"]
                        if t["speaker"] == "customer").lower()

    assert "my name is sarah lee" in customer("call_0001")
    assert _spoken_digits(customer("call_0001")) == "5551234567"
    card = _spoken_digits(customer("call_0002"))
    assert len(card) == 16 and gen.luhn_valid(card)
    assert "sarah dot lee at example dot com" in customer("call_0002")
    assert len(_spoken_digits(customer("call_0003"))) == 10
    assert "the twelfth of july, nineteen seventy nine" in customer("call_0004")
    assert "my name is john carter" in customer("call_0005")
    assert "forty two maple street, springfield" in customer("call_0005")
    call_0006 = " ".join(t["text"] for t in manifest["calls"]["call_0006"]["turns"]).lower()
    assert len(_spoken_digits(call_0006)) < 3 and "name is" not in call_0006  # no PII


@pytest.mark.parametrize("number, valid", [("4532015112830366", True),
                                           ("4532015112830367", False),
                                           ("79927398713", True), ("79927398710", False)])
def test_luhn(number: str, valid: bool) -> None:
    assert gen.luhn_valid(number) is valid


# ------------------------------------------------------------------ event logs


def test_event_logs_exist_for_calls_1_to_6_and_9() -> None:
    assert sorted(p.stem for p in EVENTS.glob("*.jsonl")) == [
        "call_0001", "call_0002", "call_0003", "call_0004", "call_0005", "call_0006",
        "call_0009"]


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.jsonl")), ids=lambda p: p.stem)
def test_event_lines_are_valid(path: Path) -> None:
    events = _events(path.stem)
    assert events
    for e in events:
        assert set(e) == {"trace_id", "seq", "ts", "type", "payload"}
        assert e["trace_id"] == path.stem
        assert isinstance(e["seq"], int) and e["seq"] >= 1
        assert e["ts"].endswith("Z")
        datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        assert e["type"] in EVENT_TYPES
        assert isinstance(e["payload"], dict)
        if e["type"] in {"asr.final", "llm.response", "tool.call", "tts.play"}:
            assert isinstance(e["payload"]["latency_ms"], int)
        if e["type"] == "error":
            assert e["payload"]["layer"] in ERROR_LAYERS and e["payload"]["message"]
    by_seq = {e["seq"]: e for e in events}
    ordered = [by_seq[s] for s in sorted(by_seq)]
    assert ordered[0]["type"] == "call.started" and ordered[-1]["type"] == "call.ended"
    assert sorted(by_seq) == list(range(1, len(by_seq) + 1))  # no gaps
    stamps = [e["ts"] for e in ordered]
    assert stamps == sorted(stamps)  # time never runs backwards in seq order


def test_only_call_0002_is_shuffled_and_duplicated() -> None:
    for path in sorted(EVENTS.glob("*.jsonl")):
        seqs = [e["seq"] for e in _events(path.stem)]
        if path.stem == "call_0002":
            assert len(seqs) == len(set(seqs)) + 1  # exactly one duplicate
            assert seqs != sorted(seqs)
            lines = path.read_text().splitlines()
            assert len(set(lines)) == len(lines) - 1  # the duplicate is an identical line
        else:
            assert seqs == sorted(set(seqs)), path.stem


def test_error_events_in_two_calls_and_pii_only_in_call_0001() -> None:
    with_errors = sorted(p.stem for p in EVENTS.glob("*.jsonl")
                         if any(e["type"] == "error" for e in _events(p.stem)))
    assert len(with_errors) == 2
    for path in sorted(EVENTS.glob("*.jsonl")):
        text = path.read_text()
        has_pii = "+1 555 123 4567" in text or "utterance" in text
        assert has_pii == (path.stem == "call_0001"), path.stem
    asr = [e for e in _events("call_0001") if e["type"] == "asr.final"]
    assert any(_spoken_digits(e["payload"]["utterance"]) == "5551234567" for e in asr)


# ------------------------------------------------------------------ transcripts


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _manifest_words(manifest: dict[str, Any], call_id: str) -> list[str]:
    return _words(" ".join(t["text"] for t in manifest["calls"][call_id]["turns"]))


def test_platform_transcripts_present() -> None:
    assert sorted(p.name for p in TRANSCRIPTS.iterdir()) == [
        "call_0001.vtt", "call_0002.srt", "call_0005.aws.json"]


def test_webvtt_has_voice_tags_and_matches_audio_text(manifest: dict[str, Any]) -> None:
    text = (TRANSCRIPTS / "call_0001.vtt").read_text()
    assert text.startswith("WEBVTT\n")
    timings = re.findall(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$", text, re.M)
    voices = re.findall(r"^<v (Agent|Customer)>(.*)</v>$", text, re.M)
    assert len(timings) == len(voices) == len(manifest["calls"]["call_0001"]["turns"])
    assert [v for v, _ in voices] == ["Agent", "Customer", "Agent", "Customer"]
    assert _words(" ".join(t for _, t in voices)) == _manifest_words(manifest, "call_0001")


def test_srt_has_speaker_prefixes_and_matches_audio_text(manifest: dict[str, Any]) -> None:
    blocks = (TRANSCRIPTS / "call_0002.srt").read_text().strip().split("\n\n")
    texts = []
    for n, block in enumerate(blocks, start=1):
        num, timing, line = block.split("\n")
        assert num == str(n)
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", timing)
        speaker, _, said = line.partition(": ")
        assert speaker in {"Agent", "Customer"}
        texts.append(said)
    assert _words(" ".join(texts)) == _manifest_words(manifest, "call_0002")


def test_aws_transcribe_mirrors_the_real_structure(manifest: dict[str, Any]) -> None:
    ours = json.loads((TRANSCRIPTS / "call_0005.aws.json").read_text())
    assert set(ours) == {"jobName", "accountId", "results", "status"}
    assert ours["status"] == "COMPLETED"
    results = ours["results"]
    assert set(results) == {"transcripts", "channel_labels", "items"}
    labels = results["channel_labels"]
    assert labels["number_of_channels"] == 2
    assert [c["channel_label"] for c in labels["channels"]] == ["ch_0", "ch_1"]
    turns = manifest["calls"]["call_0005"]["turns"]
    for ch, speaker in ((0, "agent"), (1, "customer")):
        items = labels["channels"][ch]["items"]
        words = [i["alternatives"][0]["content"] for i in items if i["type"] == "pronunciation"]
        expected = _words(" ".join(t["text"] for t in turns if t["speaker"] == speaker))
        assert _words(" ".join(words)) == expected
        for item in items:
            assert item["type"] in {"pronunciation", "punctuation"}
            if item["type"] == "pronunciation":
                assert float(item["start_time"]) < float(item["end_time"])
            else:
                assert "start_time" not in item
    starts = [float(i["start_time"]) for i in results["items"] if "start_time" in i]
    assert starts == sorted(starts)
    assert _words(results["transcripts"][0]["transcript"]) == _manifest_words(manifest,
                                                                              "call_0005")


# ------------------------------------------------------------------ generator


def test_generator_fails_clearly_when_tools_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng / sox on it
    with pytest.raises(gen.SampleGenerationError, match="espeak-ng"):
        gen.ensure_tools(install=False)
    assert gen.main(["--out", str(tmp_path / "out"), "--no-install"]) == 1
    assert "apt-get install" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_corrupt_wav_is_deterministic() -> None:
    assert gen.corrupt_wav(CORRUPT) == gen.corrupt_wav(CORRUPT)
    assert gen.corrupt_wav(CORRUPT) == (RECORDINGS / f"{CORRUPT}.wav").read_bytes()


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                    reason="espeak-ng and sox are needed to regenerate the samples")
def test_regeneration_is_byte_identical(tmp_path: Path, manifest: dict[str, Any]) -> None:
    if gen.ensure_tools(install=False) != manifest["tools"]:
        pytest.skip("different espeak-ng/sox versions than the committed samples")
    out = tmp_path / "samples"
    gen.generate(out, install=False)
    produced = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(SAMPLES) for p in SAMPLES.rglob("*")
                       if p.is_file() and p.name != "README.md")
    assert produced == committed
    for rel in produced:
        assert (out / rel).read_bytes() == (SAMPLES / rel).read_bytes(), str(rel)
    before = {rel: (out / rel).stat().st_mtime_ns for rel in produced}
    gen.generate(out, install=False)  # idempotent: unchanged files are not rewritten
    assert {rel: (out / rel).stat().st_mtime_ns for rel in produced} == before
