"""The Chronos-T5 network and our own autoregressive sampling loop.

The weights are ``transformers``' modules (T5 encoder-decoder, or a causal LM); the decoding loop
is ours, because it is where the time goes. For T5 the samples of a series share one encoder
output: the cross-attention keys/values are computed once per series, shape (B, heads, T, d_kv),
and the ``num_samples`` decoder queries of a series attend to them as a (samples x T) matrix
product, instead of repeating the encoder output ``num_samples`` times as ``generate`` does. The
decoder self-attention uses a preallocated key/value cache, and nothing in the loop waits on the
device (no ``.item()``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
import transformers

from chronos_pkg.t5.config import ChronosConfig
from chronos_pkg.t5.sampling import choose_tokens

# picks the next tokens (rows,) from the logits (rows, V) at a step
Chooser = Callable[[torch.Tensor, int], torch.Tensor]


class ChronosModel(torch.nn.Module):
    """A ``transformers`` network plus the Chronos sampling loop.

    Parameters
    ----------
    config : the checkpoint's ``chronos_config``.
    model : ``T5ForConditionalGeneration`` (``model_type="seq2seq"``) or a causal LM such as
        ``GPT2LMHeadModel`` (``model_type="causal"``).
    """

    def __init__(self, config: ChronosConfig, model: transformers.PreTrainedModel) -> None:
        super().__init__()
        self.config = config
        self.model = model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @torch.no_grad()
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Encoder hidden states (seq2seq) or last hidden states (causal).  (B, T) -> (B, T, d)"""
        input_ids, attention_mask = self._check_inputs(input_ids, attention_mask)
        if self.config.model_type == "seq2seq":
            return self.model.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
        return self.model.base_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=_causal_position_ids(attention_mask),
        ).last_hidden_state

    @torch.no_grad()
    def sample_tokens(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        prediction_length: int,
        num_samples: int,
        temperature: float,
        top_k: int,
        top_p: float,
        uniforms: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample ``num_samples`` token paths of exactly ``prediction_length`` steps per series.

        Parameters
        ----------
        input_ids, attention_mask : (B, T) context tokens (EOS-terminated for seq2seq) and mask.
        prediction_length, num_samples : H and S.
        temperature, top_k, top_p : the sampling distribution (see ``choose_tokens``);
            ``top_k=1`` is greedy decoding.
        uniforms : optional (B, S, H) values in (0, 1) driving the choice of each token, e.g.
            from ``counter_uniforms`` for batch-independent seeded results.
        generator : source of the uniforms when ``uniforms`` is None.

        Returns
        -------
        (B, S, H) int64 token ids (EOS is never sampled).
        """
        input_ids, attention_mask = self._check_inputs(input_ids, attention_mask)
        if prediction_length < 1 or num_samples < 1:
            raise ValueError(
                f"prediction_length ({prediction_length}) and num_samples ({num_samples}) "
                "must be >= 1"
            )
        batch = input_ids.shape[0]
        shape = (batch, num_samples, prediction_length)
        greedy = top_k == 1
        if greedy:
            # every sample is the argmax path: decode one and repeat it
            uniforms = torch.zeros((batch, 1, prediction_length), device=self.device)
        elif uniforms is None:
            where = generator.device if generator is not None else self.device
            uniforms = torch.rand(shape, generator=generator, device=where)
        elif tuple(uniforms.shape) != shape:
            raise ValueError(f"uniforms must have shape {shape}, got {tuple(uniforms.shape)}")
        uniforms = uniforms.to(self.device, torch.float32)

        def choose(logits: torch.Tensor, step: int) -> torch.Tensor:
            # min_new_tokens = prediction_length: EOS is forbidden at every step
            logits[:, self.config.eos_token_id] = -math.inf
            return choose_tokens(
                logits, uniforms[:, :, step].reshape(-1), temperature, top_k, top_p
            )

        decode = _decode_seq2seq if self.config.model_type == "seq2seq" else _decode_causal
        tokens = decode(
            self.model,
            self.config,
            input_ids,
            attention_mask,
            uniforms.shape[1],
            prediction_length,
            choose,
        )  # (B * S', H)
        tokens = tokens.view(batch, -1, prediction_length)
        return tokens.expand(shape).contiguous() if greedy else tokens

    def _check_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if input_ids.dim() != 2 or input_ids.shape != attention_mask.shape:
            raise ValueError(
                "input_ids and attention_mask must be 2-D (batch, time) of one shape, got "
                f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
            )
        return input_ids.to(self.device, torch.long), attention_mask.to(self.device, torch.bool)


def _decode_seq2seq(
    t5: transformers.PreTrainedModel,
    config: ChronosConfig,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    num_samples: int,
    prediction_length: int,
    choose: Chooser,
) -> torch.Tensor:
    """T5 decoding with cross-attention shared across the samples of a series.  -> (B*S, H)"""
    encoded = t5.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    decoder = _T5Decoder(t5, encoded, attention_mask, num_samples, prediction_length)
    batch = input_ids.shape[0]
    rows = batch * num_samples
    tokens = torch.full((rows,), config.pad_token_id, dtype=torch.long, device=input_ids.device)
    out = torch.empty((rows, prediction_length), dtype=torch.long, device=input_ids.device)
    for step in range(prediction_length):
        logits = decoder.step(tokens, step)  # (B*S, V) float32
        tokens = choose(logits, step)
        out[:, step] = tokens
    return out


class _T5Decoder:
    """One-token-at-a-time T5 decoder over the weights of a ``T5ForConditionalGeneration``.

    Rows are ``b * num_samples + s``. Keys/values of the decoder self-attention live in a
    preallocated (rows, heads, H, d_kv) cache; cross-attention keys/values are (B, heads, T, d_kv).
    """

    def __init__(
        self,
        t5: transformers.PreTrainedModel,
        encoded: torch.Tensor,
        attention_mask: torch.Tensor,
        num_samples: int,
        max_steps: int,
    ) -> None:
        cfg = t5.config
        self.t5 = t5
        self.blocks = list(t5.decoder.block)
        self.heads, self.d_kv = cfg.num_heads, cfg.d_kv
        self.num_samples = num_samples
        batch, length, _ = encoded.shape
        dtype, device = encoded.dtype, encoded.device
        self.rows = batch * num_samples
        # T5 with tied embeddings rescales the last hidden state before the LM head
        self.output_scale = (
            cfg.d_model**-0.5
            if getattr(cfg, "scale_decoder_outputs", cfg.tie_word_embeddings)
            else None
        )
        self.qkv_weights = [
            torch.cat([a.q.weight, a.k.weight, a.v.weight], dim=0)
            for a in (b.layer[0].SelfAttention for b in self.blocks)
        ]
        self.cross_kv = []
        for block in self.blocks:
            attn = block.layer[1].EncDecAttention
            keys = attn.k(encoded).view(batch, length, self.heads, self.d_kv).transpose(1, 2)
            values = attn.v(encoded).view(batch, length, self.heads, self.d_kv).transpose(1, 2)
            self.cross_kv.append((keys, values))  # (B, heads, T, d_kv) each
        self.cross_mask = torch.zeros((batch, 1, 1, length), dtype=dtype, device=device)
        self.cross_mask.masked_fill_(~attention_mask[:, None, None, :], torch.finfo(dtype).min)
        bias_layer = self.blocks[0].layer[0].SelfAttention
        self.position_bias = bias_layer.compute_bias(max_steps, max_steps, device=device).to(
            dtype
        )  # (1, heads, H, H); row t holds the bias of query t against keys 0..H-1
        cache_shape = (self.rows, self.heads, max_steps, self.d_kv)
        self.self_k = [torch.zeros(cache_shape, dtype=dtype, device=device) for _ in self.blocks]
        self.self_v = [torch.zeros(cache_shape, dtype=dtype, device=device) for _ in self.blocks]

    def step(self, tokens: torch.Tensor, step: int) -> torch.Tensor:
        """Logits (rows, V) float32 of the next token after ``tokens`` (rows,) at ``step``."""
        rows, heads, d_kv = self.rows, self.heads, self.d_kv
        hidden = self.t5.decoder.embed_tokens(tokens)  # (rows, d)
        bias = self.position_bias[:, :, step : step + 1, : step + 1]  # (1, heads, 1, step+1)
        for i, block in enumerate(self.blocks):
            self_attn, cross_attn, feed_forward = block.layer[0], block.layer[1], block.layer[-1]
            # self-attention over the cached decoder positions 0..step
            qkv = F.linear(self_attn.layer_norm(hidden), self.qkv_weights[i])
            query, key, value = qkv.view(rows, 3, heads, d_kv).unbind(1)  # (rows, heads, d_kv)
            self.self_k[i][:, :, step] = key
            self.self_v[i][:, :, step] = value
            attended = F.scaled_dot_product_attention(
                query.unsqueeze(2),
                self.self_k[i][:, :, : step + 1],
                self.self_v[i][:, :, : step + 1],
                attn_mask=bias,
                scale=1.0,
            )  # (rows, heads, 1, d_kv)
            hidden = hidden + self_attn.SelfAttention.o(attended.reshape(rows, heads * d_kv))
            # cross-attention: the samples of a series are the query rows of one product
            query = cross_attn.EncDecAttention.q(cross_attn.layer_norm(hidden))
            query = query.view(-1, self.num_samples, heads, d_kv).transpose(1, 2)
            keys, values = self.cross_kv[i]
            attended = F.scaled_dot_product_attention(
                query, keys, values, attn_mask=self.cross_mask, scale=1.0
            )  # (B, heads, S, d_kv)
            attended = attended.transpose(1, 2).reshape(rows, heads * d_kv)
            hidden = hidden + cross_attn.EncDecAttention.o(attended)
            hidden = feed_forward(hidden)
        hidden = self.t5.decoder.final_layer_norm(hidden)
        if self.output_scale is not None:
            hidden = hidden * self.output_scale
        return self.t5.lm_head(hidden).float()


def _causal_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over observed tokens, 0 on masked ones (as ``generate`` does)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(~attention_mask, 0)


def _decode_causal(
    lm: transformers.PreTrainedModel,
    config: ChronosConfig,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    num_samples: int,
    prediction_length: int,
    choose: Chooser,
) -> torch.Tensor:
    """Causal-LM decoding: one prefill per series, then a cache repeated per sample.  -> (B*S, H)"""
    positions = _causal_position_ids(attention_mask)  # (B, T)
    output = lm(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True
    )
    cache = output.cache if "cache" in output else output.past_key_values
    cache.batch_repeat_interleave(num_samples)
    logits = output.logits[:, -1].float().repeat_interleave(num_samples, dim=0)  # (B*S, V)
    mask = attention_mask.repeat_interleave(num_samples, dim=0)
    next_position = positions[:, -1:].repeat_interleave(num_samples, dim=0) + 1  # (B*S, 1)
    ones = torch.ones_like(mask[:, :1])
    out = torch.empty((mask.shape[0], prediction_length), dtype=torch.long, device=mask.device)
    cache_arg = "cache" if "cache" in _forward_parameters(lm) else "past_key_values"
    for step in range(prediction_length):
        tokens = choose(logits, step)
        out[:, step] = tokens
        if step + 1 == prediction_length:
            break
        mask = torch.cat([mask, ones], dim=-1)
        output = lm(
            input_ids=tokens.unsqueeze(-1),
            attention_mask=mask,
            position_ids=next_position + step,
            use_cache=True,
            **{cache_arg: cache},
        )
        cache = output.cache if "cache" in output else output.past_key_values
        logits = output.logits[:, -1].float()
    return out


def _forward_parameters(module: torch.nn.Module) -> set[str]:
    return set(inspect.signature(module.forward).parameters)
