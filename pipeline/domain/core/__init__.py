"""What every capability shares: the data models (calls, transcripts, events, quarantine
records), the object keys of each layer, the object store (local folder or S3) and the
ledger (consent, audit, quarantine, processing state, annotations; SQLite or PostgreSQL).
Imports nothing else from the domain.
"""
