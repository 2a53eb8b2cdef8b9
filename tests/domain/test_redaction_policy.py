"""The written redaction policy (README "Redaction policy"), behaviour by behaviour:
direct identifiers are always redacted, quasi-identifiers only when configured, and the
comparison with vanilla Presidio flags any policy type where callforge falls below it."""

from __future__ import annotations

import os

import pytest

from pipeline.domain.privacy.detectors.ages import detect_ages
from pipeline.domain.privacy.engine import Redactor
from pipeline.domain.privacy.evaluation import (
    POLICY_ALWAYS,
    POLICY_QUASI,
    EvalRow,
    compare_with_vanilla,
    comparison_markdown,
    direct_char_recall,
)
from pipeline.domain.privacy.spans import DIRECT_TYPES, ENTITY_TYPES, QUASI_TYPES, PiiSpan

for _k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_k, "1")


@pytest.fixture(scope="module")
def red() -> Redactor:
    return Redactor()


def test_policy_types_are_consistent():
    assert set(DIRECT_TYPES) | set(QUASI_TYPES) == set(ENTITY_TYPES)
    assert not set(DIRECT_TYPES) & set(QUASI_TYPES)
    assert set(DIRECT_TYPES) <= POLICY_ALWAYS and set(QUASI_TYPES) <= POLICY_QUASI


@pytest.mark.parametrize(("text", "value", "etype"), [
    ("Please wire it to GB33BUKB20201555555555 today.", "GB33BUKB20201555555555", "IBAN"),
    ("Just posted a photo http://www.DialForum.co.uk/", "http://www.DialForum.co.uk/", "URL"),
    ("my email got garbled to notly, and mampl.com", "mampl.com", "URL"),
    ("keep getting address 58.74.121.78 blocked", "58.74.121.78", "IP"),
    ("He is a 50 year old man from the north.", "50", "AGE"),
    ("i'm thirty two years old", "thirty two", "AGE"),
    ("patient aged 67 was seen", "67", "AGE"),
    ("We moved here from Denver last spring.", "Denver", "LOCATION"),
])
def test_direct_identifiers_are_always_redacted(red: Redactor, text: str, value: str, etype: str):
    res = red.redact(text)
    assert value not in res.text
    assert any(s.entity_type == etype and text[s.start:s.end].strip(" .") in (value, value.rstrip("/"))
               or s.start <= text.index(value) < s.end for s in res.spans)


@pytest.mark.parametrize("text", [
    "we have a twelve month plan", "that was 3 years ago", "you get 25 percent off",
    "the age of the account doesn't matter", "call back at four fifteen",
])
def test_ages_only_when_they_are_a_persons_age(text: str):
    assert detect_ages(text) == []


def test_quasi_identifiers_only_when_configured(red: Redactor):
    text = "I work at Microsoft and I'm a Catholic."
    assert "Microsoft" in red.redact(text).text  # not by default
    red_q = Redactor(quasi_identifiers=["ORGANIZATION", "NRP"])
    out = red_q.redact(text).text
    assert "Microsoft" not in out
    with pytest.raises(ValueError, match="quasi-identifier"):
        Redactor(quasi_identifiers=["SHOE_SIZE"])


def test_comparison_flags_policy_types_below_vanilla_only():
    rows = [EvalRow("a", "call bob at example.org", [], raw=[(5, 8, "PERSON"), (12, 23, "DOMAIN_NAME")]),
            EvalRow("b", "works at Acme", [], raw=[(9, 13, "ORGANIZATION")])]
    ours = {"s": [[PiiSpan(5, 8, "PERSON", 1.0)], []]}
    vanilla = {"s": [[PiiSpan(12, 23, "URL", 1.0)], [PiiSpan(9, 13, "ORGANIZATION", 1.0)]]}
    cmp = compare_with_vanilla({"s": rows}, ours, vanilla)
    # DOMAIN_NAME is policy (always) and worse; ORGANIZATION is quasi: not counted
    assert cmp["types_worse_than_vanilla"] == ["s:DOMAIN_NAME"]
    assert cmp["sets"]["s"]["per_type"]["ORGANIZATION"]["policy"] == "quasi"
    assert direct_char_recall(rows, ours["s"]) == round(3 / 14, 4)
    md = comparison_markdown(cmp)
    assert "| s | DOMAIN_NAME | always | 1 | 0.0 | 1.0 |" in md and "s:DOMAIN_NAME" in md
    assert "bob" not in md and "example" not in md  # numbers only
