"""Transcript import formats: real vendor/caption fixtures plus hand-written edge cases.

Fixtures live in tests/fixtures/formats (webvtt-py: MIT, vtt.js: Apache-2.0,
aws_transcribe_to_docx: MIT, google_stt: written for this project).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from pipeline.domain.core.models import AGENT, CUSTOMER, UNKNOWN_SPEAKER, Transcript
from pipeline.domain.intake.formats import (
    MAX_SEGMENT_S,
    SUPPORTED_FORMATS,
    TranscriptFormatError,
    UnknownFormatError,
    detect_format,
    parse_aws_transcribe,
    parse_google_stt,
    parse_srt,
    parse_text,
    parse_transcript,
    parse_webvtt,
    speaker_map_from_channel_map,
    speaker_role,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
WEBVTT_PY = FIXTURES / "webvtt-py"
VTTJS = FIXTURES / "vttjs"
AWS = FIXTURES / "aws_transcribe"
GOOGLE = FIXTURES / "google_stt"


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def aws_plain() -> dict[str, Any]:
    return json.loads((AWS / "01-plain.json").read_text())


@pytest.fixture(scope="module")
def aws_channels() -> dict[str, Any]:
    return json.loads((AWS / "02-channel-identification.json").read_text())


def test_fixture_licences_are_beside_the_copies() -> None:
    for folder, licence in [
        (WEBVTT_PY, "LICENSE.webvtt-py"),
        (VTTJS, "LICENSE.vttjs"),
        (AWS, "LICENSE.tscribe"),
        (GOOGLE, "README.md"),
    ]:
        assert (folder / licence).is_file(), folder


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("call.vtt", None, "webvtt"),
        ("CALL.VTT", None, "webvtt"),
        ("call.srt", None, "srt"),
        ("call.txt", None, "text"),
        ("call.aws.json", None, "aws_transcribe"),
        ("call.json", '{"jobName": "x", "results": {"items": []}}', "aws_transcribe"),
        ("call.json", '{"results": [{"alternatives": []}]}', "google_stt"),
        ("call.json", '{"done": true, "response": {"results": []}}', "google_stt"),
        # truncated heads (first bytes of a big file) are sniffed
        (
            "call.json",
            '{"jobName": "j", "accountId": "1", "results": {"transcripts": [{"tr',
            "aws_transcribe",
        ),
        ("call.json", '{\n  "results": [\n    {\n      "alternatives": [{"transc', "google_stt"),
    ],
)
def test_detect_format(name: str, head: str | None, expected: str) -> None:
    assert detect_format(Path(name), head) == expected


def test_detect_format_reads_the_head_itself(tmp_path: Path) -> None:
    p = _write(tmp_path, "x.json", json.dumps({"results": [{"alternatives": []}]}))
    assert detect_format(p) == "google_stt"
    assert detect_format(AWS / "02-channel-identification.json") == "aws_transcribe"


@pytest.mark.parametrize(
    ("name", "head", "detail"),
    [
        ("call.sbv", None, "'.sbv'"),
        ("call.docx", None, "'.docx'"),
        ("call", None, "(none)"),
        ("call.json", '{"foo": 1}', "neither"),
        ("call.json", "[1, 2, 3]", "neither"),
    ],
)
def test_detect_format_unknown(name: str, head: str | None, detail: str) -> None:
    with pytest.raises(UnknownFormatError) as ei:
        detect_format(Path(name), head)
    msg = str(ei.value)
    assert msg.startswith(f"{name}: unknown transcript format")
    assert detail in msg
    for fmt in SUPPORTED_FORMATS:
        assert fmt in msg
    assert isinstance(ei.value, TranscriptFormatError) and isinstance(ei.value, ValueError)


def test_unknown_extension_fails_before_reading(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError) as ei:
        parse_transcript(WEBVTT_PY / "sample.sbv")
    assert ei.value.path.endswith("sample.sbv") and ei.value.line is None


# ----------------------------------------------------------------------------- webvtt-py fixtures


@pytest.mark.parametrize(
    ("name", "n", "first_text", "first_start", "last_end"),
    [
        ("sample.vtt", 16, "Caption text #1", 0.5, 64.3),
        ("captions_with_bom.vtt", 4, "Caption text #1", 0.5, 21.58),
        ("comments.vtt", 3, "- Ta en kopp varmt te. - Det är inte varmt.", 135.0, 150.0),
        ("cue_tags.vtt", 3, "When the moon hits your eye", 16.5, 21.5),
        ("metadata_headers.vtt", 2, "Caption text #1", 0.5, 11.89),
        ("metadata_headers_multiline.vtt", 2, "Caption text #1", 0.5, 11.89),
        ("missing_caption_text.vtt", 4, "Caption text #1", 0.5, 23.88),
        ("styles.vtt", 1, "- Hello world.", 0.0, 10.0),
        ("using_identifiers.vtt", 6, "Caption text #1", 0.5, 27.28),
        ("youtube_dl.vtt", 4, "yeah", 286.07, 305.4),
        ("sample.srt", 5, "Caption text #1", 0.5, 23.88),
        ("one_caption.srt", 1, "Caption text #1", 0.5, 7.0),
    ],
)
def test_valid_caption_fixtures(
    name: str, n: int, first_text: str, first_start: float, last_end: float
) -> None:
    t = parse_transcript(WEBVTT_PY / name)
    assert t.source_format == ("srt" if name.endswith(".srt") else "webvtt")
    assert len(t.segments) == n
    assert t.segments[0].text == first_text
    assert t.segments[0].start == pytest.approx(first_start)
    assert t.segments[-1].end == pytest.approx(last_end)
    assert t.duration == pytest.approx(last_end)
    assert t.diarised is False
    assert {s.speaker for s in t.segments} == {UNKNOWN_SPEAKER}
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)
    for s in t.segments:
        assert "<" not in s.text and ">" not in s.text and "\n" not in s.text
        assert s.text == s.text.strip() and s.text


def test_no_captions_is_an_empty_transcript_not_an_error() -> None:
    t = parse_transcript(WEBVTT_PY / "no_captions.vtt")
    assert t.segments == [] and t.duration is None


def test_missing_caption_text_drops_only_the_empty_cue() -> None:
    t = parse_transcript(WEBVTT_PY / "missing_caption_text.vtt")
    assert [s.text for s in t.segments] == [f"Caption text #{i}" for i in (1, 3, 4, 5)]


def test_youtube_cue_interrupted_by_timing_line_starts_a_new_cue() -> None:
    t = parse_transcript(WEBVTT_PY / "youtube_dl.vtt")
    assert [(s.start, s.end, s.text) for s in t.segments[1:3]] == [
        (286.47, 304.08, "yeah what"),
        (304.08, 305.069, "this will happen is I'm telling"),
    ]


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("empty.vtt", 1, "missing 'WEBVTT' header"),
        ("invalid.vtt", 1, "missing 'WEBVTT' header"),
        ("invalid_timeframe.srt", 6, "cue timing malformed"),
        ("missing_timeframe.srt", 6, "cue has no timing line"),
    ],
)
def test_malformed_caption_fixtures_fail_cleanly(name: str, line: int, reason: str) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_transcript(WEBVTT_PY / name)
    err = ei.value
    assert type(err) is TranscriptFormatError
    assert err.line == line
    assert err.path == str(WEBVTT_PY / name)
    assert str(err).startswith(f"{name} line {line}: {reason}")
    assert reason in err.reason
    assert "Caption text" not in str(err)  # no transcript text in errors


@pytest.mark.parametrize(
    ("name", "kept", "skipped_lines"),
    [
        ("invalid_timeframe.vtt", 6, [6]),  # "00:00:1d.890": that cue is skipped
        ("missing_timeframe.vtt", 6, [6]),  # cue text with no timing line
    ],
)
def test_malformed_vtt_cue_is_skipped_and_the_rest_kept(name: str, kept: int, skipped_lines: list[int]) -> None:
    """WebVTT's parsing algorithm drops a bad cue, not the file: the good cues survive and
    the import records what was skipped (line numbers, never text)."""
    t = parse_transcript(WEBVTT_PY / name)
    assert len(t.segments) == kept
    assert t.segments[0].text == "Caption text #1" and all(s.text for s in t.segments)
    imp = t.quality["import"]
    assert imp["cues_skipped"] == len(skipped_lines)
    assert imp["skipped_lines"] == skipped_lines
    assert "Caption" not in str(imp)


# ----------------------------------------------------------------------------- voices (vtt.js)


def test_several_voices_in_one_cue_become_one_segment_each() -> None:
    t = parse_transcript(VTTJS / "integration__cycle-collector-talk.vtt")
    assert t.diarised is True
    at_4 = [(s.speaker, s.text) for s in t.segments if s.start == 4.0]
    assert at_4 == [
        ("Chris Pearce", "Okay, we're good now."),
        ("Kyle Huey", "Oh, now we're good?"),
        (UNKNOWN_SPEAKER, "Laughter"),  # after </v>: nobody's voice
    ]
    assert {s.speaker for s in t.segments} == {"Kyle Huey", "Chris Pearce", UNKNOWN_SPEAKER}
    assert sum(s.speaker == "Kyle Huey" for s in t.segments) == 15
    assert any(s.text == "So the cyle collector does three main things." for s in t.segments)
    assert all("<" not in s.text for s in t.segments)


def test_overlapping_voice_cues_are_sorted_and_settings_ignored() -> None:
    t = parse_transcript(VTTJS / "integration__spec-example.vtt")
    assert len(t.segments) == 13
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)
    neil = [s for s in t.segments if s.speaker == "Neil deGrasse Tyson"]
    assert [(s.start, s.end, s.text) for s in neil] == [
        (30.5, 32.5, "Didn't we talk about enough in that conversation?"),
        (32.5, 33.5, "Laughs"),
    ]
    assert t.segments[-1].speaker == "Roger Bingham" and t.duration == 38.0


def test_speaker_map_is_applied_case_insensitively() -> None:
    t = parse_transcript(
        VTTJS / "integration__spec-example.vtt",
        speaker_map={"Roger Bingham": AGENT, "neil degrasse tyson": CUSTOMER},
    )
    assert {s.speaker for s in t.segments} == {AGENT, CUSTOMER}
    assert sum(s.speaker == CUSTOMER for s in t.segments) == 2


# ----------------------------------------------------------------------------- inline WebVTT


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # voice with classes, closing tag, other tags and entities
        (
            "00:01.000 --> 00:02.000\n<v.loud.first Agent>Hi &amp; welcome</v>",
            [(AGENT, 1.0, 2.0, "Hi & welcome")],
        ),
        # unclosed voice spans the whole cue, multi-line text joined
        (
            "00:01.000 --> 00:02.000 align:start\n<v Customer>my card\nwas declined",
            [(CUSTOMER, 1.0, 2.0, "my card was declined")],
        ),
        # hours with three digits, cue id, <c> and <i> tags
        (
            "call-1\n100:00:01.000 --> 100:00:02.500\n"
            "<v Sales Rep><c.yellow>hello</c> <i>there</i>",
            [(AGENT, 360001.0, 360002.5, "hello there")],
        ),
        # Zoom style "Name: text" without voice tags; label carries to the next cue
        (
            "00:01.000 --> 00:02.000\nAgent: thanks for calling\n\n"
            "00:02.000 --> 00:03.000\nhow can I help\n\n"
            "00:03.000 --> 00:04.000\nCaller: my card",
            [
                (AGENT, 1.0, 2.0, "thanks for calling"),
                (AGENT, 2.0, 3.0, "how can I help"),
                (CUSTOMER, 3.0, 4.0, "my card"),
            ],
        ),
        # a sentence with a colon is not a speaker label
        (
            "00:01.000 --> 00:02.000\nthe answer is: yes",
            [(UNKNOWN_SPEAKER, 1.0, 2.0, "the answer is: yes")],
        ),
        # two voices, one cue
        (
            "00:01.000 --> 00:03.000\n<v Agent>hi</v> <v Customer>hello</v>",
            [(AGENT, 1.0, 3.0, "hi"), (CUSTOMER, 1.0, 3.0, "hello")],
        ),
        # NOTE block containing '-->' is still a comment; REGION skipped
        (
            "NOTE a --> b\n\nREGION\nid:fred\n\n00:05.000 --> 00:06.000\nok",
            [(UNKNOWN_SPEAKER, 5.0, 6.0, "ok")],
        ),
    ],
)
def test_webvtt_inline(body: str, expected: list[tuple[str, float, float, str]]) -> None:
    t = parse_webvtt("WEBVTT\n\n" + body + "\n", "inline.vtt")
    assert [(s.speaker, s.start, s.end, s.text) for s in t.segments] == expected


def test_webvtt_crlf_and_header_text() -> None:
    t = parse_webvtt("WEBVTT - call export\r\n\r\n00:00.000 --> 00:01.000\r\nhi\r\n", "x.vtt")
    assert [s.text for s in t.segments] == ["hi"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("WEBVTTX\n\n00:01.000 --> 00:02.000\nhi", 1, "missing 'WEBVTT' header"),
        ("\nWEBVTT\n", 1, "missing 'WEBVTT' header"),
        ("WEBVTT\n\n00:60.000 --> 01:02.000\nhi", 3, "at most 59"),
        ("WEBVTT\n\n00:01.000 -->\nhi", 3, "expected a timestamp"),
        ("WEBVTT\n\n00:01.00 --> 00:02.000\nhi", 3, "three digits"),
        ("WEBVTT\n\n00:05.000 --> 00:02.000\nhi", 3, "ends before it starts"),
        ("WEBVTT\n\nhello there\n", 3, "no cue timing line"),
    ],
)
def test_webvtt_without_any_usable_cue_fails(text: str, line: int, reason: str) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_webvtt(text, "call_0001.vtt")
    assert ei.value.line == line
    assert str(ei.value).startswith(f"call_0001.vtt line {line}: ")
    assert reason in ei.value.reason
    assert "hello" not in str(ei.value) and "hi" not in ei.value.reason.split(";")[0]


@pytest.mark.parametrize(
    ("text", "texts", "skipped_lines"),
    [
        # a stray block without a timing line, then a good cue
        ("WEBVTT\n\nid\n\n00:01.000 --> 00:02.000\nhi", ["hi"], [3]),
        # two identifier lines: the block before the timing line is dropped, the cue kept
        ("WEBVTT\n\n1\n2\n00:01.000 --> 00:02.000\nhi", ["hi"], [3]),
        # an identifier containing '-->' is parsed as the timing line and dropped (spec);
        # the real timing line on the next line starts the cue, which is kept
        ("WEBVTT\n\n00:00.000 --> 00:01.000\nfirst\n\nintro-->3\n00:01.000 --> 00:02.000\nsecond\n\n"
         "00:02.000 --> 00:03.000\nthird\n", ["first", "second", "third"], [6]),
        # a bad timestamp in the middle: that cue alone is lost
        ("WEBVTT\n\n00:00.000 --> 00:01.000\nfirst\n\n00:01.0 --> 00:02.000\nlost\n\n"
         "00:02.000 --> 00:03.000\nthird\n", ["first", "third"], [6]),
    ],
)
def test_webvtt_skips_bad_cues_and_keeps_the_rest(text: str, texts: list[str], skipped_lines: list[int]) -> None:
    t = parse_webvtt(text, "call_0001.vtt")
    assert [s.text for s in t.segments] == texts
    assert t.quality["import"]["cues_skipped"] == len(skipped_lines)
    assert t.quality["import"]["skipped_lines"] == skipped_lines


@pytest.mark.parametrize(
    ("cue", "expected"),
    [
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ("no&nbsp;break", "no break"),  # U+00A0 decoded (webvtt.py), then whitespace normalised
        ("&lrm;left&rlm;", "left"),  # direction marks carry no words
        ("&unknown; stays", "&unknown; stays"),
        ("&#65;&#x42;", "AB"),
    ],
)
def test_webvtt_character_references_decode_as_browsers_do(cue: str, expected: str) -> None:
    t = parse_webvtt(f"WEBVTT\n\n00:00.000 --> 00:01.000\n{cue}\n", "x.vtt")
    assert t.segments[0].text == expected


def test_webvtt_voice_kept_across_nested_tags() -> None:
    t = parse_webvtt("WEBVTT\n\n00:00.000 --> 00:02.000\n<v Agent><i>hello</i> <b>there</b></v>\n", "x.vtt")
    assert [(s.speaker, s.text) for s in t.segments] == [("agent", "hello there")]


# ----------------------------------------------------------------------------- SRT


SRT_SPEAKERS = """1
00:00:01,000 --> 00:00:02,500
Agent: Thank you for calling.

2
00:00:02,600 --> 00:00:04,000
<i>How can I help?</i>

3
00:00:04,100 --> 00:00:06,000
{\\an8}Customer: My card
was declined.

4
00:00:06,100 --> 00:00:07,000
- SPEAKER_1: sorry?
- Agent: Let me check.

5
00:00:07,000 --> 00:00:08,000 X1:10 X2:20 Y1:5 Y2:9
Kyle Huey: hello
"""


def test_srt_speaker_prefixes() -> None:
    t = parse_srt(SRT_SPEAKERS, "call.srt")
    assert t.diarised is True
    assert [(s.speaker, s.start, s.end, s.text) for s in t.segments] == [
        (AGENT, 1.0, 2.5, "Thank you for calling."),
        (AGENT, 2.6, 4.0, "How can I help?"),  # no prefix: previous speaker continues
        (CUSTOMER, 4.1, 6.0, "My card was declined."),
        ("SPEAKER_1", 6.1, 7.0, "sorry?"),
        (AGENT, 6.1, 7.0, "Let me check."),
        ("Kyle Huey", 7.0, 8.0, "hello"),
    ]


def test_srt_speaker_map_overrides_heuristics() -> None:
    t = parse_srt(
        SRT_SPEAKERS, "call.srt", speaker_map={"SPEAKER_1": CUSTOMER, "Agent": "supervisor"}
    )
    assert [s.speaker for s in t.segments][:5] == [
        "supervisor",
        "supervisor",
        CUSTOMER,
        CUSTOMER,
        "supervisor",
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", 1, "empty file"),
        ("\n\n  \n", 1, "empty file"),
        ("one\n00:00:01,000 --> 00:00:02,000\nhi", 1, "expected a cue number"),
        ("1\n\n2\n00:00:01,000 --> 00:00:02,000\nhi", 1, "cue number without a timing line"),
        ("1\n00:00:05,000 --> 00:00:02,000\nhi", 2, "end before start"),
        ("1\n00:00:01.000 --> 00:00:02,000\nhi", 2, "cue timing malformed"),
        ("1\n00:00:01,000 -> 00:00:02,000\nhi", 2, "cue has no timing line"),
        (
            "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:61:01,000 --> 00:62:02,000\nx",
            6,
            "malformed",
        ),
    ],
)
def test_srt_malformed(text: str, line: int, reason: str) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_srt(text, "call.srt")
    assert ei.value.line == line and reason in ei.value.reason
    assert str(ei.value).startswith(f"call.srt line {line}: ")


# ----------------------------------------------------------------------------- AWS Transcribe


def test_aws_plain_is_one_undiarised_speaker(aws_plain: dict[str, Any]) -> None:
    t = parse_transcript(AWS / "01-plain.json")
    items = aws_plain["results"]["items"]
    pron = [i for i in items if i["type"] == "pronunciation"]
    words = [w for s in t.segments for w in s.words]
    assert t.source_format == "aws_transcribe" and t.diarised is False
    assert {s.speaker for s in t.segments} == {UNKNOWN_SPEAKER}
    assert len(words) == len(pron)
    # punctuation is glued to the previous word: the text equals AWS's own transcript
    assert t.text == aws_plain["results"]["transcripts"][0]["transcript"]
    assert not any(w.word in {",", ".", "?"} for w in words)
    assert [w.probability for w in words] == [
        float(i["alternatives"][0]["confidence"]) for i in pron
    ]
    assert words[0].start == 0.49 and words[0].end == 0.7
    assert t.duration == pytest.approx(float(pron[-1]["end_time"]))
    assert len(t.segments) > 1
    assert all(s.end - s.start <= MAX_SEGMENT_S for s in t.segments)
    assert all(s.text == " ".join(w.word for w in s.words) for s in t.segments)


def test_aws_channel_labels_give_agent_and_customer(aws_channels: dict[str, Any]) -> None:
    t = parse_transcript(AWS / "02-channel-identification.json")
    assert t.diarised is True
    assert {(s.channel, s.speaker) for s in t.segments} == {(0, AGENT), (1, CUSTOMER)}
    for ch in aws_channels["results"]["channel_labels"]["channels"]:
        n = int(ch["channel_label"][3:])
        pron = [i for i in ch["items"] if i["type"] == "pronunciation"]
        got = [w for s in t.segments if s.channel == n for w in s.words]
        assert [w.start for w in got] == [float(i["start_time"]) for i in pron]
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)
    assert Transcript.from_dict(json.loads(json.dumps(t.to_dict()))).segments == t.segments


def test_aws_channel_speaker_map_from_sidecar_channel_map() -> None:
    smap = speaker_map_from_channel_map({0: CUSTOMER, 1: AGENT})
    assert smap == {"ch_0": CUSTOMER, "ch_1": AGENT}
    t = parse_transcript(AWS / "02-channel-identification.json", speaker_map=smap)
    assert {(s.channel, s.speaker) for s in t.segments} == {(0, CUSTOMER), (1, AGENT)}


def _aws_item(word: str, start: float, end: float, conf: str = "0.9") -> dict[str, Any]:
    return {
        "start_time": f"{start}",
        "end_time": f"{end}",
        "type": "pronunciation",
        "alternatives": [{"confidence": conf, "content": word}],
    }


def _punct(p: str) -> dict[str, Any]:
    return {"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": p}]}


AWS_SPEAKERS: dict[str, Any] = {
    "jobName": "j",
    "status": "COMPLETED",
    "results": {
        "language_code": "en-US",
        "transcripts": [{"transcript": "Hello, how can I help? My card."}],
        "speaker_labels": {
            "speakers": 2,
            "segments": [
                {
                    "start_time": "0.1",
                    "end_time": "1.5",
                    "speaker_label": "spk_0",
                    "items": [
                        {"start_time": "0.1", "end_time": "0.5", "speaker_label": "spk_0"},
                        {"start_time": "0.6", "end_time": "0.8", "speaker_label": "spk_0"},
                        {"start_time": "0.8", "end_time": "1.0", "speaker_label": "spk_0"},
                        {"start_time": "1.0", "end_time": "1.1", "speaker_label": "spk_0"},
                        {"start_time": "1.1", "end_time": "1.5", "speaker_label": "spk_0"},
                    ],
                },
                {
                    "start_time": "1.7",
                    "end_time": "2.4",
                    "speaker_label": "spk_1",
                    "items": [
                        {"start_time": "1.7", "end_time": "1.9", "speaker_label": "spk_1"},
                        {"start_time": "1.9", "end_time": "2.4", "speaker_label": "spk_1"},
                    ],
                },
            ],
        },
        "items": [
            _aws_item("Hello", 0.1, 0.5),
            _punct(","),
            _aws_item("how", 0.6, 0.8),
            _aws_item("can", 0.8, 1.0),
            _aws_item("I", 1.0, 1.1),
            _aws_item("help", 1.1, 1.5),
            _punct("?"),
            _aws_item("My", 1.7, 1.9, "0.5"),
            _aws_item("card", 1.9, 2.4),
            _punct("."),
        ],
    },
}


def test_aws_speaker_labels() -> None:
    t = parse_aws_transcribe(
        copy.deepcopy(AWS_SPEAKERS), "x.json", speaker_map={"spk_0": AGENT, "spk_1": CUSTOMER}
    )
    assert t.diarised is True and t.language == "en-US"
    assert [(s.speaker, s.start, s.end, s.text) for s in t.segments] == [
        (AGENT, 0.1, 1.5, "Hello, how can I help?"),
        (CUSTOMER, 1.7, 2.4, "My card."),
    ]
    assert t.segments[1].words[0].probability == 0.5
    unmapped = parse_aws_transcribe(copy.deepcopy(AWS_SPEAKERS), "x.json")
    assert [s.speaker for s in unmapped.segments] == ["spk_0", "spk_1"]


def _mutate(path: list[Any], value: Any = None, delete: bool = False):  # noqa: ANN202
    def apply(obj: dict[str, Any]) -> dict[str, Any]:
        o = copy.deepcopy(obj)
        target: Any = o
        for k in path[:-1]:
            target = target[k]
        if delete:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return o

    return apply


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (lambda o: [o], "top level: expected object"),
        (_mutate(["status"], "FAILED"), "status is 'FAILED'"),
        (_mutate(["results"], delete=True), "missing 'results'"),
        (_mutate(["results"], []), "results: expected object"),
        (_mutate(["results", "items"], delete=True), "results.items: missing"),
        (_mutate(["results", "items"], {"a": 1}), "results.items: expected list"),
        (_mutate(["results", "items", 2, "alternatives"], []), "results.items[2].alternatives"),
        (
            _mutate(["results", "items", 2, "alternatives"], delete=True),
            "results.items[2].alternatives",
        ),
        (
            _mutate(["results", "items", 2, "alternatives", 0, "content"], 7),
            "content: expected string",
        ),
        (
            _mutate(["results", "items", 2, "start_time"], "abc"),
            "results.items[2].start_time: not a number",
        ),
        (_mutate(["results", "items", 2, "start_time"], "-1"), "non-negative"),
        (_mutate(["results", "items", 2, "end_time"], delete=True), "without start_time/end_time"),
        (_mutate(["results", "items", 2, "end_time"], "0.1"), "end_time before start_time"),
        (_mutate(["results", "items", 2, "type"], "speech"), "unknown item type"),
        (_mutate(["results", "items", 2, "alternatives", 0, "confidence"], "high"), "confidence"),
        (_mutate(["results", "items", 2], "word"), "results.items[2]: expected object"),
        (_mutate(["results", "speaker_labels", "segments"], None), "segments: expected list"),
        (
            _mutate(
                ["results", "speaker_labels", "segments", 0, "items", 0, "start_time"], delete=True
            ),
            "missing start_time",
        ),
        (
            _mutate(
                ["results", "channel_labels"],
                {"channels": [{"channel_label": "left", "items": []}]},
            ),
            "channel_label: expected 'ch_<n>'",
        ),
        (_mutate(["results", "channel_labels"], {"channels": "ch_0"}), "channels: expected list"),
    ],
)
def test_aws_malformed(mutation: Any, reason: str) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_aws_transcribe(mutation(AWS_SPEAKERS), "calls/call_0002.json")
    assert reason in ei.value.reason
    assert str(ei.value).startswith("call_0002.json: ")
    assert ei.value.line is None


# ----------------------------------------------------------------------------- Google STT


def test_google_diarised_uses_the_tagged_summary_result_once() -> None:
    t = parse_transcript(GOOGLE / "diarized.json")
    assert t.source_format == "google_stt" and t.diarised is True and t.language == "en-us"
    assert [(s.speaker, s.start, s.end, s.text) for s in t.segments] == [
        ("speaker_1", 0.4, 2.5, "thank you for calling how can I help?"),
        ("speaker_2", 3.0, 4.3, "my card was declined."),
    ]
    mapped = parse_transcript(GOOGLE / "diarized.json", {"speaker_1": AGENT, "speaker_2": CUSTOMER})
    assert [s.speaker for s in mapped.segments] == [AGENT, CUSTOMER]


def test_google_operation_wrapper_and_seconds_nanos() -> None:
    t = parse_transcript(GOOGLE / "operation_nanos.json")
    assert t.diarised is False and len(t.segments) == 1
    seg = t.segments[0]
    assert seg.speaker == UNKNOWN_SPEAKER and seg.text == "hello I would like to close my account"
    assert seg.words[0].start == 0.0 and seg.words[0].end == pytest.approx(0.3)
    assert seg.words[3].end == pytest.approx(1.1) and seg.end == 2.0


def test_google_multichannel_maps_channels_to_roles() -> None:
    t = parse_transcript(GOOGLE / "multichannel.json")
    assert [(s.speaker, s.channel, s.text) for s in t.segments] == [
        (AGENT, 0, "how can I help"),
        (CUSTOMER, 1, "I lost my card"),
    ]


def test_google_words_without_tags_split_on_long_pause() -> None:
    obj = {
        "results": [
            {
                "alternatives": [
                    {
                        "words": [
                            {"startTime": "0s", "endTime": "0.5s", "word": "hi"},
                            {"startTime": "3s", "endTime": "3.5s", "word": "there"},
                        ]
                    }
                ]
            }
        ]
    }
    t = parse_google_stt(obj, "g.json")
    assert [(s.start, s.end, s.text) for s in t.segments] == [(0.0, 0.5, "hi"), (3.0, 3.5, "there")]


def test_google_without_words_uses_result_transcripts() -> None:
    obj = {
        "results": [
            {"alternatives": [{"transcript": "first part"}], "resultEndTime": "2.5s"},
            {"alternatives": [{"transcript": " second  part "}], "resultEndTime": "4s"},
            {"alternatives": []},
        ]
    }
    t = parse_google_stt(obj, "g.json")
    assert [(s.start, s.end, s.text) for s in t.segments] == [
        (0.0, 2.5, "first part"),
        (2.5, 4.0, "second part"),
    ]
    assert parse_google_stt({"results": []}, "g.json").segments == []


GOOGLE_MIN: dict[str, Any] = {
    "results": [
        {
            "alternatives": [
                {
                    "transcript": "a b",
                    "words": [
                        {"startTime": "0.1s", "endTime": "0.2s", "word": "a", "speakerTag": 1},
                        {"startTime": "0.3s", "endTime": "0.4s", "word": "b", "speakerTag": 2},
                    ],
                }
            ]
        }
    ]
}


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (lambda o: "results", "top level: expected object"),
        (_mutate(["results"], delete=True), "missing 'results' list"),
        (_mutate(["results"], {"a": 1}), "results: expected list"),
        (_mutate(["results", 0], 5), "results[0]: expected object"),
        (_mutate(["results", 0, "alternatives"], "x"), "results[0].alternatives: expected list"),
        (_mutate(["results", 0, "alternatives", 0, "words"], {}), "words: expected list"),
        (
            _mutate(["results", 0, "alternatives", 0, "words", 1, "word"], delete=True),
            "words[1].word",
        ),
        (
            _mutate(["results", 0, "alternatives", 0, "words", 1, "startTime"], "abc"),
            "words[1].startTime: not a number",
        ),
        (
            _mutate(["results", 0, "alternatives", 0, "words", 1, "startTime"], {"seconds": "x"}),
            "seconds/nanos",
        ),
        (
            _mutate(["results", 0, "alternatives", 0, "words", 1, "startTime"], {"minutes": 1}),
            "unexpected keys",
        ),
        (
            _mutate(["results", 0, "alternatives", 0, "words", 1, "startTime"], [1]),
            "expected seconds",
        ),
        (
            _mutate(["results", 0, "alternatives", 0, "words", 1, "endTime"], "0.05s"),
            "endTime before startTime",
        ),
        (_mutate(["results", 0, "alternatives", 0, "words", 1, "speakerTag"], "2"), "speakerTag"),
        (_mutate(["results", 0, "alternatives", 0, "words", 1, "confidence"], 3), "outside [0, 1]"),
        (_mutate(["results", 0, "channelTag"], 0), "channelTag"),
        (
            _mutate(["results", 0, "alternatives", 0, "transcript"], 1),
            "transcript: expected string",
        ),
    ],
)
def test_google_malformed(mutation: Any, reason: str) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_google_stt(mutation(GOOGLE_MIN), "g.json")
    assert reason in ei.value.reason and str(ei.value).startswith("g.json: ")


# ----------------------------------------------------------------------------- broken files


@pytest.mark.parametrize(
    ("name", "content", "line", "reason"),
    [
        ("broken.json", '{\n  "results": [\n    {"alternatives": [}\n', 3, "invalid JSON"),
        ("broken.aws.json", '{"results": {"items": [', 1, "invalid JSON"),
        ("empty.json", "", 1, "invalid JSON"),
        ("latin1.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\ncaf\xe9\n", 4, "not valid UTF-8"),
        ("binary.srt", b"1\n00:00:01,000 --> 00:00:02,000\n\x00\x01", 3, "NUL bytes"),
    ],
)
def test_broken_files(
    tmp_path: Path, name: str, content: str | bytes, line: int, reason: str
) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_transcript(_write(tmp_path, name, content))
    assert ei.value.line == line and reason in ei.value.reason
    assert str(ei.value).startswith(f"{name} line {line}: ")


def test_json_of_another_shape_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError):
        parse_transcript(_write(tmp_path, "x.json", '{"transcript": "hello"}'))
    with pytest.raises(TranscriptFormatError) as ei:  # .aws.json forces AWS: a clear error
        parse_transcript(_write(tmp_path, "x.aws.json", '{"results": []}'))
    assert "results: expected object" in ei.value.reason


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_transcript(tmp_path / "nope.vtt")
    assert "cannot read file" in str(ei.value) and "nope.vtt" in str(ei.value)


def _mutations(text: str, rng: random.Random, n: int) -> list[str]:
    lines = text.splitlines()
    out = []
    for _ in range(n):
        k = rng.randrange(4)
        if k == 0:
            out.append(text[: rng.randrange(len(text) + 1)])
        elif k == 1 and lines:
            i = rng.randrange(len(lines))
            out.append("\n".join(lines[:i] + lines[i + 1 :]))
        elif k == 2:
            i = rng.randrange(len(text) + 1)
            out.append(
                text[:i] + rng.choice(["-->", "<v ", ":", "\n\n", "<", "99", "</v>"]) + text[i:]
            )
        else:
            i = rng.randrange(len(text) + 1)
            out.append(text[:i] + text[i + rng.randrange(1, 8) :])
    return out


@pytest.mark.parametrize(
    "fixture",
    [
        WEBVTT_PY / "sample.vtt",
        WEBVTT_PY / "youtube_dl.vtt",
        WEBVTT_PY / "sample.srt",
        VTTJS / "integration__cycle-collector-talk.vtt",
        GOOGLE / "diarized.json",
    ],
    ids=lambda p: p.name,
)
def test_fuzzed_text_only_raises_transcript_format_error(fixture: Path) -> None:
    """Truncated / spliced files either parse or raise TranscriptFormatError, nothing else."""
    rng = random.Random(fixture.name)
    text = fixture.read_text(encoding="utf-8-sig")
    parser = {".vtt": parse_webvtt, ".srt": parse_srt}.get(fixture.suffix)
    ok = failed = 0
    for variant in _mutations(text, rng, 150):
        try:
            if parser is None:
                parse_google_stt(json.loads(variant), fixture.name)
            else:
                parser(variant, fixture.name)
            ok += 1
        except json.JSONDecodeError:
            continue
        except TranscriptFormatError as e:
            assert str(e).startswith(fixture.name)
            assert "unexpected structure" not in e.reason  # every failure has a specific reason
            failed += 1
    assert ok > 0 and failed > 0


def test_fuzzed_json_structure_only_raises_specific_errors() -> None:
    rng = random.Random(7)
    junk: list[Any] = [None, "", "x", -1, 1e309, [], {}, True, [{}], {"content": 1}]

    def paths(o: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        out = [prefix] if prefix else []
        if isinstance(o, dict):
            for k, v in o.items():
                out += paths(v, prefix + (k,))
        elif isinstance(o, list):
            for i, v in enumerate(o):
                out += paths(v, prefix + (i,))
        return out

    failed = 0
    for base, parse in ((AWS_SPEAKERS, parse_aws_transcribe), (GOOGLE_MIN, parse_google_stt)):
        all_paths = paths(base)
        for _ in range(300):
            p = list(rng.choice(all_paths))
            value = rng.choice(junk)
            try:
                parse(_mutate(p, value)(base), "fuzz.json")
            except TranscriptFormatError as e:
                assert "unexpected structure" not in e.reason, (p, value)
                failed += 1
    assert failed > 100


# ----------------------------------------------------------------------------- plain text


def test_text_with_speaker_lines() -> None:
    text = (
        "Agent: Thanks for calling.\nHow can I help?\n\n"
        "Customer: My card\nSPEAKER_3: hm\nCaller:\nstill there\n"
    )
    t = parse_text(text, "call.txt")
    assert t.diarised is True and t.duration is None
    assert [(s.speaker, s.start, s.end, s.text) for s in t.segments] == [
        (AGENT, 0.0, 0.0, "Thanks for calling. How can I help?"),
        (CUSTOMER, 0.0, 0.0, "My card"),
        ("SPEAKER_3", 0.0, 0.0, "hm"),
        (CUSTOMER, 0.0, 0.0, "still there"),
    ]  # equal start times keep file order


def test_text_without_speakers_is_one_undiarised_segment(tmp_path: Path) -> None:
    t = parse_transcript(
        _write(tmp_path, "call.txt", "Hello there.\nThe answer is: yes\n\n  bye \n")
    )
    assert t.source_format == "text" and t.diarised is False
    assert [(s.speaker, s.start, s.end, s.text) for s in t.segments] == [
        (UNKNOWN_SPEAKER, 0.0, 0.0, "Hello there. The answer is: yes bye")
    ]


@pytest.mark.parametrize("text", ["", "\n \n\t\n", "\ufeff"])
def test_text_empty_fails(text: str) -> None:
    with pytest.raises(TranscriptFormatError) as ei:
        parse_text(text, "call.txt")
    assert str(ei.value) == "call.txt line 1: empty file: no text"


# ----------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("label", "role"),
    [
        ("Agent", AGENT),
        ("AGENT_2", AGENT),
        ("Support agent", AGENT),
        ("Sales Rep", AGENT),
        ("rep", AGENT),
        ("Customer Service Representative", AGENT),
        ("operator", AGENT),
        ("Customer", CUSTOMER),
        ("caller", CUSTOMER),
        ("Client 1", CUSTOMER),
        ("ch_0", AGENT),
        ("ch_1", CUSTOMER),
        ("CH_1", CUSTOMER),
        ("ch_2", "ch_2"),
        ("spk_0", "spk_0"),
        ("Kyle Huey", "Kyle Huey"),
        ("Prepaid line", "Prepaid line"),
    ],
)
def test_speaker_role(label: str, role: str) -> None:
    assert speaker_role(label) == role


def test_speaker_role_map_wins_over_heuristics() -> None:
    assert speaker_role("Agent", {"Agent": CUSTOMER}) == CUSTOMER
    assert speaker_role("spk_1", {"SPK_1": AGENT}) == AGENT
    assert speaker_role("Caller", {"spk_0": AGENT}) == CUSTOMER
