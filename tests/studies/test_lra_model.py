"""Every attention kernel of the LRA classifier has the same parameters (same model size) and
classifies tokens, pixel sequences and images; the sweep over kernels validates."""
import jax
import jax.numpy as jnp
import pytest

from lib.studies import sweep as sweep_lib
from research.lra.model import SequenceClassifier

KERNELS = ["dot_product", "linear", "performer", "local", "sparse"]


@pytest.mark.parametrize("vocab,shape", [(16, (2, 32)), (0, (2, 32, 1)), (0, (2, 4, 8, 1))])
def test_kernels_same_size_and_shapes(vocab, shape):
  x = jnp.zeros(shape, jnp.int32 if vocab else jnp.float32)
  sizes = set()
  for att in KERNELS:
    m = SequenceClassifier(num_classes=3, attention=att, vocab_size=vocab, max_len=32,
                           hidden_size=16, depth=1, num_heads=2, mlp_dim=32, window=4,
                           num_features=8)
    v = m.init(jax.random.key(0), x)
    y = m.apply(v, x)
    assert y.shape == (2, 3) and bool(jnp.all(jnp.isfinite(y)))
    sizes.add(sum(a.size for a in jax.tree.leaves(v["params"])))
  assert len(sizes) == 1


def test_lra_sweep_expands():
  path, sw = sweep_lib.load_sweep("configs/lra.py:smoke,kernels=dot_product+linear,seeds=2")
  runs = sweep_lib.expand(path, sw)
  assert [r.name for r in runs][:2] == ["model.attention=dot_product,seed=0",
                                        "model.attention=dot_product,seed=1"]
  assert len(runs) == 4 and runs[0].overrides["total_steps"] == 4
