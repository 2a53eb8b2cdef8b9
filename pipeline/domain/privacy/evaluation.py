"""Redaction quality: score the redaction engine against labelled PII sets.

Used by the ``silver/redaction_quality_report`` asset and ``benchmarks/redaction.py``, so
the number a compliance officer sees in the Dagster UI is the number the benchmark prints.

Labelled sets (``pipeline/domain/data/pii/``, see the README there):

* ``spoken``  — utterances in spoken call-centre (ASR) form, generated with the engine;
* ``holdout`` — the same kind, written independently of the engine (a fairer figure;
  its errors were later looked at, so it is no longer blind);
* ``holdout2`` — a second independent set, scored once, never tuned against;
* ``generated_small`` — presidio-research's generated sample (written English, mostly
  non-US addresses); its types are mapped to ours (:data:`GEN_MAP`) and out-of-scope types
  (a city, a company, a title) are *neutral*: not counted for recall, and a prediction
  overlapping one is not held against precision.

Metrics:

* span recall — a gold span is found when >= 50% of its characters are covered by
  predicted spans (type-agnostic: a phone labelled ACCOUNT still hides the value);
* precision — predicted spans overlapping a gold span / predicted spans;
* char recall — covered gold characters / gold characters; ``char_recall_critical`` is the
  same over PHONE, CARD, SSN and EMAIL only;
* per entity — recall per gold type, precision per predicted type, n = gold spans.

Reports carry numbers, row ids and offsets only. :func:`errors` returns the missed and
false-positive *text* for development (``benchmarks/redaction.py --errors``); the sets
are synthetic, but that output still does not belong in run metadata.

Pure domain module: no dagster import.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "pii"
DEFAULT_SETS: dict[str, Path] = {
    "spoken": DATA_DIR / "spoken.jsonl",
    "holdout": DATA_DIR / "spoken_holdout.jsonl",
    "holdout2": DATA_DIR / "spoken_holdout2.jsonl",
    "generated_small": DATA_DIR / "generated_small.json",
    "address_holdout": DATA_DIR / "spoken_address_holdout.jsonl",
}
GEN_MAP = {"PERSON": "PERSON", "ADDRESS": "ADDRESS", "PHONE_NUMBER": "PHONE",
           "CREDIT_CARD": "CARD", "US_SSN": "SSN", "EMAIL_ADDRESS": "EMAIL",
           "DATE_TIME": "DATE_OF_BIRTH", "US_DRIVER_LICENSE": "ACCOUNT", "IP_ADDRESS": "ACCOUNT"}
CRITICAL = frozenset({"PHONE", "CARD", "SSN", "EMAIL"})
# The targets; settings may override them (redaction.quality_targets).
DEFAULT_TARGETS = {"char_recall_critical": 0.99, "span_recall": 0.95, "precision": 0.85}


class EvalSetError(ValueError):
    """A labelled set that cannot be read; the message names the file and line."""


@dataclass
class EvalRow:
    id: str
    text: str
    gold: list[tuple[int, int, str]]
    neutral: list[tuple[int, int, str]] = field(default_factory=list)
    #: every labelled span with the set's own type name (for the per-type comparison)
    raw: list[tuple[int, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.raw:
            self.raw = list(self.gold)


def load_spoken(path: Path) -> list[EvalRow]:
    """Rows of a spoken-form JSONL set: ``{"id", "text", "spans": [{start, end, entity_type}]}``."""
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            text = d["text"]
            gold = [(int(s["start"]), int(s["end"]), str(s["entity_type"])) for s in d["spans"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise EvalSetError(f"{path}:{n}: not a labelled utterance ({type(e).__name__}: {e})") from e
        for s, e_, t in gold:
            if not 0 <= s < e_ <= len(text):
                raise EvalSetError(f"{path}:{n}: span {s}-{e_} ({t}) outside the text")
        rows.append(EvalRow(str(d.get("id", f"line-{n}")), text, gold))
    return rows


def load_presidio_research(path: Path) -> list[EvalRow]:
    """Rows of a presidio-research generated set (``full_text`` + ``spans``), types mapped."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EvalSetError(f"{path}:{e.lineno}: not JSON ({e.msg})") from e
    rows = []
    for i, d in enumerate(data):
        gold, neutral = [], []
        for s in d.get("spans", []):
            t = GEN_MAP.get(s["entity_type"])
            span = (int(s["start_position"]), int(s["end_position"]))
            (gold.append((*span, t)) if t else neutral.append((*span, s["entity_type"])))
        raw = [(int(s["start_position"]), int(s["end_position"]), str(s["entity_type"])) for s in d.get("spans", [])]
        rows.append(EvalRow(f"{Path(path).stem}-{i:04d}", d["full_text"], gold, neutral, raw))
    return rows


def load_set(path: Path) -> list[EvalRow]:
    """Either format, by extension: ``.jsonl`` spoken form, ``.json`` presidio-research."""
    path = Path(path)
    if not path.exists():
        raise EvalSetError(f"{path}: labelled PII set not found")
    return load_spoken(path) if path.suffix == ".jsonl" else load_presidio_research(path)


def _covered(pred: Iterable[Any]) -> set[int]:
    out: set[int] = set()
    for p in pred:
        out.update(range(p.start, p.end))
    return out


def score(rows: Sequence[EvalRow], preds: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Span recall, precision, char recall (overall, critical) and per-entity figures.
    ``preds`` are per-row spans with ``start``, ``end`` and ``entity_type``."""
    g_found: Counter = Counter()
    g_n: Counter = Counter()
    p_tp: Counter = Counter()
    p_n: Counter = Counter()
    chars_cov = chars_all = crit_cov = crit_all = 0
    for row, pred in zip(rows, preds, strict=True):
        covered = _covered(pred)
        for s, e, t in row.gold:
            n = e - s
            c = sum(1 for k in range(s, e) if k in covered)
            g_n[t] += 1
            g_found[t] += int(n > 0 and c / n >= 0.5)
            chars_cov += c
            chars_all += n
            if t in CRITICAL:
                crit_cov += c
                crit_all += n
        for p in pred:
            hits_gold = any(p.start < e and s < p.end for s, e, _t in row.gold)
            hits_neutral = any(p.start < e and s < p.end for s, e, _t in row.neutral)
            if hits_neutral and not hits_gold:
                continue
            p_n[p.entity_type] += 1
            p_tp[p.entity_type] += int(hits_gold)
    types = sorted(set(g_n) | set(p_n))
    return {
        "utterances": len(rows),
        "negatives": sum(1 for r in rows if not r.gold),
        "gold_spans": sum(g_n.values()),
        "predicted_spans": sum(p_n.values()),
        "span_recall": round(sum(g_found.values()) / max(1, sum(g_n.values())), 4),
        "precision": round(sum(p_tp.values()) / max(1, sum(p_n.values())), 4),
        "char_recall": round(chars_cov / max(1, chars_all), 4),
        "char_recall_critical": round(crit_cov / crit_all, 4) if crit_all else None,
        "per_entity": {t: {"recall": round(g_found[t] / g_n[t], 4) if g_n[t] else None,
                           "precision": round(p_tp[t] / p_n[t], 4) if p_n[t] else None,
                           "n": g_n[t]} for t in types},
    }


def misses(rows: Sequence[EvalRow], preds: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Missed gold spans and false positives as ids, offsets and types (no text)."""
    out = []
    for row, pred in zip(rows, preds, strict=True):
        covered = _covered(pred)
        miss = [{"start": s, "end": e, "entity_type": t} for s, e, t in row.gold
                if sum(1 for k in range(s, e) if k in covered) / max(1, e - s) < 0.5]
        fp = [{"start": p.start, "end": p.end, "entity_type": p.entity_type} for p in pred
              if not any(p.start < e and s < p.end for s, e, _ in row.gold + row.neutral)]
        if miss or fp:
            out.append({"id": row.id, "missed": miss, "false_positives": fp})
    return out


def errors(rows: Sequence[EvalRow], found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`misses` output (``found``) with the text put back, for development on the
    synthetic sets (``benchmarks/redaction.py --errors``)."""
    by_id = {r.id: r for r in rows}
    out = []
    for m in found:
        text = by_id[m["id"]].text
        out.append({"id": m["id"], "text": text,
                    "missed": [(text[x["start"]:x["end"]], x["entity_type"]) for x in m["missed"]],
                    "false_pos": [(text[x["start"]:x["end"]], x["entity_type"]) for x in m["false_positives"]]})
    return out


@dataclass
class QualityReport:
    """Scores per labelled set, speed, and which targets hold."""

    sets: dict[str, dict[str, Any]]
    utterances_per_second_per_core: float
    utterances_per_second_wall: float
    engine: dict[str, Any]
    targets: dict[str, float]
    target_results: dict[str, dict[str, Any]]
    misses: dict[str, list[dict[str, Any]]]
    residual_after_redaction: dict[str, int]
    #: per set and labelled type, callforge vs vanilla Presidio (:func:`compare_with_vanilla`)
    comparison: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return all(r["passed"] for r in self.target_results.values())

    def to_json(self) -> dict[str, Any]:
        return {"sets": self.sets, "utterances_per_second_per_core": self.utterances_per_second_per_core,
                "utterances_per_second_wall": self.utterances_per_second_wall, "engine": self.engine,
                "targets": self.targets, "target_results": self.target_results, "passed": self.passed,
                "residual_after_redaction": self.residual_after_redaction, "misses": self.misses,
                "comparison": self.comparison}


def evaluate(redactor: Any, sets: Mapping[str, Sequence[EvalRow]], targets: Mapping[str, float] | None = None,
             target_set: str = "spoken", repeat: int = 1, baseline: Any | None = None) -> QualityReport:
    """Redact every utterance of every set with ``redactor`` (``redact_many``) and score it.

    Speed is utterances per CPU second of this process over ``repeat`` timed passes (per
    core even when a library uses a second thread), after a short warm-up. Targets are
    checked on ``target_set`` (``char_recall_critical``, ``span_recall``, ``precision``
    as minimums). ``residual_after_redaction`` counts redacted utterances in which the
    independent strict detector still finds PII. With ``baseline`` (e.g.
    :class:`VanillaPresidio`: ``analyze_many(texts)``) the report also carries the per-type
    comparison."""
    from pipeline.domain.privacy.residual import residual_pii

    if not sets:
        raise ValueError("evaluate: no labelled sets given")
    targets = dict(DEFAULT_TARGETS if targets is None else targets)
    names = list(sets)
    texts = [r.text for n in names for r in sets[n]]
    redactor.redact_many(texts[:32])  # warm-up: lazy pipes, caches
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(max(1, repeat)):
        results = redactor.redact_many(texts)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n_utt = len(texts) * max(1, repeat)
    scored: dict[str, dict[str, Any]] = {}
    miss_ids: dict[str, list[dict[str, Any]]] = {}
    residual: dict[str, int] = {}
    ours: dict[str, list[Any]] = {}
    base_all = baseline.analyze_many(texts) if baseline is not None else None
    base: dict[str, list[Any]] = {}
    i = 0
    for n in names:
        rows = sets[n]
        res = results[i:i + len(rows)]
        if base_all is not None:
            base[n] = base_all[i:i + len(rows)]
        i += len(rows)
        preds = [r.spans for r in res]
        ours[n] = preds
        scored[n] = score(rows, preds)
        miss_ids[n] = misses(rows, preds)
        residual[n] = sum(1 for r in res if residual_pii(r.text))
    ref = scored.get(target_set) or scored[names[0]]
    target_results = {}
    for metric, floor in targets.items():
        value = ref.get(metric)
        target_results[metric] = {"value": value, "target": floor,
                                  "passed": value is not None and value >= floor}
    return QualityReport(
        sets=scored,
        utterances_per_second_per_core=round(n_utt / cpu, 1) if cpu > 0 else float("inf"),
        utterances_per_second_wall=round(n_utt / wall, 1) if wall > 0 else float("inf"),
        engine=getattr(redactor, "describe", lambda: {})(),
        targets=targets, target_results=target_results, misses=miss_ids,
        residual_after_redaction=residual,
        comparison=compare_with_vanilla(sets, ours, base) if base_all is not None else None,
    )


def production_summary(spans: Iterable[Mapping[str, Any]], quarantine: Iterable[Mapping[str, Any]],
                       stages: Sequence[str] = ("redaction", "redact_audio", "redact_events")) -> dict[str, Any]:
    """What redaction did to real calls, from ledger rows (types and counts only):
    spans per asset and entity type, calls touched, open redaction quarantines by reason."""
    by_asset: dict[str, Counter] = defaultdict(Counter)
    calls: dict[str, set[str]] = defaultdict(set)
    methods: Counter = Counter()
    for s in spans:
        by_asset[s["asset"]][s["entity_type"]] += 1
        calls[s["asset"]].add(s["call_id"])
        methods[s.get("method") or "unknown"] += 1
    reasons = Counter(q["reason"] for q in quarantine if q.get("stage") in stages)
    return {
        "spans_by_asset": {a: dict(sorted(c.items())) for a, c in sorted(by_asset.items())},
        "calls_with_spans": {a: len(c) for a, c in sorted(calls.items())},
        "methods": dict(sorted(methods.items())),
        "redaction_quarantine_by_reason": dict(sorted(reasons.items())),
    }


def resolve_sets(paths: Mapping[str, str | Path] | None = None, root: Path | None = None) -> dict[str, Path]:
    """Labelled sets by name: the bundled :data:`DEFAULT_SETS` when ``paths`` is None,
    else ``paths`` (relative paths resolved against ``root``)."""
    if paths is None:
        return dict(DEFAULT_SETS)
    out = {}
    for name, p in paths.items():
        p = Path(p)
        out[name] = p if p.is_absolute() or root is None else root / p
    return out


def quality_report(redactor: Any, set_paths: Mapping[str, Path], ledger: Any | None = None,
                   targets: Mapping[str, float] | None = None, target_set: str = "spoken",
                   repeat: int = 1, baseline: Any | None = None) -> dict[str, Any]:
    """The redaction quality report: :func:`evaluate` on the labelled sets, plus (with a
    ledger) :func:`production_summary` of what redaction did to real calls. JSON-ready;
    ids, offsets, types and numbers only."""
    sets = {name: load_set(p) for name, p in set_paths.items()}
    rep = evaluate(redactor, sets, targets=targets, target_set=target_set, repeat=repeat,
                   baseline=baseline).to_json()
    rep["set_paths"] = {n: str(p) for n, p in set_paths.items()}
    rep["target_set"] = target_set if target_set in sets else next(iter(sets))
    if ledger is not None:
        rep["production"] = production_summary(ledger.spans(), ledger.open_quarantine())
    return rep


# ---------------------------------------------------------------------------------- policy
#: The redaction policy by labelled type name (ours and presidio-research's). ALWAYS: direct
#: identifiers, redacted whatever the settings say; QUASI: quasi-identifiers, redacted only
#: when settings list them (redaction.quasi_identifiers). README "Redaction policy" says why.
POLICY_ALWAYS = frozenset({
    "PERSON", "PHONE", "PHONE_NUMBER", "EMAIL", "EMAIL_ADDRESS", "CARD", "CREDIT_CARD",
    "IBAN", "IBAN_CODE", "US_BANK_NUMBER", "SSN", "US_SSN", "US_ITIN", "UK_NHS", "NATIONAL_ID",
    "US_DRIVER_LICENSE", "US_PASSPORT", "ADDRESS", "STREET_ADDRESS", "ZIP", "ZIP_CODE",
    "DATE_OF_BIRTH", "AGE", "IP", "IP_ADDRESS", "URL", "DOMAIN_NAME", "ACCOUNT",
    "LOCATION", "GPE", "CITY",
})
POLICY_QUASI = frozenset({"ORGANIZATION", "ORG", "NRP", "NORP", "TITLE", "JOB_TITLE"})


def char_recall_by_type(rows: Sequence[EvalRow], preds: Sequence[Sequence[Any]]) -> dict[str, dict[str, float | int]]:
    """Character recall per labelled (raw) type, type-agnostic: how much of each gold
    type's text any predicted span hides."""
    cov: Counter = Counter()
    n_chars: Counter = Counter()
    n_spans: Counter = Counter()
    for row, pred in zip(rows, preds, strict=True):
        covered = _covered(pred)
        for s, e, t in row.raw:
            cov[t] += sum(1 for k in range(s, e) if k in covered)
            n_chars[t] += e - s
            n_spans[t] += 1
    return {t: {"char_recall": round(cov[t] / n_chars[t], 4) if n_chars[t] else None, "n": n_spans[t]}
            for t in sorted(n_chars)}


def direct_char_recall(rows: Sequence[EvalRow], preds: Sequence[Sequence[Any]]) -> float | None:
    """Character recall over every gold span of a type the policy always redacts."""
    cov = total = 0
    for row, pred in zip(rows, preds, strict=True):
        covered = _covered(pred)
        for s, e, t in row.raw:
            if t in POLICY_ALWAYS:
                cov += sum(1 for k in range(s, e) if k in covered)
                total += e - s
    return round(cov / total, 4) if total else None


class VanillaPresidio:
    """Presidio as it comes (default recognizers, default NER mapping), with the same
    spaCy model as the engine: the baseline the engine must never fall below."""

    def __init__(self, spacy_model: str | None = None) -> None:
        import importlib.resources as ir

        import yaml
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        conf_text = (ir.files("presidio_analyzer") / "conf" / "default.yaml").read_text()
        conf = yaml.safe_load(conf_text)
        from pipeline.domain.privacy.engine import _offline_tld_extractor, default_spacy_model

        conf["models"] = [{"lang_code": "en", "model_name": spacy_model or default_spacy_model()}]
        _offline_tld_extractor()
        nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
        self.engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])

    def analyze_many(self, texts: Sequence[str]) -> list[list[Any]]:
        return [self.engine.analyze(t, language="en") for t in texts]


def compare_with_vanilla(sets: Mapping[str, Sequence[EvalRow]], ours: Mapping[str, Sequence[Sequence[Any]]],
                         vanilla: Mapping[str, Sequence[Sequence[Any]]]) -> dict[str, Any]:
    """Per set and labelled type: callforge's and vanilla Presidio's character recall, the
    policy types where callforge is below vanilla (``set:TYPE``), and each set's
    direct-identifier character recall for both."""
    by_set: dict[str, Any] = {}
    worse: list[str] = []
    for name, rows in sets.items():
        a, b = char_recall_by_type(rows, ours[name]), char_recall_by_type(rows, vanilla[name])
        table = {}
        for t in sorted(a):
            cf, va = a[t]["char_recall"], b[t]["char_recall"]
            policy = "always" if t in POLICY_ALWAYS else "quasi" if t in POLICY_QUASI else "other"
            table[t] = {"callforge": cf, "vanilla": va, "n": a[t]["n"], "policy": policy}
            if policy == "always" and cf is not None and va is not None and cf + 1e-9 < va:
                worse.append(f"{name}:{t}")
        by_set[name] = {"per_type": table, "direct_char_recall": direct_char_recall(rows, ours[name]),
                        "direct_char_recall_vanilla": direct_char_recall(rows, vanilla[name])}
    return {"sets": by_set, "types_worse_than_vanilla": worse}


def comparison_markdown(cmp: Mapping[str, Any]) -> str:
    """The per-type table (callforge vs vanilla Presidio) as markdown: numbers only."""
    lines = ["| set | type | policy | n | callforge | vanilla |", "|---|---|---|---|---|---|"]
    for name, rep in cmp["sets"].items():
        for t, r in rep["per_type"].items():
            lines.append(f"| {name} | {t} | {r['policy']} | {r['n']} | {r['callforge']} | {r['vanilla']} |")
        lines.append(f"| {name} | **direct identifiers** | always | | {rep['direct_char_recall']} | "
                     f"{rep['direct_char_recall_vanilla']} |")
    worse = cmp["types_worse_than_vanilla"]
    return "\n".join(lines) + f"\n\nTypes below vanilla Presidio: {', '.join(worse) if worse else 'none'}"
