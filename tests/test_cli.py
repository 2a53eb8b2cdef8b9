"""The callforge CLI: import prints the normalised transcript; bad input gives a clear error."""

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("demo", "import", "transcribe", "redact", "search", "replay", "erase", "quarantine"):
        assert cmd in res.output


def test_import_webvtt_json():
    res = runner.invoke(app, ["import", str(REPO / "samples" / "transcripts" / "call_0001.vtt"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["source_format"] == "webvtt"
    assert {s["speaker"] for s in d["segments"]} == {"agent", "customer"}
    assert all({"speaker", "start", "end", "text"} <= set(s) for s in d["segments"])


def test_import_aws_json_same_model():
    res = runner.invoke(app, ["import", str(REPO / "samples" / "transcripts" / "call_0005.aws.json"), "--json"])
    d = json.loads(res.output)
    assert d["source_format"] == "aws_transcribe"
    assert any(s.get("words") for s in d["segments"])


def test_import_unknown_format_names_the_file(tmp_path):
    p = tmp_path / "export.sbv"
    p.write_text("0:00:00.000,0:00:01.000\nhello\n")
    res = runner.invoke(app, ["import", str(p), "--json"])
    assert res.exit_code == 2
    assert "export.sbv" in res.output


def test_import_missing_file(tmp_path):
    res = runner.invoke(app, ["import", str(tmp_path / "nope.vtt")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_erase_needs_exactly_one_target():
    res = runner.invoke(app, ["erase", "--reason", "t"])
    assert res.exit_code == 2 and "exactly one" in res.output


def test_replay_reports_duplicates_and_out_of_order(tmp_path):
    """call_0002's sample log has a duplicated line and lines out of seq order."""
    res = runner.invoke(app, ["replay", "call_0002", "--events", str(REPO / "samples" / "events" / "call_0002.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    seqs = [e["seq"] for e in d["timeline"]]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert d["duplicates"] and d["out_of_order"]


def test_redact_jsonl_spans_in_original_offsets():
    line = json.dumps({"id": "u1", "text": "call me on five five five, one two three, four five six seven please"})
    res = runner.invoke(app, ["redact", "--jsonl"], input=line + "\n")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert "five five five" not in out["text"] and "[PHONE]" in out["text"]
    span = out["spans"][0]
    original = json.loads(line)["text"]
    assert original[span["start"]:span["end"]].startswith("five")


def test_transcribe_json_shape():
    res = runner.invoke(app, ["transcribe", str(REPO / "samples" / "recordings" / "call_0006.wav"),
                              "--sidecar", str(REPO / "samples" / "recordings" / "call_0006.json"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert {"duration", "language", "segments", "quality"} <= set(d)
    seg = d["segments"][0]
    assert {"speaker", "start", "end", "text", "avg_logprob", "no_speech_prob", "words"} <= set(seg)
    assert {"word", "start", "end", "probability"} <= set(seg["words"][0])


def test_transcribe_corrupt_audio_is_a_clear_error():
    res = runner.invoke(app, ["transcribe", str(REPO / "samples" / "recordings" / "call_0007.wav")])
    assert res.exit_code == 2
    assert "call_0007.wav" in res.output and "audio_decode_failed" in res.output
