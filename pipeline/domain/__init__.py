"""Pure domain logic for callforge, one package per capability.

Bottom to top: ``core`` (what every capability shares), ``intake``, ``speech``,
``privacy``, ``search``, ``insights``, ``learning``, and ``flows`` (the per-partition flows
behind the thin assets). A package imports only itself and the packages below it, and
nothing here imports dagster or the project's ``assets``, ``resources`` or ``sensors``
packages (tests/domain/test_layering.py enforces all of it). Heavy third-party libraries
(faster-whisper, presidio, torch, ...) are imported lazily inside functions so that
importing the domain stays cheap.
"""
