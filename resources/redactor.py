"""Redactor resource: Presidio on spaCy en_core_web_sm plus spoken-form recognizers."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg
from pydantic import Field

from pipeline.domain.privacy.engine import Redactor


@lru_cache(maxsize=4)
def _redactor(spacy_model: str | None, score_threshold: float, operator: str, key: bytes | None,
              quasi: tuple[str, ...] = ()) -> Redactor:
    return Redactor(
        spacy_model=spacy_model,
        score_threshold=score_threshold,
        operator=operator,
        pseudonym_key=key,
        quasi_identifiers=quasi,
    )


class RedactorResource(dg.ConfigurableResource):
    """PII redaction engine; built once per process."""

    spacy_model: str | None = Field(default=None, description="spaCy model package name or folder; None = the best "
                                    "installed (en_core_web_md re-upload, else en_core_web_sm)")
    score_threshold: float = Field(default=0.35, description="Minimum recognizer score (Presidio phones score 0.4)")
    operator: str = Field(default="placeholder", description="placeholder ([PHONE]) or pseudonym (keyed, per tenant)")
    pseudonym_key: str | None = Field(default=None, description="HMAC key for pseudonyms; set via EnvVar CALLFORGE_PSEUDONYM_KEY")
    quasi_identifiers: list[str] = Field(
        default_factory=list,
        description="Quasi-identifiers to redact as well as the direct ones: ORGANIZATION, NRP (README 'Redaction policy')")

    def get_redactor(self) -> Redactor:
        key = self.pseudonym_key.encode() if self.pseudonym_key else None
        return _redactor(self.spacy_model, self.score_threshold, self.operator, key, tuple(self.quasi_identifiers))
