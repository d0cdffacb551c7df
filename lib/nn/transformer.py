"""The shared transformer block family: pre-LN encoder blocks and the stack that runs them.

One block serves the ViT, the LRA sequence classifier, MAE's encoder and decoder (and the
masked-token and diffusion transformers that build on them): LayerNorm -> multi-head attention
(any kernel of lib/attention) -> residual, LayerNorm -> MLP -> residual ("An Image is Worth
16x16 Words", Eq. 2-3). Param paths are fixed (`ln1`, `attn/{query,key,value,out}`, `ln2`,
`mlp/{fc1,fc2}`), so the sharding presets' logical axes (lib/train/sharding_presets.py) and the
analysis API (lib/analysis) read every model built on it the same way.

Conditioning hook: `conditioning="adaln_zero"` makes each block DiT's adaLN-Zero block (Peebles
& Xie 2023, Sec. 3.2; lib/nn/adaln_zero.py): the call takes a conditioning vector c [B, D_c],
both LayerNorms lose their affine, Linear(SiLU(c)) (`adaLN_modulation`, zero-initialised) gives
shift / scale / gate for each branch, x + gate * branch(LN(x) (1 + scale) + shift), and the block
starts as the identity. The attention and MLP params keep their paths.

`encoder_stack` runs `depth` blocks inside the caller's module, unrolled (`block_<i>`) or
under `nn.scan` (`blocks`, every leaf stacked on a leading axis), each optionally
rematerialised; `stack_blocks` / `unstack_blocks` convert params between the two layouts.
Activation sharding: the residual stream is constrained to batch over (data, fsdp) and the MLP
hidden over `model`, only when a mesh with those axes is set (lib/nn/activation_sharding).
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.attention.multihead import MultiHeadAttention, dot_product_kernel
from lib.nn.adaln_zero import AdaLNModulation, modulate, plain_layer_norm
from lib.nn.activation_sharding import BATCH, MODEL, constrain


class MlpBlock(nn.Module):
  """Dense(mlp_dim) -> GELU -> dropout -> Dense(width)."""
  mlp_dim: int
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    d = x.shape[-1]
    x = nn.Dense(self.mlp_dim, dtype=self.dtype, name="fc1")(x)
    x = constrain(x, (BATCH,) + (None,) * (x.ndim - 2) + (MODEL,))  # hidden over `model`
    x = nn.gelu(x)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(d, dtype=self.dtype, name="fc2")(x)


CONDITIONINGS = ("none", "adaln_zero")


class EncoderBlock(nn.Module):
  """x + MSA(LN(x)), then x + MLP(LN(x)); `kernel` is any lib/attention kernel.
  With `conditioning="adaln_zero"` the call takes c [B, D_c] (the module docstring)."""
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Any = jnp.float32
  kernel: Callable = dot_product_kernel
  conditioning: str = "none"

  @nn.compact
  def __call__(self, x, train: bool, c=None):
    if self.conditioning == "adaln_zero":
      return self._adaln_zero(x, train, c)
    if self.conditioning != "none":
      raise ValueError(f"conditioning={self.conditioning!r}: use one of {CONDITIONINGS}")
    y = nn.LayerNorm(dtype=self.dtype, name="ln1")(x)
    y = MultiHeadAttention(num_heads=self.num_heads, kernel=self.kernel, dtype=self.dtype,
                           name="attn")(y)                                   # z' = MSA(LN(z)) + z
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    y = nn.LayerNorm(dtype=self.dtype, name="ln2")(x)
    y = MlpBlock(self.mlp_dim, self.dropout, self.dtype, name="mlp")(y, train)  # MLP(LN(z')) + z'
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    return constrain(x, (BATCH, None, None))  # the residual stream: batch over data x fsdp

  def _adaln_zero(self, x, train: bool, c):
    if c is None:
      raise ValueError("an adaln_zero block needs the conditioning vector c [B, D_c]")
    drop = nn.Dropout(self.dropout, deterministic=not train)
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = AdaLNModulation(
        x.shape[-1], 6, self.dtype, name="adaLN_modulation")(c)
    y = modulate(plain_layer_norm(self.dtype, "ln1")(x), shift_msa, scale_msa)
    y = MultiHeadAttention(num_heads=self.num_heads, kernel=self.kernel, dtype=self.dtype,
                           name="attn")(y)
    x = x + gate_msa[:, None] * drop(y)                  # x + gate_msa MSA(modulate(LN(x)))
    y = modulate(plain_layer_norm(self.dtype, "ln2")(x), shift_mlp, scale_mlp)
    y = MlpBlock(self.mlp_dim, self.dropout, self.dtype, name="mlp")(y, train)
    x = x + gate_mlp[:, None] * drop(y)                  # x + gate_mlp MLP(modulate(LN(x)))
    return constrain(x, (BATCH, None, None))


def encoder_stack(x, train: bool, *, depth: int, num_heads: int, mlp_dim: int,
                  dropout: float = 0.0, dtype: Any = jnp.float32,
                  kernel: Callable = dot_product_kernel, remat: bool = False,
                  scan_layers: bool = False, prefix: str = "block",
                  conditioning: str = "none", cond=None):
  """`depth` EncoderBlocks, created in the calling module (call it from a compact method).

  Unrolled: params under `<prefix>_<i>`; scanned: one `<prefix>s` subtree stacked on a leading
  axis of size depth (one block compiled instead of depth; the sown intermediates are stacked
  the same way). `remat` recomputes each block's activations in the backward pass.
  `conditioning` / `cond`: the blocks' conditioning hook and its vector (the same c for every
  block, e.g. DiT's timestep + label embedding).
  """
  args = (num_heads, mlp_dim, dropout, dtype, kernel, conditioning)
  if not scan_layers:
    block = nn.remat(EncoderBlock, static_argnums=(2,)) if remat else EncoderBlock
    for i in range(depth):
      x = block(*args, name=f"{prefix}_{i}")(x, train, cond)
    return x

  def step(block, carry, c):
    return block(carry, train, c), None

  if remat:
    step = nn.remat(step)
  scan = nn.scan(step, variable_axes={"params": 0, "intermediates": 0},
                 split_rngs={"params": True, "dropout": True}, in_axes=nn.broadcast,
                 length=depth)
  x, _ = scan(EncoderBlock(*args, name=f"{prefix}s"), x, cond)
  return x


def stack_blocks(params: dict, depth: int, prefix: str = "block") -> dict:
  """Params of an unrolled stack (<prefix>_0 .. <prefix>_<depth-1>) -> those of
  `scan_layers=True` (one `<prefix>s` subtree, each leaf stacked on a new leading axis)."""
  names = [f"{prefix}_{i}" for i in range(depth)]
  out = {k: v for k, v in params.items() if k not in names}
  out[f"{prefix}s"] = jax.tree.map(lambda *xs: jnp.stack(xs), *[params[n] for n in names])
  return out


def unstack_blocks(params: dict, prefix: str = "block") -> dict:
  """The inverse of `stack_blocks`."""
  out = {k: v for k, v in params.items() if k != f"{prefix}s"}
  depth = jax.tree.leaves(params[f"{prefix}s"])[0].shape[0]
  for i in range(depth):
    out[f"{prefix}_{i}"] = jax.tree.map(lambda x, i=i: x[i], params[f"{prefix}s"])
  return out
