"""Pure domain logic for callforge.

Nothing in this package imports dagster or the project's ``assets``, ``resources``
or ``sensors`` packages (tests/domain/test_layering.py enforces it). Heavy third-party
libraries (faster-whisper, presidio, torch, ...) are imported lazily inside functions
so that importing the domain stays cheap.
"""
