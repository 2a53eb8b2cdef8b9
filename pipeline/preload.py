"""What a run's step processes share: the imports the forkserver loads once per run.

Under Dagster's default multiprocess executor every step is a new Python process. With the
``spawn`` start method each of them imports the code location again and, in the steps that
redact or embed, Presidio/spaCy and sentence-transformers/torch too: measured on the 2-core
machine, ``import presidio_analyzer`` alone takes ~11 s and ``import sentence_transformers``
~13 s, per step, for a few seconds of work. ``step_executor()`` configures the
``forkserver`` start method with this module preloaded: the forkserver imports everything
below once when the run's first step starts, and each step is then forked from it (copy on
write) in about a second.

Only imports: no model is loaded and no thread pool is started here (torch's OpenMP pool,
CTranslate2's threads and a started encoder are not fork-safe), so every model still loads
in the step that uses it, through the per-process caches of resources/. A missing optional
package is skipped: the step that needs it fails with its own clear error.
"""

from __future__ import annotations

import importlib

#: heaviest first; the code location last (it imports the light parts of the above)
MODULES = (
    "presidio_analyzer",
    "presidio_anonymizer",
    "spacy",
    "sentence_transformers",
    "faster_whisper",
    "pipeline.domain.privacy.engine",
    "pipeline.domain.search.embedding",
    "pipeline.definitions",
)


def preload(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Import ``modules``; returns the ones that could not be imported."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


preload()
