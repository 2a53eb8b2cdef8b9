"""Benchmark: conversation analytics throughput (calls per second, one process).

Builds N synthetic calls (default 1000) shaped like real banking dialogues — the turn
texts of the Schema-Guided Dialogue banking sample in ../shared/data/dialogs/sgd_banks
(CC-BY-SA-4.0; read in place), or built-in templates when that folder is absent — with
word-level timings (~150 wpm), random pauses, occasional holds, overlaps and a disclosure,
then times :func:`conversation_metrics` over all of them (plus chunking and the daily
rollup, reported separately). Prints ONE JSON object.

    .venv/bin/python benchmarks/analytics.py [--calls 1000] [--seed 0] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.domain.core.models import AGENT, CUSTOMER, Segment, Transcript, Word
from pipeline.domain.insights.analytics import conversation_metrics, rollup
from pipeline.domain.search.chunking import chunk_transcript

DISCLOSURE = ["this call may be recorded"]
TEMPLATES = [
    [
        ("USER", "Hi, I'd like to check my balance please."),
        ("SYSTEM", "Sure, is that for checking or savings?"),
        ("USER", "Checking."),
        ("SYSTEM", "Your checking balance is <AMOUNT>."),
        ("USER", "Great, can you also transfer <AMOUNT> to savings?"),
        ("SYSTEM", "Done. Anything else?"),
        ("USER", "No, thank you."),
    ],
    [
        ("USER", "My card was declined and I am really frustrated."),
        ("SYSTEM", "I'm sorry about that, let me look into it."),
        ("USER", "It has happened twice this week."),
        ("SYSTEM", "I see a fraud hold, I can remove it now."),
        ("USER", "I want to speak to a supervisor."),
        ("SYSTEM", "Of course, transferring you now."),
    ],
]


def load_dialogues(data_dir: Path) -> tuple[list[list[tuple[str, str]]], str]:
    """Turn lists (speaker, utterance) from the SGD banking files, else templates."""
    folder = data_dir / "dialogs" / "sgd_banks"
    dialogues: list[list[tuple[str, str]]] = []
    for f in sorted(folder.glob("*_dialogues.json")) if folder.is_dir() else []:
        for d in json.loads(f.read_text()):
            turns = [(t["speaker"], t["utterance"]) for t in d.get("turns", []) if t.get("utterance")]
            if turns:
                dialogues.append(turns)
    return (dialogues, "sgd_banks") if dialogues else (TEMPLATES, "templates")


def synth_call(i: int, turns: list[tuple[str, str]], rng: random.Random) -> Transcript:
    """One call on a timeline: word timings at ~150 wpm, pauses, holds and overlaps."""
    segments: list[Segment] = []
    t = rng.uniform(0.5, 3.0)  # ringing before the first word
    opening = ("SYSTEM", "Thank you for calling, this call may be recorded for quality.")
    for n, (who, text) in enumerate([opening, *turns]):
        spk = AGENT if who == "SYSTEM" else CUSTOMER
        if n and rng.random() < 0.05:
            t += rng.uniform(20.0, 40.0)  # hold
        elif n and rng.random() < 0.15:
            t -= rng.uniform(0.2, 1.2)  # overlap with the previous turn
        else:
            t += rng.uniform(0.2, 1.5)
        t = max(t, 0.0)
        words, w_t = [], t
        for w in text.split():
            dur = 0.12 + 0.05 * len(w) * rng.uniform(0.8, 1.2)
            words.append(Word(w, round(w_t, 3), round(w_t + dur, 3), 0.9))
            w_t += dur + rng.uniform(0.02, 0.15)
        segments.append(Segment(spk, words[0].start, words[-1].end, text, words=words))
        t = words[-1].end
    return Transcript("asr", segments, call_id=f"bench-{i:06d}", duration=t + rng.uniform(0.5, 2.0)).sorted()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    if args.calls < 1:
        ap.error("--calls must be >= 1")

    dialogues, source = load_dialogues(args.data)
    rng = random.Random(args.seed)
    calls = [synth_call(i, dialogues[i % len(dialogues)], rng) for i in range(args.calls)]

    t0, c0 = time.perf_counter(), time.process_time()
    rows = [conversation_metrics(c, DISCLOSURE) for c in calls]
    analytics_s, analytics_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0 = time.perf_counter()
    n_chunks = sum(len(chunk_transcript(c, c.call_id or "x")) for c in calls)
    chunk_s = time.perf_counter() - t0

    for i, r in enumerate(rows):
        r["date"] = f"2026-01-{1 + i % 28:02d}"
        r["agent_id"] = f"agent-{i % 25:02d}"
    import pandas  # noqa: F401  (import cost is not rollup time)

    t0 = time.perf_counter()
    daily = rollup(rows, "date")
    per_agent = rollup(rows, "agent_id")
    rollup_s = time.perf_counter() - t0

    print(
        json.dumps(
            {
                "calls": len(calls),
                "calls_per_second": round(len(calls) / analytics_s, 1),
                "analytics_seconds": round(analytics_s, 3),
                # CPU time is steadier than wall time on a shared 2-core machine
                "calls_per_cpu_second": round(len(calls) / analytics_cpu, 1),
                "source": source,
                "timing_level": "word",
                "mean_segments_per_call": round(sum(len(c.segments) for c in calls) / len(calls), 1),
                "mean_words_per_call": round(sum(r["word_count"] for r in rows) / len(rows), 1),
                "mean_duration_s": round(sum(r["duration_s"] for r in rows) / len(rows), 1),
                "disclosure_rate": round(sum(bool(r["disclosure_given"]) for r in rows) / len(rows), 3),
                "escalation_rate": round(sum(r["escalated"] for r in rows) / len(rows), 3),
                "chunking_calls_per_second": round(len(calls) / chunk_s, 1),
                "chunks": n_chunks,
                "rollup_seconds": round(rollup_s, 3),
                "rollup_groups": {"daily": len(daily), "per_agent": len(per_agent)},
            }
        )
    )


if __name__ == "__main__":
    main()
