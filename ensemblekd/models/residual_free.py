"""M2M100 with the self-attention residual removed in chosen encoder layers (Liu et al., ACL 2021).

"Improving Zero-Shot Translation by Disentangling Positional Information" (Liu, Niehues, Cross, Guzman, Li):
the residual connection around one middle encoder layer's self-attention ties every encoder state to its input
position, and so to the source language's word order; dropping it makes the encoder output more
language-agnostic and zero-shot translation much better (the base model of the EBBS paper, Wen et al., AAAI 2025).

Everything else is the stock ``M2M100ForConditionalGeneration`` (same parameters, same state-dict names); the
config adds ``encoder_no_residual_layers`` (0-based encoder layer indices). Pre-norm layer ``i`` in that list
computes ``h = dropout(self_attn(LN(x)))`` instead of ``h = x + dropout(self_attn(LN(x)))``; its feed-forward
block keeps its residual. ``model_type = "ensemblekd_m2m100"``; :func:`ensemblekd.models.register` makes
``AutoConfig`` / ``AutoModelForSeq2SeqLM.from_pretrained`` load it (done on ``import ensemblekd`` once
transformers is imported).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import M2M100Config, M2M100ForConditionalGeneration
from transformers.models.m2m_100.modeling_m2m_100 import M2M100EncoderLayer

__all__ = ["ResidualFreeM2M100Config", "ResidualFreeM2M100ForConditionalGeneration", "ResidualFreeEncoderLayer"]


class ResidualFreeM2M100Config(M2M100Config):
    """``M2M100Config`` + ``encoder_no_residual_layers``: encoder layers whose self-attention has no residual."""

    model_type = "ensemblekd_m2m100"

    def __init__(self, encoder_no_residual_layers=(), **kwargs):
        super().__init__(**kwargs)
        layers = [int(i) for i in (encoder_no_residual_layers or ())]
        bad = [i for i in layers if not 0 <= i < self.encoder_layers]
        if bad or len(set(layers)) != len(layers):
            raise ValueError(f"encoder_no_residual_layers={list(encoder_no_residual_layers)}: expected distinct "
                             f"indices in [0, {self.encoder_layers}) (encoder_layers={self.encoder_layers})")
        self.encoder_no_residual_layers = sorted(layers)


class ResidualFreeEncoderLayer(M2M100EncoderLayer):
    """An ``M2M100EncoderLayer`` whose self-attention block has no residual connection (same parameters)."""

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> torch.Tensor:
        hidden_states = self.self_attn_layer_norm(hidden_states)
        hidden_states, _ = self.self_attn(hidden_states=hidden_states, attention_mask=attention_mask, **kwargs)
        hidden_states = nn.functional.dropout(hidden_states, p=self.dropout, training=self.training)

        residual = hidden_states
        hidden_states = self.final_layer_norm(hidden_states)
        hidden_states = self.activation_fn(self.fc1(hidden_states))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        hidden_states = self.fc2(hidden_states)
        hidden_states = nn.functional.dropout(hidden_states, p=self.dropout, training=self.training)
        hidden_states = residual + hidden_states
        if hidden_states.dtype == torch.float16:
            clamp = torch.finfo(hidden_states.dtype).max - 1000
            hidden_states = torch.clamp(hidden_states, min=-clamp, max=clamp)
        return hidden_states


class ResidualFreeM2M100ForConditionalGeneration(M2M100ForConditionalGeneration):
    """Stock M2M100 seq2seq LM; the encoder layers named by ``config.encoder_no_residual_layers`` drop the residual."""

    config_class = ResidualFreeM2M100Config

    def __init__(self, config: ResidualFreeM2M100Config):
        super().__init__(config)
        for i in config.encoder_no_residual_layers:
            # same module, same parameters: only the forward changes
            self.model.encoder.layers[i].__class__ = ResidualFreeEncoderLayer
