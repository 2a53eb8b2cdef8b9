"""Curation of training datasets: filters, customer splits, dedupe, balance, format checks, card."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.domain.learning.curation import (
    DEFAULT_REDACTION_STATEMENT,
    assign_splits,
    by_split,
    call_ids_hash,
    check_chat_format,
    check_classification_format,
    check_no_leakage,
    class_balance,
    dataset_card,
    dedupe,
    filter_rows,
    near_duplicates_across,
    raise_on_problems,
    read_jsonl,
    summarise_problems,
    to_hf,
    write_jsonl,
)
from pipeline.domain.learning.datasets import split_by_call

SIMPLE_TEMPLATE = (
    "{% for m in messages %}"
    "{% if 'EXPLODE' in m['content'] %}{{ raise_exception('cannot render this message') }}{% endif %}"
    "<|{{ m['role'] }}|>{{ m['content'] }}\n"
    "{% endfor %}"
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from pipeline.domain.learning.training import default_base_model_path

    tok = AutoTokenizer.from_pretrained(default_base_model_path())
    tok.chat_template = SIMPLE_TEMPLATE
    return tok


def cls_row(call_id, text="my card has not arrived", label="card_arrival", customer_id=None,
            task="intent", weight=1.0, split=None, source="call"):
    row = {"call_id": call_id, "customer_id": customer_id, "text": text, "label": label,
           "task": task, "weight": weight, "source": source}
    if split:
        row["split"] = split
    return row


def chat_row(call_id, messages=None, customer_id=None, weight=1.0, split=None, source="call"):
    messages = messages if messages is not None else [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "My card has not arrived."},
        {"role": "assistant", "content": "I will send a new one."},
    ]
    row = {"call_id": call_id, "customer_id": customer_id, "messages": messages, "weight": weight, "source": source}
    if split:
        row["split"] = split
    return row


# ---------------------------------------------------------------------------- filter


def test_filter_drops_with_reason_codes_and_keeps_the_rest():
    ok = {"consent_training": True, "quality_passed": True, "redaction_verified": True, "wer": 0.1}
    meta = {
        "ok": ok,
        "ok_nower": {**ok, "wer": None},
        "ok_nanwer": {**ok, "wer": float("nan")},
        "noconsent": {**ok, "consent_training": False},
        "badq": {**ok, "quality_passed": False},
        "unred": {**ok, "redaction_verified": False},
        "partial": {"consent_training": True, "quality_passed": True},  # redaction flag missing
        "highwer": {**ok, "wer": 0.4},
        "everything_bad": {"consent_training": False, "quality_passed": False, "redaction_verified": False, "wer": 0.9},
    }
    ids = ["ok", "ok_nower", "ok_nanwer", "noconsent", "badq", "unred", "partial", "highwer",
           "everything_bad", "ghost", None, "ok"]
    rows = [cls_row(c) for c in ids]
    kept, dropped = filter_rows(rows, meta, max_wer=0.25)
    assert [r["call_id"] for r in kept] == ["ok", "ok_nower", "ok_nanwer", "ok"]
    assert dropped == [
        ("noconsent", "no_training_consent"),
        ("badq", "quality_failed"),
        ("unred", "redaction_unverified"),
        ("partial", "redaction_unverified"),
        ("highwer", "wer_above_bound"),
        ("everything_bad", "no_training_consent"),
        ("ghost", "unknown_call"),
        (None, "missing_call_id"),
    ]
    assert len(kept) + len(dropped) == len(rows)  # never silently dropped
    kept, dropped = filter_rows([cls_row("highwer")], meta, max_wer=None)
    assert len(kept) == 1 and dropped == []


# ---------------------------------------------------------------------------- splits


def _customer_rows(n_customers, calls_each=3, start=0):
    rows = []
    for c in range(start, start + n_customers):
        for k in range(calls_each):
            text = f"customer {c} call {k} text"
            rows.append(cls_row(f"call-{c}-{k}", text, customer_id=f"cust-{c}"))
            rows.append(cls_row(f"call-{c}-{k}", text, customer_id=f"cust-{c}", task="outcome", label="resolved"))
    return rows


def test_split_by_customer_keeps_each_customer_in_one_split_and_is_stable():
    rows = _customer_rows(300) + [cls_row(f"solo-{i}") for i in range(100)]
    out = assign_splits(rows, seed=7)
    assert len(out) == len(rows) and all("split" not in r for r in rows)  # inputs untouched
    splits_of = {}
    for r in out:
        splits_of.setdefault(r["customer_id"] or r["call_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    counts = {s: sum(1 for v in splits_of.values() if s in v) for s in ("train", "validation", "test")}
    assert counts["train"] > 250 and counts["validation"] > 15 and counts["test"] > 15
    assert check_no_leakage(out) == []

    # adding new customers (and calls) moves nobody
    more = assign_splits(_customer_rows(200, start=300) + rows + [cls_row("solo-new")], seed=7)
    before = {(r["call_id"], r["task"]): r["split"] for r in out}
    after = {(r["call_id"], r["task"]): r["split"] for r in more}
    assert all(after[k] == v for k, v in before.items())
    # deterministic, seed-dependent
    assert assign_splits(rows, seed=7) == out
    assert [r["split"] for r in assign_splits(rows, seed=8)] != [r["split"] for r in out]


def test_customerless_calls_hash_like_split_by_call():
    rows = [cls_row(f"solo-{i}") for i in range(60)]
    mine = {r["call_id"]: r["split"] for r in assign_splits(rows, seed=3)}
    # split_by_call may move boundary calls only when a split is empty; with 60 calls none is
    theirs = {r["call_id"]: s for s, rs in split_by_call(rows, seed=3).items() for r in rs}
    assert mine == theirs


def test_a_call_with_two_customers_is_an_error_and_fractions_are_validated():
    with pytest.raises(ValueError, match="two different customers"):
        assign_splits([cls_row("c1", customer_id="a"), cls_row("c1", customer_id="b")])
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits([cls_row("c1")], fractions=(0.5, 0.1, 0.1))
    # a call with the customer on one row only still follows the customer
    rows = assign_splits([cls_row("c1", customer_id="a"), cls_row("c1"), cls_row("c2", customer_id="a")])
    assert len({r["split"] for r in rows}) == 1


def test_check_no_leakage_finds_a_planted_leak():
    out = assign_splits(_customer_rows(50), seed=1)
    assert check_no_leakage(out) == []
    victim = out[0]
    other = "test" if victim["split"] != "test" else "train"
    # another call of the same customer planted in another split: a customer leak only
    idx = next(i for i, r in enumerate(out) if r["customer_id"] == victim["customer_id"] and r["call_id"] != victim["call_id"])
    leaked = [dict(r) for r in out]
    leaked[idx]["split"] = other
    found = check_no_leakage(leaked)
    assert ("customer", victim["customer_id"], sorted({victim["split"], other})) in found
    assert all(kind == "call" for kind, ident, _ in found if ident != victim["customer_id"])
    # one row of a call moved: the call leaks too
    leaked[0]["split"] = other
    assert any(kind == "call" and ident == victim["call_id"] for kind, ident, _ in check_no_leakage(leaked))
    with pytest.raises(ValueError, match="no split"):
        check_no_leakage([cls_row("c1")])


# ---------------------------------------------------------------------------- dedupe


def test_exact_duplicates_within_and_across_splits():
    rows = [
        cls_row("t1", "My card  has NOT arrived", split="test"),
        cls_row("a1", "my card has not arrived", split="train", weight=0.5),
        cls_row("a2", "my card has not arrived ", split="train", weight=1.0),  # higher weight wins
        cls_row("v1", "MY CARD HAS NOT ARRIVED", split="validation", label="lost_card"),
        cls_row("a3", "my card has not arrived", task="outcome", label="resolved", split="train"),  # other task
        cls_row("t2", "unrelated text", split="test"),
        chat_row("c1", split="test"),
        chat_row("c2", split="validation"),
    ]
    kept, report = dedupe(rows)
    assert [r["call_id"] for r in kept] == ["a2", "a3", "t2", "c2"]
    assert report["dropped"]["exact"] == {"test": 2, "train": 1, "validation": 1}
    assert report["cross_split"]["exact"] == 3
    assert report["label_conflicts"] == 1
    assert report["rows_in"] == 8 and report["rows_out"] == 4 and report["near_checked"] is False
    assert ("t1", "exact", "a2") in report["dropped_rows"]


def _unit(deg):
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg)), 0.0, 0.0]


@pytest.mark.parametrize("block", [1, 2, 1024])
def test_near_duplicates_drop_the_eval_side_copy(block):
    rows = [
        cls_row("t-near", "text a", split="test"),
        cls_row("x-far", "text b", split="test"),
        cls_row("tr", "text c", split="train"),
        cls_row("v-near", "text d", split="validation"),
        cls_row("o", "text e", split="test", task="outcome", label="resolved"),  # other task: not compared
    ]
    # cosines with "tr": t-near 0.97, v-near cos(10deg)=0.985, x-far cos(25deg)=0.906; "o" identical but other task
    emb = np.array([
        [0.97, math.sqrt(1 - 0.97 ** 2), 0, 0],
        _unit(-25), _unit(0), _unit(10), _unit(0),
    ]) * 3.0  # not normalised on purpose
    assert near_duplicates_across(rows, emb, 0.95) != []
    kept, report = dedupe(rows, embeddings=emb, threshold=0.95, block=block)
    ids = [r["call_id"] for r in kept]
    assert ids == ["x-far", "tr", "o"]
    assert report["dropped"]["near"] == {"test": 1, "validation": 1}
    assert report["cross_split"]["near"] == 2
    keep_idx = [i for i, r in enumerate(rows) if r["call_id"] in ids]
    assert near_duplicates_across(kept, emb[keep_idx], 0.95) == []


@pytest.mark.parametrize("block", [1, 1024])
def test_near_dedupe_is_greedy_not_transitive(block):
    # a~b and b~c but a!~c: b goes, c stays (its only near-duplicate was removed)
    rows = [cls_row(c, f"text {c}", split="train") for c in "abc"]
    emb = np.array([_unit(0), _unit(15), _unit(30)])
    kept, _ = dedupe(rows, embeddings=emb, threshold=math.cos(math.radians(20)), block=block)
    assert [r["call_id"] for r in kept] == ["a", "c"]


def test_no_eval_row_has_a_near_duplicate_in_train_on_random_data():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(150, 32))
    noisy = base[rng.integers(0, 150, 150)] + rng.normal(scale=0.05, size=(150, 32))
    emb = np.vstack([base, noisy])
    rows = assign_splits([cls_row(f"c{i}", f"text {i}", customer_id=f"u{i % 97}") for i in range(300)], seed=0)
    assert near_duplicates_across(rows, emb, 0.95)  # planted
    kept, report = dedupe(rows, embeddings=emb, threshold=0.95, block=64)
    idx = [int(r["call_id"][1:]) for r in kept]
    assert near_duplicates_across(kept, emb[idx], 0.95) == []
    e = emb[idx] / np.linalg.norm(emb[idx], axis=1, keepdims=True)
    sims = e @ e.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.95  # kept rows pairwise distinct
    assert report["rows_out"] == len(kept) < 300


def test_dedupe_rejects_bad_embeddings_and_mixed_splits():
    rows = [cls_row("a", "x"), cls_row("b", "y")]
    with pytest.raises(ValueError, match="all zeros"):
        dedupe(rows, embeddings=np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="one row per row"):
        dedupe(rows, embeddings=np.ones((3, 2)))
    with pytest.raises(ValueError, match="some rows have a split"):
        dedupe([cls_row("a", "x", split="train"), cls_row("b", "y")])


# ---------------------------------------------------------------------------- balance


def test_class_balance_counts_ratio_and_missing_labels():
    rows = ([cls_row(f"a{i}", label="card", split="train") for i in range(6)]
            + [cls_row(f"b{i}", label="loan", split="train") for i in range(2)]
            + [cls_row("c0", label="card", split="validation")]
            + [cls_row("d0", label="loan", split="test"), cls_row("d1", label="fraud", split="test")])
    bal = class_balance(rows)
    assert bal["counts"] == {"train": {"card": 6, "loan": 2}, "validation": {"card": 1},
                             "test": {"fraud": 1, "loan": 1}}
    assert bal["totals"] == {"card": 7, "fraud": 1, "loan": 3}
    assert bal["imbalance_ratio"] == {"train": 3.0, "validation": 1.0, "test": 1.0, "all": 7.0}
    assert bal["missing"] == {"train": ["fraud"], "validation": ["fraud", "loan"], "test": ["card"]}
    assert "| card | 6 | 1 | 0 | 7 |" in bal["markdown"]
    assert "| **total** | 8 | 1 | 2 | 11 |" in bal["markdown"]
    # an empty split is reported as such
    bal = class_balance([cls_row("a", split="train")])
    assert bal["counts"]["test"] == {} and bal["missing"]["test"] == ["card_arrival"]


# ---------------------------------------------------------------------------- format


def _codes(problems):
    return {(i, code) for i, _, code, _ in problems}


def test_chat_format_catches_each_problem_class(tokenizer):
    S = {"role": "system", "content": "sys"}

    def u(t="hello"):
        return {"role": "user", "content": t}

    def a(t="hi there"):
        return {"role": "assistant", "content": t}

    rows = [
        chat_row("ok", [S, u(), a(), u(), a()]),                                      # 0 fine
        chat_row("order", [S, a(), u(), a()]),                                        # 1 assistant first
        chat_row("alt", [S, u(), u("again"), a()]),                                   # 2 not alternating
        chat_row("empty", [S, u("   "), a()]),                                        # 3 empty turn
        chat_row("noasst", [S, u()]),                                                 # 4 no assistant
        chat_row("long", [S, u("word " * 200), a()]),                                 # 5 too many tokens
        chat_row("tmpl", [S, u("EXPLODE"), a()]),                                     # 6 template failure
        chat_row("role", [S, {"role": "agent", "content": "x"}, a()]),                # 7 bad role
        chat_row("sys", [u(), S, a()]),                                               # 8 system mid-chat
        chat_row("nomsg", []),                                                        # 9 no messages
        chat_row("weight", [S, u(), a()], weight=0),                                  # 10 bad weight
        chat_row("notdict", [S, u(), "oops"]),                                        # 11 bad message
    ]
    problems = check_chat_format(rows, tokenizer, max_tokens=64)
    assert _codes(problems) == {
        (1, "first_not_user"), (2, "roles_not_alternating"), (3, "empty_content"),
        (4, "no_assistant_turn"), (5, "too_many_tokens"), (6, "template_error"), (7, "bad_role"),
        (8, "system_not_first"), (9, "messages_not_a_list"), (10, "bad_weight"), (11, "bad_message"),
    }
    assert all(p[1] == rows[p[0]]["call_id"] for p in problems)
    assert "cannot render" in next(p[3] for p in problems if p[2] == "template_error")
    assert summarise_problems(problems)["too_many_tokens"] == 1
    with pytest.raises(ValueError, match="11 format problem"):
        raise_on_problems(problems, "chat")
    raise_on_problems(check_chat_format(rows[:1], tokenizer, 64))  # no problems: no error
    # the token bound is the rendered chat's token count
    rendered = tokenizer.apply_chat_template(rows[0]["messages"], tokenize=False)
    n = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert check_chat_format(rows[:1], tokenizer, n) == []
    assert _codes(check_chat_format(rows[:1], tokenizer, n - 1)) == {(0, "too_many_tokens")}


def test_chat_format_without_a_template_fails_every_row(tokenizer):
    from transformers import AutoTokenizer

    from pipeline.domain.learning.training import default_base_model_path

    bare = AutoTokenizer.from_pretrained(default_base_model_path())
    bare.chat_template = None
    problems = check_chat_format([chat_row("a"), chat_row("b")], bare, 512)
    assert _codes(problems) == {(0, "template_error"), (1, "template_error")}


def test_classification_format(tokenizer):
    rows = [
        cls_row("ok"),
        cls_row("empty", text="  "),
        cls_row("nolabel", label=None),
        cls_row("task", task="sentiment"),
        cls_row("w", weight=-1.0),
        cls_row("wnan", weight=float("nan")),
        cls_row("long", text="word " * 100),
    ]
    problems = check_classification_format(rows, max_tokens=64, tokenizer=tokenizer)
    assert _codes(problems) == {(1, "empty_text"), (2, "missing_label"), (3, "bad_task"),
                                (4, "bad_weight"), (5, "bad_weight"), (6, "too_many_tokens")}
    assert (6, "too_many_tokens") not in _codes(check_classification_format(rows, max_tokens=64))


# ---------------------------------------------------------------------------- card and export


def test_dataset_card_has_lineage_and_counts_but_no_customer_ids():
    rows = assign_splits(_customer_rows(40) + [cls_row("solo-1")], seed=0)
    secret = {r["customer_id"] for r in rows if r["customer_id"]}
    ok = {"consent_training": True, "quality_passed": True, "redaction_verified": True, "wer": 0.1}
    meta = {r["call_id"]: ok for r in rows}
    meta["call-0-0"] = {**ok, "consent_training": False}
    kept, dropped = filter_rows(rows, meta)
    kept, report = dedupe(kept)
    assert report["rows_out"] == report["rows_in"] == len(kept)
    intent = [r for r in kept if r["task"] == "intent"]
    card = dataset_card(
        name="intent-v1", rows_by_split=by_split(kept), created_at="2025-01-02T03:04:05Z",
        code_version="abc123", annotation_versions={"dojo": "seed-003@v2"},
        filter_drops=dropped, filters={"max_wer": 0.25}, dedupe_report=report,
        format_problems=check_classification_format(kept, 64),
    )
    n_calls, digest = call_ids_hash(kept)
    assert f"calls: {n_calls}" in card and digest in card
    assert "dataset version: `ds-" in card and "2025-01-02T03:04:05Z" in card and "`abc123`" in card
    assert "dojo: `seed-003@v2`" in card and "max_wer: 0.25" in card
    assert "no_training_consent: 2" in card  # intent + outcome row of the unconsented call
    assert "### task: intent" in card and "### task: outcome" in card
    assert f"| **total** | {sum(r['split'] == 'train' for r in intent)} |" in card
    assert "PASS (0 problems)" in card and DEFAULT_REDACTION_STATEMENT in card
    assert "customers: 40" in card
    leaked = [c for c in secret if c in card]
    assert leaked == []
    # explicit version wins; chat rows are counted by source
    chat = assign_splits([chat_row("c1", customer_id="cust-x"), chat_row("c2", source="dojo", weight=0.5)])
    card = dataset_card(name="sft", rows_by_split=by_split(chat), created_at="t", code_version="v",
                        version="ds-fixed", format_problems=[(0, "c1", "bad_role", "x")])
    assert "`ds-fixed`" in card and "| source |" in card and "BLOCKED: 1 problem" in card
    assert "cust-x" not in card


def test_to_hf_and_jsonl_roundtrip(tmp_path):
    rows = assign_splits([cls_row(f"c{i}", f"text {i}", customer_id=f"u{i}") for i in range(20)])
    dd = to_hf(by_split(rows))
    assert set(dd) == {"train", "validation", "test"}
    assert sum(len(d) for d in dd.values()) == 20
    assert dd["train"].features["weight"].dtype == "float64"
    chat = [dict(chat_row("c1"), split="train", extra_note="n")]
    dd = to_hf(by_split(chat))
    assert dd["train"][0]["messages"][1] == {"role": "user", "content": "My card has not arrived."}
    assert len(dd["test"]) == 0 and "messages" in dd["test"].features
    with pytest.raises(ValueError, match="kind"):
        to_hf({"train": []})
    path = tmp_path / "out" / "train.jsonl"
    assert write_jsonl(rows, path) == 20
    assert read_jsonl(path) == rows
