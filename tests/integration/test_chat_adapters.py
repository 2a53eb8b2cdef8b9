"""Chat adapters through Dagster: gold/chat_adapters trains in the Pipes subprocess on a
dataset version's chat rows (a tiny random Llama with a ChatML tokenizer stands in for
SmolLM2), gold/chat_eval_reports scores held-out loss with a paired bootstrap and the
blocking chat_promotion_gate, gold/chat_adapter_promotions swaps the pointers and audits;
the CLI's serve-check answers with base + adapter."""

from __future__ import annotations

import json
import os

import dagster as dg
import pytest

from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.storage import LocalObjectStore

pytestmark = pytest.mark.slow

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _tiny_chat_model(folder) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=["<|im_start|>"])
    tok.chat_template = CHATML
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=4, vocab_size=len(tok), max_position_embeddings=512)
    LlamaForCausalLM(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))


def _dialog(i: int) -> dict:
    return {"call_id": f"call_{i:04d}", "customer_id": f"cust_{i % 5}", "weight": 1.0 + (i % 2), "source": "call",
            "messages": [{"role": "system", "content": "You are a bank's call-centre agent."},
                         {"role": "user", "content": f"Hi, my card {i % 3} stopped working at the shop."},
                         {"role": "assistant", "content": "I'm sorry about that. I have blocked the card and a new "
                                                          "one is on its way."},
                         {"role": "user", "content": "Thanks, bye."},
                         {"role": "assistant", "content": "Thank you for calling, goodbye!"}]}


@pytest.fixture(scope="module")
def chat_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    _tiny_chat_model(root / "tiny-llama")
    store = LocalObjectStore(root / "objects")
    prefix = "gold/training_datasets/ds-chat-test/"
    splits = {"train": [_dialog(i) for i in range(12)], "validation": [_dialog(i) for i in range(12, 14)],
              "test": [_dialog(i) for i in range(14, 24)]}
    for name, rows in splits.items():
        store.put_bytes(f"{prefix}chat_{name}.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    manifest = {"version": "ds-chat-test", "prefix": prefix, "splits": {}, "classification": {},
                "chat": {s: f"{prefix}chat_{s}.jsonl" for s in splits}, "rows": 0, "chat_rows": 24,
                "calls": sorted({r["call_id"] for rows in splits.values() for r in rows})}
    store.put_json(f"{prefix}manifest.json", manifest)
    return {"root": root, "store": store, "manifest": manifest, "ledger_url": f"sqlite:///{root / 'ledger.db'}"}


def test_chat_adapter_trains_in_pipes_is_evaluated_and_promoted(chat_env) -> None:
    from assets.gold import chat_adapter_promotions, chat_adapters, chat_eval_reports
    from resources.ledger import LedgerResource
    from resources.object_store import ObjectStoreResource
    from resources.trainer import TrainerResource

    manifest = chat_env["manifest"]

    @dg.asset(key=["gold", "training_datasets"])
    def training_datasets() -> dict:
        return manifest

    resources = {
        "trainer": TrainerResource(registry_dir=str(chat_env["root"] / "registry"),
                                   chat_base_model_path=str(chat_env["root"] / "tiny-llama"),
                                   chat_max_steps=24, chat_min_examples=10, min_new_examples=1),
        "object_store": ObjectStoreResource(backend="local", root=str(chat_env["root"] / "objects")),
        "ledger": LedgerResource(url=chat_env["ledger_url"]),
        "pipes": dg.PipesSubprocessClient(),
    }
    with dg.instance_for_test() as instance:
        res = dg.materialize([training_datasets, chat_adapters, chat_eval_reports, chat_adapter_promotions],
                             resources=resources, instance=instance)
    assert res.success
    md = {k: v.value for m in res.get_asset_materialization_events()
          if m.asset_key == dg.AssetKey(["gold", "chat_adapters"]) for k, v in m.materialization.metadata.items()}
    assert md["launcher"] == "pipes_subprocess" and md["step_pid"] != os.getpid() and md["steps"] == 24
    version = md["adapter_version"]
    store = chat_env["store"]
    meta = store.get_json(f"adapters/chat/{version}/training_metadata.json")
    assert meta["dataset_version"] == "ds-chat-test" and len(meta["base_model_sha256"]) == 64
    assert meta["config"]["use_weights"] is True and meta["config"]["lora_r"] >= 1
    assert store.exists(f"adapters/chat/{version}/adapter_model.safetensors")
    ev = {k: v.value for m in res.get_asset_materialization_events()
          if m.asset_key == dg.AssetKey(["gold", "chat_eval_reports"]) for k, v in m.materialization.metadata.items()}
    # the tiny model learns the call template: a lower held-out loss on every dialog, significantly
    assert ev["promotable"] is True and ev["loss_reduction_vs_base"] > 0.02 and ev["bootstrap_p"] < 0.05
    assert "Paired bootstrap" in ev["report"]
    assert store.get_json("adapters/chat/current.json")["version"] == version
    audit = [a for a in Ledger(chat_env["ledger_url"]).audit_rows(action="adapter_promote")
             if a["details"].get("name") == "chat"]
    assert audit and audit[-1]["details"]["version"] == version and audit[-1]["actor"].startswith("dagster:")


def test_chat_gate_stays_closed_below_min_examples(chat_env) -> None:
    from assets.gold import chat_adapters
    from resources.object_store import ObjectStoreResource
    from resources.trainer import TrainerResource

    manifest = {**chat_env["manifest"], "version": "ds-small", "chat_rows": 3}

    @dg.asset(key=["gold", "training_datasets"])
    def training_datasets() -> dict:
        return manifest

    resources = {"trainer": TrainerResource(registry_dir=str(chat_env["root"] / "registry2"), chat_min_examples=50),
                 "object_store": ObjectStoreResource(backend="local", root=str(chat_env["root"] / "objects")),
                 "pipes": dg.PipesSubprocessClient()}
    with dg.instance_for_test() as instance:
        res = dg.materialize([training_datasets, chat_adapters], resources=resources, instance=instance)
        assert res.success
        assert not [m for m in res.get_asset_materialization_events()
                    if m.asset_key == dg.AssetKey(["gold", "chat_adapters"])]
        logs = [e.message for e in instance.all_logs(res.run_id) if e.message]
    assert any("chat training gate closed" in x and "not enough labelled examples: 3 < 50" in x for x in logs)


def test_cli_serve_check_and_evaluate_chat(chat_env, monkeypatch) -> None:
    """Runs after the promotion test (same module fixture): the CLI loads base + adapter."""
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.settings import get_settings

    monkeypatch.setenv("CALLFORGE_HOME", str(chat_env["root"]))
    get_settings.cache_clear()
    try:
        cli = CliRunner()
        listed = cli.invoke(app, ["adapters", "--adapter", "chat", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        champion = [r for r in json.loads(listed.stdout) if r["champion"]]
        assert len(champion) == 1
        out = cli.invoke(app, ["adapters", "--adapter", "chat", "serve-check", "--json", "--prompt", "My card broke."])
        assert out.exit_code == 0, out.output
        served = json.loads(out.stdout)
        assert served["version"] == champion[0]["version"] and isinstance(served["reply"], str)
        ev = cli.invoke(app, ["adapters", "--adapter", "chat", "evaluate", champion[0]["version"], "--json"])
        assert ev.exit_code == 0, ev.output
        ev = json.loads(ev.stdout)
        assert ev["versus"] == "base" and ev["heldout_loss"] < ev["base_heldout_loss"]
        bad = cli.invoke(app, ["adapters", "--adapter", "Chat!", "list"])
        assert bad.exit_code == 2 and "adapter name" in bad.output
    finally:
        get_settings.cache_clear()
