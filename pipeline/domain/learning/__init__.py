"""Turning labelled calls into better models: labelled datasets split by call, LoRA
training, the versioned adapter registry, and evaluation with the promotion gate.
"""
