"""Spoken- and written-form PII detectors, one module per kind of value (numbers,
letters, e-mails, dates, addresses, names), pure functions from text to spans.
"""
