"""Labelling domain: label configs, tasks from redacted transcripts, annotation records
(pseudonyms, weights), agreement (kappa, alpha) and consensus."""

from __future__ import annotations

import pytest

from pipeline.domain.core.models import AGENT, CUSTOMER, Segment, Transcript, Word
from pipeline.domain.learning import labelling as lab


def _transcript() -> Transcript:
    segs = [
        Segment(AGENT, 0.0, 2.0, "thank you for calling, this call may be recorded",
                [Word("thank", 0.0, 0.3, 0.95), Word("you", 0.3, 0.5, 0.4)]),
        Segment(CUSTOMER, 2.1, 5.0, "hi my name is [PERSON] and I lost my card",
                [Word("hi", 2.1, 2.3, 0.3), Word("lost", 3.0, 3.3, 0.2), Word("card", 3.5, 3.9, 0.9)]),
        Segment(AGENT, 5.2, 8.0, "I have blocked it for you", [Word("blocked", 5.5, 6.0, 0.99)]),
    ]
    return Transcript(source_format="asr", call_id="c1", segments=segs)


def test_label_configs_are_versioned_by_content(tmp_path):
    cfgs = {p: lab.label_config(p) for p in lab.PROJECTS}
    assert len({c.version for c in cfgs.values()}) == 3
    for c in cfgs.values():
        assert c.xml.lstrip().startswith("<!--") and "<View>" in c.xml
    (tmp_path / "segment_qa.xml").write_text(cfgs["segment_qa"].xml + "\n<!-- changed -->")
    assert lab.label_config("segment_qa", tmp_path).version != cfgs["segment_qa"].version
    with pytest.raises(lab.LabellingError, match="unknown labelling project"):
        lab.label_config("sentiment")


def test_tasks_carry_stable_keys_and_versions():
    t = _transcript()
    call = lab.call_labelling_task("c1", "acme", t, ["card_lost"], ["resolved"], "v1")
    assert call["data"]["task_key"] == "call_labelling:c1"
    assert [d["speaker"] for d in call["data"]["dialogue"]] == [AGENT, CUSTOMER, AGENT]
    qa = lab.segment_qa_tasks("c1", "acme", t, "/a.wav", "v2", assessments={2: "Good"})
    assert [x["data"]["task_key"] for x in qa] == ["segment_qa:c1:0", "segment_qa:c1:2"]  # agent segments only
    assert [x["data"]["ai_assessment"] for x in qa] == ["unassessed", "Good"]
    asr = lab.asr_correction_tasks("c1", "acme", t, "/a.wav", "v3", max_tasks=1)
    assert len(asr) == 1 and asr[0]["data"]["segment"] == 1  # the least confident segment first
    assert asr[0]["predictions"][0]["result"][0]["value"]["text"] == [t.segments[1].text]
    again = lab.asr_correction_tasks("c1", "acme", t, "/a.wav", "v3", max_tasks=1)
    assert again[0]["data"]["task_key"] == asr[0]["data"]["task_key"]
    with pytest.raises(lab.LabellingError, match="at least one intent"):
        lab.call_labelling_task("c1", "acme", t, [], ["resolved"], "v1")


def _qa_task(start=5.2, end=8.0):
    return {"id": 7, "data": {"task_key": "segment_qa:c1:2", "project": "segment_qa", "call_id": "c1",
                              "label_config_version": "abc", "segment": 2, "start": start, "end": end,
                              "ai_assessment": "Good"}}


def _ann(result, uid=3, ts="2026-12-01T10:00:00Z", aid=11):
    return {"id": aid, "completed_by": uid, "result": result, "lead_time": 12.5, "created_at": ts, "updated_at": ts}


def _choice(name, value, to="segment"):
    return {"from_name": name, "to_name": to, "type": "choices", "value": {"choices": [value]}}


@pytest.mark.parametrize(("result", "weight", "kind"), [
    ([_choice("verdict", "agree")], 0.5, "agreement"),
    ([_choice("verdict", "disagree"), _choice("disagreement_reason", "too_harsh")], 1.0, "correction"),
    ([_choice("verdict", "disagree"), _choice("disagreement_reason", "false_positive")], 1.0, "false_positive"),
    ([_choice("verdict", "agree"), {"from_name": "timestamp_start", "to_name": "segment", "type": "number",
                                    "value": {"number": 6.0}}], 1.0, "timestamp_fix"),
])
def test_segment_weights_follow_seed_003(result, weight, kind):
    rec = lab.annotation_record(_qa_task(), _ann(result), salt="s")
    assert (rec["weight"], rec["kind"]) == (weight, kind)
    assert rec["lead_time_s"] == 12.5 and rec["label_config_version"] == "abc"
    if kind in ("correction", "false_positive"):
        assert rec["disagreement_reason"] == result[1]["value"]["choices"][0]


def test_annotators_are_pseudonymised_and_versions_change_on_edit():
    a = lab.annotation_record(_qa_task(), _ann([_choice("verdict", "agree")], uid=3), salt="k1")
    b = lab.annotation_record(_qa_task(), _ann([_choice("verdict", "agree")], uid=3), salt="k2")
    assert a["annotator"].startswith("ann_") and "3" != a["annotator"] and a["annotator"] != b["annotator"]
    edited = lab.annotation_record(_qa_task(), _ann([_choice("verdict", "disagree")], uid=3,
                                                    ts="2026-12-01T11:00:00Z"), salt="k1")
    assert edited["version"] != a["version"] and edited["annotation_id"] == a["annotation_id"]
    assert lab.latest_per_annotator([a, edited])[0]["labels"]["verdict"] == "disagree"


def test_bad_annotations_are_refused_with_a_reason():
    with pytest.raises(lab.LabellingError, match="not a callforge task"):
        lab.annotation_record({"id": 1, "data": {"text": "x"}}, _ann([]), salt="s")
    with pytest.raises(lab.LabellingError, match="without a verdict"):
        lab.annotation_record(_qa_task(), _ann([_choice("segment_type", "agent_action")]), salt="s")


def test_cohen_kappa_known_values():
    assert lab.cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == 1.0
    # 4 items, po = 0.5, pe = 0.5 -> 0
    assert lab.cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == 0.0
    # textbook: 50 items, 20 yes/yes, 15 no/no, 5 yes/no, 10 no/yes -> kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert lab.cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-4)
    with pytest.raises(ValueError):
        lab.cohen_kappa(["a"], [])


def test_krippendorff_alpha_known_values():
    assert lab.krippendorff_alpha([["a", "a"], ["b", "b", "b"], ["c", "c"]]) == 1.0
    # Krippendorff (2011) nominal example with missing data: alpha = 0.743
    units = [["1", "1", "1"], ["2", "2", "3", "2"], ["3", "3", "3", "3"], ["3", "3", "3", "3"],
             ["2", "2", "2", "2"], ["1", "2", "3", "4"], ["4", "4", "4", "4"], ["1", "1", "2", "1"],
             ["2", "2", "2", "2"], ["5", "5", "5"], ["1", "1"], ["3"]]
    assert lab.krippendorff_alpha(units) == pytest.approx(0.743, abs=0.001)
    assert lab.krippendorff_alpha([["a"]]) is None


def _call_rec(call, annotator, intent, ts="2026-12-01T10:00:00Z"):
    return {"task_key": f"call_labelling:{call}", "annotator": annotator, "project": "call_labelling",
            "call_id": call, "labels": {"intent": intent, "outcome": "resolved"}, "updated_at": ts}


def test_agreement_uses_kappa_for_two_and_alpha_for_more_annotators():
    two = [_call_rec("c1", "A", "x"), _call_rec("c1", "B", "x"), _call_rec("c2", "A", "y"),
           _call_rec("c2", "B", "z"), _call_rec("c3", "A", "y"), _call_rec("c3", "B", "y")]
    rep = lab.agreement(two)
    assert rep["call_labelling/intent"]["method"] == "cohen_kappa" and rep["call_labelling/intent"]["items"] == 3
    assert rep["call_labelling/outcome"]["value"] == 1.0
    assert 0 < rep["call_labelling/intent"]["value"] < 1
    three = [*two, _call_rec("c1", "C", "x")]
    assert lab.agreement(three)["call_labelling/intent"]["method"] == "krippendorff_alpha"
    dis = lab.disagreements(two)
    assert [(d["task_key"], d["field"]) for d in dis] == [("call_labelling:c2", "intent")]


def test_consensus_is_the_majority_then_the_latest():
    recs = [_call_rec("c1", "A", "x", "t1"), _call_rec("c1", "B", "y", "t2"), _call_rec("c1", "C", "x", "t0"),
            _call_rec("c2", "A", "p", "t1"), _call_rec("c2", "B", "q", "t3")]
    cons = lab.consensus_labels(recs)
    assert cons["c1"]["intent"] == "x" and cons["c2"]["intent"] == "q"


def test_task_texts_are_the_transcript_content_at_any_depth():
    t = lab.call_labelling_task("c1", "acme", _transcript(), ["card_lost"], ["resolved"], "v1")
    texts = lab.task_texts(t)
    assert "hi my name is [PERSON] and I lost my card" in texts and "card_lost" not in texts
    asr = lab.asr_correction_tasks("c1", "acme", _transcript(), "/d/?d=silver/2026-11-02/c1.wav", "v3")[0]
    texts = lab.task_texts(asr)
    assert texts.count(_transcript().segments[1].text) == 2  # the segment and its pre-filled prediction
    assert not any("2026" in x for x in texts)
