"""Every value a model sows, read without changing the model (DESIGN: Model contract).

`sown_intermediates` applies a Flax module with `mutable=["intermediates"]` and returns that
collection. With `attention_weights=True` the shared multi-head shell
(lib/attention/multihead.MultiHeadAttention) is asked for its weights through
`nn.intercept_methods` (its kernel gets `return_weights=True` when it names that argument; other
kernels run as before and sow nothing), so models that do not pass `return_weights`
themselves (research/vit) still sow 'attention_weights'. `capture` adds the outputs of chosen
submodules through Flax's `capture_intermediates` (e.g. every encoder block's residual
stream, for the logit lens), stored under '<module path>/__call__'.
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Callable

import flax.linen as nn
import jax
import numpy as np

from lib.attention.multihead import MultiHeadAttention


def _takes_return_weights(kernel) -> bool:
  """Whether the attention kernel names a `return_weights` argument (a kernel wrapped by
  `as_kernel`, with only **kwargs, has none and is left alone)."""
  fn = type(kernel).__call__ if isinstance(kernel, nn.Module) else kernel
  try:
    return "return_weights" in inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return False


def _ask_for_weights(next_fun, args, kwargs, context):
  if (isinstance(context.module, MultiHeadAttention) and context.method_name == "__call__"
      and _takes_return_weights(context.module.kernel)):
    kwargs = {"return_weights": True, **kwargs}
  return next_fun(*args, **kwargs)


def sown_intermediates(model: nn.Module, variables: dict, *args, attention_weights: bool = True,
                       capture: Callable[[nn.Module], bool] | tuple | None = None,
                       **kwargs) -> tuple[Any, dict]:
  """(output, intermediates) of model.apply(variables, *args, **kwargs). capture: a predicate
  on modules or a tuple of module classes whose outputs are recorded too."""
  if isinstance(capture, tuple):
    classes = capture
    capture = lambda mdl, method: isinstance(mdl, classes) and method == "__call__"
  elif capture is not None:
    predicate = capture
    capture = lambda mdl, method: predicate(mdl) and method == "__call__"

  def apply():
    return model.apply(variables, *args, mutable=["intermediates"],
                       capture_intermediates=capture or False, **kwargs)

  if attention_weights:
    with nn.intercept_methods(_ask_for_weights):
      out, state = apply()
  else:
    out, state = apply()
  return out, dict(state).get("intermediates", {})


def _natural_key(path: str):
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def collect(intermediates: Any, name: str) -> list[tuple[str, np.ndarray]]:
  """(path, value) of every leaf of `intermediates` under a key `name` ('attention_weights',
  '__call__', 'pre_logits'), in layer order: paths sorted with numbers compared as numbers
  (block_2 before block_10)."""
  found = []
  for path, leaf in jax.tree_util.tree_leaves_with_path(intermediates):
    keys = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
    if name in keys:
      found.append(("/".join(keys), np.asarray(leaf)))
  return sorted(found, key=lambda kv: _natural_key(kv[0]))
