"""The per-partition flows behind the thin Dagster assets: silver transcription and
redaction, gold analytics, embeddings, learning and drift. They compose the capabilities
below them and sit on top of the domain.
"""
