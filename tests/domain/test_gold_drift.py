"""Monthly drift report over stored call vectors: fires on a shifted month, not on a
same-distribution one; says so when there is no reference window."""

import io

import numpy as np
import pandas as pd

from pipeline.domain.core.storage import LocalObjectStore
from pipeline.domain.flows.drift import drift_partition


def _put_month(store, month: str, vectors: np.ndarray) -> None:
    for i, day in enumerate(("05", "15", "25")):
        part = vectors[i::3]
        df = pd.DataFrame({"call_id": [f"{month}-{day}-{j}" for j in range(len(part))], "tenant": "acme",
                           "date": f"{month}-{day}", "vector": [v.tolist() for v in part]})
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        store.put_bytes(f"gold/transcript_embeddings/{month}-{day}/call_vectors.parquet", buf.getvalue())


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_no_reference_window_is_reported(tmp_path):
    store = LocalObjectStore(tmp_path)
    _put_month(store, "2026-11", _unit(np.random.default_rng(0).normal(size=(60, 16))))
    rep = drift_partition(store, "2026-11")
    assert rep.status == "insufficient_reference" and rep.severity == "ok"


def test_same_distribution_does_not_fire(tmp_path):
    store = LocalObjectStore(tmp_path)
    rng = np.random.default_rng(1)
    _put_month(store, "2026-10", _unit(rng.normal(size=(300, 16))))
    _put_month(store, "2026-11", _unit(rng.normal(size=(300, 16))))
    rep = drift_partition(store, "2026-11")
    assert rep.status == "compared"
    assert rep.severity in ("ok", "info")
    assert rep.plot_png  # the plot goes into Dagster metadata


def test_shifted_month_fires(tmp_path):
    store = LocalObjectStore(tmp_path)
    rng = np.random.default_rng(2)
    _put_month(store, "2026-10", _unit(rng.normal(size=(300, 16))))
    shifted = rng.normal(size=(300, 16))
    shifted[:, :4] += 2.5
    _put_month(store, "2026-11", _unit(shifted))
    rep = drift_partition(store, "2026-11")
    assert rep.severity in ("warning", "critical")
    assert store.exists("gold/drift_reports/2026-11.json")
