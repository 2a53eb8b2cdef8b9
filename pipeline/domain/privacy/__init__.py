"""Keeping people private: PII detection and redaction of transcripts, audio and events
(Presidio plus spoken-form detectors in ``detectors/``), the residual-PII gate, redaction
quality evaluation, and consent-driven retention and erasure across every layer.
"""
