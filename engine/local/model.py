"""The decoder forward pass in numpy: Llama / Qwen2, fp32, with a preallocated KV cache.

Owns the math only (gpt-fast style): weights are fused and laid out once at load time
so each projection is one matmul (q|k|v in one matrix, gate|up in one matrix, each
stored as column blocks, see Linear); the cache is [layers, batch, kv_heads, max_len, head_dim] and
every batch row has its own position, so prompts of different lengths batch together
and give the same numbers as alone (masked keys contribute exact zeros).

Shapes: B batch rows, T prompt tokens, D model dim, H query heads, K kv heads,
G = H / K queries per kv head, E head dim, L attended length, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelLoadError
from .config import ModelArgs, rope_inv_freq
from .quant import build as quant_build

__all__ = ["Transformer", "KVCache", "LayerWeights"]

F32 = np.float32


BLOCK = 32  # output columns per weight block (see Linear)
PLAIN_GEMM_ROWS = 64  # from this many rows on, Linear uses one plain GEMM


class Linear:
    """y = x @ W (+ b) with W [IN, OUT] stored as column blocks [OUT/32, IN, 32].

    Why blocks: for a few rows x (decode with n samples), OpenBLAS packs the whole weight
    matrix on every call and runs 3-5x below memory bandwidth; one stacked matmul over
    32-column blocks (numpy loops the blocks in C) streams each block once. On this
    machine, one thread: the 512 x 32000 head at 8 rows took 18.8 ms as `x @ W` and 3.6 ms
    blocked; at 1 row 3.0 ms vs 2.6 ms (docs/engine.md). Prompts (64+ rows) go through
    one plain GEMM instead, which runs at compute speed.
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
        # weight is HF's [OUT, IN]
        n_out, n_in = weight.shape
        block = min(BLOCK, n_out)
        n_blocks = -(-n_out // block)  # ceil
        padded = np.zeros((n_blocks * block, n_in), dtype=F32)
        padded[:n_out] = weight  # zero columns past OUT are computed and dropped
        self.w = np.ascontiguousarray(padded.reshape(n_blocks, block, n_in).transpose(0, 2, 1))
        self.b = None if bias is None else np.ascontiguousarray(bias, dtype=F32)
        self.n_out = n_out

    @property
    def nbytes(self) -> int:
        return self.w.nbytes + (0 if self.b is None else self.b.nbytes)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [N, IN] -> [N, OUT]."""
        n = x.shape[0]
        if n == 1:
            # One row goes through GEMM as two: numpy hands a lone row to GEMV, which sums
            # in another order than GEMM, whose rows come out the same whatever their count
            # (checked in tests). So a row's numbers do not depend on how many rows share
            # its step (n samples vs one) or on a prompt's cached prefix (1-token prefill).
            return self(np.concatenate([x, x]))[:1]
        if n >= PLAIN_GEMM_ROWS:
            # Many rows (a prompt): one plain GEMM runs ~2x faster than 32-column blocks,
            # and re-laying the weight out costs little next to N rows of work.
            y = x @ self.w.transpose(1, 0, 2).reshape(x.shape[1], -1)
        else:
            y = np.matmul(x, self.w)  # [blocks, N, 32]
            y = y.transpose(1, 0, 2).reshape(n, -1)
        if y.shape[1] != self.n_out:
            y = y[:, : self.n_out]
        if self.b is not None:
            y += self.b
        return y


@dataclass
class LayerWeights:
    attn_norm: np.ndarray  # [D]
    qkv: Linear  # D -> (H + 2K) * E
    o: Linear  # H * E -> D
    mlp_norm: np.ndarray  # [D]
    gate_up: Linear  # D -> 2 * I
    down: Linear  # I -> D


class KVCache:
    """Keys and values of every row, preallocated: [layers, B, K, max_len, E]."""

    def __init__(self, args: ModelArgs, batch: int, max_len: int) -> None:
        shape = (args.n_layers, batch, args.n_kv_heads, max_len, args.head_dim)
        self.k = np.zeros(shape, dtype=F32)
        self.v = np.zeros(shape, dtype=F32)
        self.max_len = max_len

    @property
    def batch(self) -> int:
        return self.k.shape[1]

    def copy_row(self, src: int, dst: slice, length: int) -> None:
        """Share one prefilled prompt with more rows (n samples of one request)."""
        self.k[:, dst, :, :length] = self.k[:, src : src + 1, :, :length]
        self.v[:, dst, :, :length] = self.v[:, src : src + 1, :, :length]

    def keep_rows(self, rows: np.ndarray, length: int) -> KVCache:
        """A cache holding only `rows` (finished rows are squeezed out).

        Zeros, not np.empty, beyond `length`: masked slots are multiplied by 0 in
        attention, and 0 * NaN from uninitialised memory would poison the row.
        """
        out = KVCache.__new__(KVCache)
        out.k = np.zeros((self.k.shape[0], len(rows), *self.k.shape[2:]), dtype=F32)
        out.v = np.zeros_like(out.k)
        out.k[:, :, :, :length] = self.k[:, rows, :, :length]
        out.v[:, :, :, :length] = self.v[:, rows, :, :length]
        out.max_len = self.max_len
        return out


class Transformer:
    def __init__(
        self,
        args: ModelArgs,
        weights: dict[str, np.ndarray],
        weight_format: str = "float32",
        activations: str = "int8x2",
    ) -> None:
        """`weight_format` (quant/build.py): "float32", or "auto" / "int8" to keep matrices
        in quantized blocks applied by compiled kernels (QuantizedMatrix stands for Linear);
        `activations`: how those multiply 2+ rows ("int8x2", "int8", "float32")."""
        self.args = args
        self.weight_format = quant_build.check_mode(weight_format)
        self.activations = quant_build.check_activations(activations)
        w = _Weights(weights, args)
        vd = (args.vocab_size, args.dim)
        embed = quant_build.embedding(
            weights, "model.embed_tokens.weight", vd, weight_format, activations
        )
        self.embed = embed if embed is not None else w.take("model.embed_tokens.weight", vd)
        self.layers = [self._layer(w, i) for i in range(args.n_layers)]
        self.norm = w.take("model.norm.weight", (args.dim,))
        if args.tie_word_embeddings or "lm_head.weight" not in weights:
            self.lm_head = embed if embed is not None else Linear(self.embed)
        else:
            self.lm_head = self._linear(w, ["lm_head.weight"], [vd], None)
        self.inv_freq = rope_inv_freq(args).astype(F32)  # float32 as transformers computes it
        self._cos = np.zeros((0, args.head_dim // 2), dtype=F32)
        self._sin = self._cos
        self.scale = F32(1.0 / np.sqrt(args.head_dim))
        # float32 scalars: a float64 numpy scalar would promote every product to float64
        self._inv_dim = F32(1.0 / args.dim)
        self._eps = F32(args.norm_eps)

    def _layer(self, w: _Weights, i: int) -> LayerWeights:
        a, p = self.args, f"model.layers.{i}."
        q_out, kv_out = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
        bqkv = None
        if a.qkv_bias:
            bqkv = np.concatenate(
                [
                    w.take(p + "self_attn.q_proj.bias", (q_out,)),
                    w.take(p + "self_attn.k_proj.bias", (kv_out,)),
                    w.take(p + "self_attn.v_proj.bias", (kv_out,)),
                ]
            )
        b_gate_up = b_down = None
        if a.mlp_bias:
            b_gate_up = np.concatenate(
                [w.take(p + "mlp.gate_proj.bias", None), w.take(p + "mlp.up_proj.bias", None)]
            )
            b_down = w.take(p + "mlp.down_proj.bias", None)
        bo = w.take(p + "self_attn.o_proj.bias", None) if a.o_bias else None
        attn, mlp, inter = p + "self_attn.", p + "mlp.", a.intermediate_size
        return LayerWeights(
            attn_norm=w.take(p + "input_layernorm.weight", (a.dim,)),
            qkv=self._linear(  # q, k, v in one product
                w,
                [attn + "q_proj.weight", attn + "k_proj.weight", attn + "v_proj.weight"],
                [(q_out, a.dim), (kv_out, a.dim), (kv_out, a.dim)],
                bqkv,
            ),
            o=self._linear(w, [attn + "o_proj.weight"], [(a.dim, q_out)], bo),
            mlp_norm=w.take(p + "post_attention_layernorm.weight", (a.dim,)),
            gate_up=self._linear(  # gate, up in one product
                w,
                [mlp + "gate_proj.weight", mlp + "up_proj.weight"],
                [(inter, a.dim)] * 2,
                b_gate_up,
            ),
            down=self._linear(w, [mlp + "down_proj.weight"], [(a.dim, inter)], b_down),
        )

    def _linear(self, w: _Weights, names: list[str], shapes: list[tuple[int, int]], bias):
        """One (fused) projection: quantized blocks where the weights mode allows, else float32."""
        fused = quant_build.linear(
            w.weights, names, shapes, bias, self.weight_format, self.activations
        )
        if fused is not None:
            return fused
        return Linear(
            np.concatenate([w.take(n, s) for n, s in zip(names, shapes, strict=True)]), bias
        )

    @property
    def weight_bytes(self) -> int:
        """Bytes one decode step streams from memory (every weight once)."""
        total = self.lm_head.nbytes + self.norm.nbytes
        for lw in self.layers:
            total += sum(x.nbytes for x in vars(lw).values())
        return total

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        return KVCache(self.args, batch, max_len)

    # -- rotary embedding -----------------------------------------------------------------
    def _rope_tables(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        need = int(positions.max()) + 1
        if need > len(self._cos):  # grow the tables to the longest position seen
            n = max(need, 2 * len(self._cos), 256)
            freqs = np.arange(n, dtype=F32)[:, None] * self.inv_freq[None, :]
            self._cos, self._sin = np.cos(freqs), np.sin(freqs)
        return self._cos[positions], self._sin[positions]

    @staticmethod
    def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        """RoPE, half-split layout as in HF Llama: (x1, x2) -> (x1 c - x2 s, x2 c + x1 s)."""
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        out = np.empty_like(x)
        out[..., :half] = x1 * cos - x2 * sin
        out[..., half:] = x2 * cos + x1 * sin
        return out

    def _norm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """RMSNorm. Method calls, not np.mean: per-call overhead matters at batch 1."""
        ms = (x * x).sum(axis=-1, keepdims=True) * self._inv_dim
        return x * (1.0 / np.sqrt(ms + self._eps)) * weight

    def _mlp(self, x: np.ndarray, lw: LayerWeights) -> np.ndarray:
        gu = lw.gate_up(x)  # [N, 2I]
        inter = self.args.intermediate_size
        gate, up = gu[:, :inter], gu[:, inter:]
        act = gate / (1.0 + np.exp(-gate)) * up  # silu(gate) * up
        return lw.down(act)

    def _qkv(self, h: np.ndarray, lw: LayerWeights, cos: np.ndarray, sin: np.ndarray):
        """Projected, rotated q [N, H, E] and k [N, K, E], and v [N, K, E]."""
        a = self.args
        n = h.shape[0]
        qkv = lw.qkv(h)  # [N, (H + 2K) E]
        qk = qkv[:, : (a.n_heads + a.n_kv_heads) * a.head_dim].reshape(n, -1, a.head_dim)
        qk = self._rotate(qk, cos[:, None, :], sin[:, None, :])  # q and k rotate together
        v = qkv[:, (a.n_heads + a.n_kv_heads) * a.head_dim :].reshape(n, a.n_kv_heads, a.head_dim)
        return qk[:, : a.n_heads], qk[:, a.n_heads :], v

    # -- prefill: one prompt into one cache row -------------------------------------------
    def prefill(
        self,
        tokens: np.ndarray,
        cache: KVCache,
        row: int,
        *,
        start: int = 0,
        all_logits: bool = False,
    ) -> np.ndarray:
        """Run prompt tokens [T] at positions start.. (the row already holds [0, start),
        e.g. from the prefix cache); logits of the last token [V] (or all [T, V])."""
        a = self.args
        t, end = len(tokens), start + len(tokens)
        g = a.n_heads // a.n_kv_heads
        cos, sin = self._rope_tables(np.arange(start, end))
        causal = np.triu(np.full((t, end), -np.inf, dtype=F32), k=start + 1)  # [T, start + T]
        x = self.embed[tokens]  # [T, D]
        for i, lw in enumerate(self.layers):
            h = self._norm(x, lw.attn_norm)
            q, k, v = self._qkv(h, lw, cos, sin)
            cache.k[i, row, :, start:end] = k.transpose(1, 0, 2)
            cache.v[i, row, :, start:end] = v.transpose(1, 0, 2)
            q = q.reshape(t, a.n_kv_heads, g, a.head_dim).transpose(1, 2, 0, 3)  # [K, G, T, E]
            if t == 1:  # as in Linear: GEMM, not GEMV, so a cached prefix changes no number
                q, mask = np.concatenate([q, q], axis=2), np.concatenate([causal, causal])
            else:
                mask = causal
            keys = cache.k[i, row, :, None, :end]  # [K, 1, start + T, E]
            scores = (q * self.scale) @ keys.swapaxes(-1, -2) + mask  # [K, G, T, start + T]
            probs = _softmax(scores)
            att = (probs @ cache.v[i, row, :, None, :end])[:, :, :t]  # [K, G, T, E]
            att = att.transpose(2, 0, 1, 3).reshape(t, a.n_heads * a.head_dim)
            x = x + lw.o(att)
            x = x + self._mlp(self._norm(x, lw.mlp_norm), lw)
        if not all_logits:
            x = x[-1:]
        logits = self.lm_head(self._norm(x, self.norm))
        return logits if all_logits else logits[0]

    # -- decode: one new token for each of B rows -----------------------------------------
    def decode(self, tokens: np.ndarray, positions: np.ndarray, cache: KVCache) -> np.ndarray:
        """tokens [B] at positions [B] (row b of the cache) -> logits [B, V]."""
        a = self.args
        b = len(tokens)
        g = a.n_heads // a.n_kv_heads
        length = int(positions.max()) + 1
        same = bool((positions == positions[0]).all())  # n samples of one prompt: no mask
        cos, sin = self._rope_tables(positions)
        rows = np.arange(b)
        mask = None
        if not same:  # keys beyond a row's own position are padding for that row
            mask = np.where(np.arange(length)[None, :] > positions[:, None], -np.inf, 0.0)
            mask = mask.astype(F32)[:, None, None, :]  # [B, 1, 1, L]
        x = self.embed[tokens]  # [B, D]
        for i, lw in enumerate(self.layers):
            h = self._norm(x, lw.attn_norm)
            q, k, v = self._qkv(h, lw, cos, sin)
            if same:
                cache.k[i, :b, :, positions[0]] = k
                cache.v[i, :b, :, positions[0]] = v
            else:
                cache.k[i, rows, :, positions] = k
                cache.v[i, rows, :, positions] = v
            q = q.reshape(b, a.n_kv_heads, g, a.head_dim) * self.scale  # [B, K, G, E]
            keys = cache.k[i, :b, :, :length]  # [B, K, L, E]
            scores = q @ keys.swapaxes(-1, -2)  # [B, K, G, L]
            if mask is not None:
                scores += mask
            att = _softmax(scores) @ cache.v[i, :b, :, :length]  # [B, K, G, E]
            x = x + lw.o(att.reshape(b, a.n_heads * a.head_dim))
            x = x + self._mlp(self._norm(x, lw.mlp_norm), lw)
        return self.lm_head(self._norm(x, self.norm))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


class _Weights:
    """Checked access to checkpoint tensors: a missing or misshapen one names itself."""

    def __init__(self, weights: dict[str, np.ndarray], args: ModelArgs) -> None:
        self.weights = weights
        self.args = args

    def take(self, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
        try:
            arr = self.weights[name]
        except KeyError:
            raise ModelLoadError(
                f"checkpoint lacks tensor {name!r} that a {self.args.architecture} with this "
                "config needs"
            ) from None
        if shape is not None and tuple(arr.shape) != shape:
            raise ModelLoadError(
                f"tensor {name!r} has shape {tuple(arr.shape)}, config.json implies {shape}"
            )
        return np.ascontiguousarray(arr, dtype=F32)
