"""research/maskgit/model.py: the MaskGIT head's logits are tied to the token embedding, the
class token conditions the output, MaskBit's input is embedding-free (bits -> +-1, [MASK] -> 0)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.maskgit.model import MaskGITTransformer, bits_of_groups

SIZE = dict(width=32, depth=1, num_heads=2, mlp_dim=64, dropout=0.0)


@pytest.fixture(scope="module")
def embedding_model():
  model = MaskGITTransformer(codebook_size=16, num_tokens=9, num_classes=3, **SIZE)
  ids = jax.random.randint(jax.random.key(0), (2, 9, 1), 0, 17)
  params = model.init(jax.random.key(1), ids, jnp.array([0, 1]))
  return model, params, ids


def test_logits_are_the_tied_embedding_plus_bias(embedding_model):
  model, params, ids = embedding_model
  logits = model.apply(params, ids, jnp.array([0, 1]))
  assert logits.shape == (2, 9, 1, 16)
  table = params["params"]["token_embedding"]["embedding"]
  assert table.shape == (16 + 1 + 3 + 1, 32)                       # codes, [MASK], classes, null
  p = params["params"]
  h = model.apply(params, ids, jnp.array([0, 1]), features=True)[:, 1:]
  d = h @ p["mlm_dense"]["kernel"] + p["mlm_dense"]["bias"]
  d = np.asarray(jax.nn.gelu(d))
  mu, var = d.mean(-1, keepdims=True), d.var(-1, keepdims=True)
  d = (d - mu) / np.sqrt(var + 1e-12) * p["mlm_ln"]["scale"] + p["mlm_ln"]["bias"]
  want = d @ np.asarray(table[:16]).T + np.asarray(p["mlm_bias"])
  np.testing.assert_allclose(logits[:, :, 0], want, rtol=1e-4, atol=1e-4)


def test_the_class_token_conditions_the_output(embedding_model):
  model, params, ids = embedding_model
  a = model.apply(params, ids, jnp.array([0, 0]))
  b = model.apply(params, ids, jnp.array([2, 3]))                  # 3 = the null class
  assert not np.allclose(a, b)


def test_bits_input_is_plus_minus_one_and_zero_when_masked():
  tokens = jnp.array([[[5, 32], [0, 31]]])                         # 5 bits per group, [MASK]=32
  x = np.asarray(bits_of_groups(tokens, 5, 32))
  np.testing.assert_array_equal(x[0, 0], [1, -1, 1, -1, -1, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(x[0, 1], [-1] * 5 + [1] * 5)


def test_maskbit_model_has_no_token_embedding():
  model = MaskGITTransformer(codebook_size=32, num_tokens=4, groups=2, input="bits",
                             num_classes=3, **SIZE)
  ids = jnp.zeros((1, 4, 2), jnp.int32)
  params = model.init(jax.random.key(0), ids, jnp.array([1]))["params"]
  assert "token_embedding" not in params and params["bit_projection"]["kernel"].shape == (10, 32)
  assert model.apply({"params": params}, ids, jnp.array([1])).shape == (1, 4, 2, 32)
