"""ensemblekd.models.residual_free: M2M100 without the self-attention residual in chosen encoder layers."""
from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoConfig, AutoModelForSeq2SeqLM, M2M100Config, M2M100ForConditionalGeneration  # noqa: E402

import ensemblekd  # noqa: E402,F401
from ensemblekd.models.residual_free import (  # noqa: E402
    ResidualFreeEncoderLayer, ResidualFreeM2M100Config, ResidualFreeM2M100ForConditionalGeneration)

SMALL = dict(vocab_size=40, d_model=16, encoder_layers=3, decoder_layers=1, encoder_attention_heads=2,
             decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32,
             dropout=0.0, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2)
IDS = torch.tensor([[5, 9, 11, 7, 2], [6, 8, 2, 1, 1]])
MASK = (IDS != 1).long()


def pair(layers):
    """A residual-free model and a stock M2M100 with the same weights."""
    torch.manual_seed(0)
    rf = ResidualFreeM2M100ForConditionalGeneration(ResidualFreeM2M100Config(**SMALL, encoder_no_residual_layers=layers)).eval()
    stock = M2M100ForConditionalGeneration(M2M100Config(**SMALL)).eval()
    stock.load_state_dict(rf.state_dict())
    return rf, stock


def encoder_states(model):
    with torch.no_grad():
        return model.get_encoder()(input_ids=IDS, attention_mask=MASK, output_hidden_states=True).hidden_states


def test_without_dropped_layers_it_is_stock_m2m100():
    rf, stock = pair([])
    for a, b in zip(encoder_states(rf), encoder_states(stock)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_named_layer_has_no_attention_residual_and_the_others_are_stock():
    rf, stock = pair([1])
    assert [type(layer) for layer in rf.model.encoder.layers].count(ResidualFreeEncoderLayer) == 1
    got = encoder_states(rf)
    ref = encoder_states(stock)
    torch.testing.assert_close(got[1], ref[1], rtol=0, atol=0)  # layer 0 unchanged
    # layer 1 written from the paper: h = SelfAttn(LN(x)); out = h + FFN(LN'(h))  (no "x +")
    layer = rf.model.encoder.layers[1]
    x = got[1]
    mask4 = torch.zeros(2, 1, 5, 5).masked_fill(MASK[:, None, None, :] == 0, torch.finfo(x.dtype).min)
    with torch.no_grad():
        h = layer.self_attn(hidden_states=layer.self_attn_layer_norm(x), attention_mask=mask4)[0]
        want = h + layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(h))))
    real = MASK.bool()
    torch.testing.assert_close(got[2][real], want[real], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[2][real], ref[2][real], atol=1e-3)  # the residual matters


def test_round_trip_through_the_auto_classes(tmp_path):
    rf, _ = pair([1])
    rf.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "ensemblekd_m2m100"
    back = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert type(back) is ResidualFreeM2M100ForConditionalGeneration
    assert back.config.encoder_no_residual_layers == [1]
    for a, b in zip(encoder_states(back), encoder_states(rf)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layers", [[3], [-1], [1, 1]])
def test_bad_layer_indices_are_an_error(layers):
    with pytest.raises(ValueError, match="encoder_no_residual_layers"):
        ResidualFreeM2M100Config(**SMALL, encoder_no_residual_layers=layers)


def test_import_registers_lazily_without_importing_transformers(tmp_path):
    rf, _ = pair([1])
    rf.save_pretrained(tmp_path)
    code = ("import sys, importlib.util, ensemblekd; assert 'transformers' not in sys.modules and 'torch' not in sys.modules; "
            "assert importlib.util.find_spec('transformers') is not None; "  # an availability check first
            "from transformers import AutoModelForSeq2SeqLM; "
            f"m = AutoModelForSeq2SeqLM.from_pretrained({str(tmp_path)!r}); print(type(m).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ResidualFreeM2M100ForConditionalGeneration"
