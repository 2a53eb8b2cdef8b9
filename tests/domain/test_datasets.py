"""Dataset building: consent filter, turn merging, skip reasons, call-level splits."""

from __future__ import annotations

import json

import pytest

from pipeline.domain.core.models import AGENT, CUSTOMER, UNKNOWN_SPEAKER, Segment, Transcript
from pipeline.domain.learning.datasets import (
    DEFAULT_SYSTEM_PROMPT,
    LabelledCall,
    build_examples,
    dataset_version,
    read_chat_jsonl,
    split_by_call,
    to_dataset_dict,
    write_chat_jsonl,
)


def _transcript(*turns: tuple[str, str]) -> Transcript:
    segs = [Segment(speaker=s, start=float(i), end=float(i) + 0.9, text=t) for i, (s, t) in enumerate(turns)]
    return Transcript(source_format="asr", segments=segs)


def _call(cid: str, consent: bool = True, turns=None, intent: str | None = "card_arrival") -> LabelledCall:
    turns = turns or [(AGENT, "Hello, how can I help?"), (CUSTOMER, "My card has not arrived.")]
    return LabelledCall(cid, "acme", consent, _transcript(*turns), intent=intent, outcome="resolved")


def test_only_consented_calls_become_examples() -> None:
    examples, skipped = build_examples([_call("c1"), _call("c2", consent=False), _call("c3")])
    assert [e["call_id"] for e in examples] == ["c1", "c3"]
    assert skipped == [("c2", "no_training_consent")]


def test_messages_roles_and_merging() -> None:
    call = _call(
        "c1",
        turns=[
            (AGENT, "Hello."),
            (AGENT, "How can I help?"),
            (CUSTOMER, "I lost my card."),
            (CUSTOMER, "  Yesterday,   in town. "),
            (AGENT, "I have blocked it."),
            (CUSTOMER, "Thanks."),
        ],
    )
    [ex], skipped = build_examples([call], system_prompt="SYS")
    assert skipped == []
    assert ex["messages"] == [
        {"role": "system", "content": "SYS"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "I lost my card. Yesterday, in town."},
        {"role": "assistant", "content": "I have blocked it."},
        {"role": "user", "content": "Thanks."},
    ]
    assert ex["text"] == "I lost my card. Yesterday, in town. Thanks."
    assert (ex["tenant"], ex["intent"], ex["outcome"]) == ("acme", "card_arrival", "resolved")


def test_segments_are_ordered_by_time_before_merging() -> None:
    t = Transcript(
        source_format="asr",
        segments=[
            Segment(CUSTOMER, 2.0, 3.0, "second"),
            Segment(AGENT, 0.0, 1.0, "first"),
        ],
    )
    [ex], _ = build_examples([LabelledCall("c", "t", True, t)])
    assert [m["content"] for m in ex["messages"][1:]] == ["first", "second"]
    assert ex["messages"][0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        ([(AGENT, "Hello, anyone there?")], "no_customer_turn"),
        ([(AGENT, "  "), (CUSTOMER, "")], "empty_transcript"),
        ([(UNKNOWN_SPEAKER, "hello"), (CUSTOMER, "hi")], "unknown_speaker"),
    ],
)
def test_unusable_transcripts_are_skipped_with_reason(turns, reason) -> None:
    examples, skipped = build_examples([_call("bad", turns=turns), _call("good")])
    assert [e["call_id"] for e in examples] == ["good"]
    assert skipped == [("bad", reason)]


def test_duplicate_call_is_skipped() -> None:
    examples, skipped = build_examples([_call("c1"), _call("c1")])
    assert len(examples) == 1 and skipped == [("c1", "duplicate_call_id")]


def _examples(n: int, prefix: str = "call") -> list[dict]:
    examples, _ = build_examples([_call(f"{prefix}-{i:04d}") for i in range(n)])
    return examples


def test_split_never_puts_a_call_in_two_splits_and_covers_all() -> None:
    examples = _examples(200)
    # a second example for some calls (e.g. a re-labelled call) must follow its call
    examples += [dict(e, intent="other") for e in examples[:30]]
    splits = split_by_call(examples, seed=3)
    ids = {name: {e["call_id"] for e in rows} for name, rows in splits.items()}
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]
    assert sum(len(v) for v in splits.values()) == len(examples)
    assert 120 < len(ids["train"]) < 190 and ids["validation"] and ids["test"]


def test_split_is_stable_when_calls_are_added_and_depends_on_seed() -> None:
    small = split_by_call(_examples(50), seed=0)
    big = split_by_call(_examples(50) + _examples(50, prefix="new"), seed=0)
    where_small = {e["call_id"]: s for s, rows in small.items() for e in rows}
    where_big = {e["call_id"]: s for s, rows in big.items() for e in rows}
    assert all(where_big[c] == s for c, s in where_small.items())
    other_seed = split_by_call(_examples(50), seed=1)
    where_other = {e["call_id"]: s for s, rows in other_seed.items() for e in rows}
    assert where_other != where_small


@pytest.mark.parametrize("n", [3, 4, 5])
def test_small_sets_still_get_a_test_split(n: int) -> None:
    for seed in range(20):
        splits = split_by_call(_examples(n), seed=seed)
        assert splits["test"], (n, seed)
        assert splits["validation"], (n, seed)
        assert splits["train"], (n, seed)


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.1, 0.2), (1.2, -0.1, -0.1)])
def test_split_rejects_bad_fractions(fractions) -> None:
    with pytest.raises(ValueError, match="fractions"):
        split_by_call(_examples(5), fractions=fractions)


def test_split_rejects_example_without_call_id() -> None:
    with pytest.raises(ValueError, match="#1 has no call_id"):
        split_by_call([{"call_id": "a"}, {"text": "x"}])


def test_jsonl_roundtrip_and_bad_file(tmp_path) -> None:
    examples = _examples(3)
    path = tmp_path / "out" / "train.jsonl"
    assert write_chat_jsonl(examples, path) == 3
    assert read_chat_jsonl(path) == examples
    assert [json.loads(line)["call_id"] for line in path.read_text().splitlines()] == [e["call_id"] for e in examples]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(examples[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_chat_jsonl(bad)


def test_dataset_dict_has_fixed_schema_even_for_empty_splits() -> None:
    examples = _examples(10)
    examples[0]["intent"] = None
    dd = to_dataset_dict({"train": examples, "validation": [], "test": examples[:2]})
    assert set(dd) == {"train", "validation", "test"}
    assert dd["train"].num_rows == 10 and dd["validation"].num_rows == 0
    assert dd["validation"].column_names == dd["train"].column_names
    assert dd["train"][1]["messages"][2] == {"role": "user", "content": "My card has not arrived."}
    assert dd["train"][0]["intent"] is None
    with pytest.raises(ValueError, match="unknown split"):
        to_dataset_dict({"training": examples})


def test_dataset_version_is_order_independent_and_content_sensitive() -> None:
    examples = _examples(5)
    v = dataset_version(examples)
    assert v == dataset_version(list(reversed(examples)))
    changed = [dict(examples[0], intent="lost_card")] + examples[1:]
    assert dataset_version(changed) != v
