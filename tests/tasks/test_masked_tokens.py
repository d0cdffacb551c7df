"""lib/tasks/masked_tokens.py, mask_schedules.py and masked_decoding.py: schedules against
their closed forms, the decoder's invariants (determinism, the masked count per step, kept
tokens never change, given tokens untouched), the masked loss against numpy, inpainting, and
the tokenizer-workdir errors."""
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from configs import maskgit as maskgit_config
from lib.errors import ConfigError
from lib.tasks import mask_schedules
from lib.tasks import masked_tokens as mt
from lib.tasks.masked_decoding import decode

CLOSED_FORMS = {"cosine": lambda r: np.cos(np.pi * r / 2), "linear": lambda r: 1 - r,
                "arccos": lambda r: np.arccos(r) / (np.pi / 2), "sqrt": lambda r: 1 - np.sqrt(r),
                "square": lambda r: 1 - r ** 2}


@pytest.mark.parametrize("schedule", mask_schedules.SCHEDULES)
def test_schedule_closed_form_endpoints_and_monotone(schedule):
  r = np.linspace(0, 1, 101)
  g = np.asarray(mask_schedules.gamma(r, schedule))
  np.testing.assert_allclose(g, CLOSED_FORMS[schedule](r), atol=1e-6)
  assert abs(g[0] - 1) < 1e-6 and abs(g[-1]) < 1e-6
  assert np.all(np.diff(g) < 0)


def test_unknown_schedule_is_a_config_error():
  with pytest.raises(ConfigError, match="cosine"):
    mask_schedules.gamma(0.5, "exp")


def test_mage_truncated_normal_ratio_matches_scipy():
  x = np.asarray(mask_schedules.truncated_normal_ratio(jax.random.key(0), (20000,)))
  ref = stats.truncnorm((0.5 - 0.55) / 0.25, (1.0 - 0.55) / 0.25, loc=0.55, scale=0.25)
  assert x.min() >= 0.5 and x.max() <= 1.0
  assert abs(x.mean() - ref.mean()) < 0.005 and abs(x.std() - ref.std()) < 0.005


def test_random_mask_masks_exactly_ceil_ratio_times_length():
  ratio = jnp.array([0.0, 0.01, 0.3, 0.55, 1.0])
  m = np.asarray(mt.random_mask(jax.random.key(1), ratio, 64))
  np.testing.assert_array_equal(m.sum(1), [1, 1, 20, 36, 64])


def test_masked_cross_entropy_against_numpy():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 5, 1, 7)).astype(np.float32)
  targets = rng.integers(0, 7, size=(2, 5, 1))
  masked = rng.random((2, 5, 1)) < 0.5
  eps = 0.1
  onehot = np.eye(7)[targets] * (1 - eps) + eps / 7
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  ce = -(onehot * logp).sum(-1)
  want = ce[masked].mean()
  got = float(mt.masked_cross_entropy(jnp.asarray(logits), jnp.asarray(targets),
                                      jnp.asarray(masked), eps))
  np.testing.assert_allclose(got, want, rtol=1e-5)


# --- the decoder on a toy network --------------------------------------------------------------

V, L, T = 11, 40, 6
_W = jax.random.normal(jax.random.key(5), (V + 1, L, V))


def toy_logits(ids):
  """Logits that depend on every input id (a bidirectional toy 'network')."""
  feats = jax.nn.one_hot(ids, V + 1).sum(1)                      # [B, V+1]
  return jnp.einsum("bv,vlk->blk", feats, _W) / 4.0


def run_decode(rng, tokens, unknown, schedule="cosine", num_iter=T):
  return jax.jit(lambda r, t, u: decode(toy_logits, t, u, r, num_iter=num_iter,
                                        choice_temperature=4.5, schedule=schedule,
                                        mask_id=V))(rng, tokens, unknown)


def expected_counts(n0, num_iter, schedule):
  """The masked count after each step, a numpy transcription of the decoder's rule."""
  u, out = n0, []
  for t in range(num_iter):
    g = max(CLOSED_FORMS[schedule]((t + 1) / num_iter), 1e-6)
    n = 0 if t == num_iter - 1 else max(min(max(math.floor(n0 * g), 1), u - 1), 0)
    out.append(n)
    u = n
  return out


@pytest.fixture(scope="module")
def decoded():
  tokens = jnp.zeros((3, L), jnp.int32)
  unknown = jnp.ones((3, L), bool)
  return run_decode(jax.random.key(0), tokens, unknown)


def test_decoding_is_deterministic_for_a_fixed_rng(decoded):
  out, hist = decoded
  out2, hist2 = run_decode(jax.random.key(0), jnp.zeros((3, L), jnp.int32), jnp.ones((3, L), bool))
  np.testing.assert_array_equal(out, out2)
  np.testing.assert_array_equal(hist, hist2)
  out3, _ = run_decode(jax.random.key(1), jnp.zeros((3, L), jnp.int32), jnp.ones((3, L), bool))
  assert not np.array_equal(out, out3)


@pytest.mark.parametrize("schedule", ["cosine", "arccos"])
def test_masked_count_after_each_step_follows_the_schedule(schedule):
  _, hist = run_decode(jax.random.key(2), jnp.zeros((2, L), jnp.int32), jnp.ones((2, L), bool),
                       schedule)
  counts = (np.asarray(hist) == V).sum(-1)                        # [T, B]
  want = expected_counts(L, T, schedule)
  for b in range(2):
    np.testing.assert_array_equal(counts[:, b], want)
  # N0 >= T here: every step but the last leaves floor(N0 gamma((t+1)/T)) masked
  floors = [math.floor(L * CLOSED_FORMS[schedule]((t + 1) / T)) for t in range(T - 1)]
  assert want[:-1] == floors and want[-1] == 0


def test_a_kept_token_never_changes(decoded):
  out, hist = (np.asarray(a) for a in decoded)
  steps = list(hist) + [out]
  for t in range(len(steps) - 1):
    kept = steps[t] != V
    for later in steps[t + 1:]:
      np.testing.assert_array_equal(later[kept], steps[t][kept])
  assert (out != V).all() and out.max() < V
  revealed = [(s != V).sum(-1) for s in hist]
  assert all(np.all(b > a) for a, b in zip(revealed[:-1], revealed[1:]))   # >= 1 new per step
  np.testing.assert_array_equal(hist[-1], out)                     # the last step fills all


def test_given_tokens_are_left_exactly():
  rng = np.random.default_rng(3)
  tokens = jnp.asarray(rng.integers(0, V, (2, L)), jnp.int32)
  unknown = jnp.asarray(rng.random((2, L)) < 0.4)
  out, hist = run_decode(jax.random.key(4), tokens, unknown)
  np.testing.assert_array_equal(np.asarray(out)[~np.asarray(unknown)],
                                np.asarray(tokens)[~np.asarray(unknown)])
  n0 = np.asarray(unknown).sum(-1)
  counts = (np.asarray(hist) == V).sum(-1)
  for b in range(2):
    np.testing.assert_array_equal(counts[:, b], expected_counts(int(n0[b]), T, "cosine"))


# --- the task on the smoke config (random tokenizer) -------------------------------------------

@pytest.fixture(scope="module")
def smoke():
  config = maskgit_config.get_config("smoke")
  images = jax.random.uniform(jax.random.key(0), (4, 16, 16, 1), minval=-1, maxval=1)
  state = mt.init(config, jax.random.key(0), {"image": images, "label": jnp.arange(4)})
  return config, state, images


def test_inpainting_leaves_unmasked_tokens_exactly(smoke):
  config, state, images = smoke
  lay = mt.token_layout(config)
  region = mt.region_mask(lay["grid"], 2, 2, 4, 3)
  edit = jax.jit(lambda s, r, x: mt.edit(config, s, r, x, region, jnp.arange(4)))
  edited, units = edit(state, jax.random.key(1), images)
  given = np.asarray(mt.image_tokens(config, state, images))
  keep = ~region.reshape(-1)
  np.testing.assert_array_equal(np.asarray(units)[:, keep], given[:, keep])
  assert edited.shape == images.shape
  outpaint = mt.region_mask(lay["grid"], 2, 2, 4, 3, outpaint=True)
  assert outpaint.sum() == region.size - region.sum() and not (outpaint & region).any()


def test_guidance_combines_conditional_and_null_logits(smoke):
  config, state, _ = smoke
  lay = mt.token_layout(config)
  model = mt.model_of(config)
  ids = jax.random.randint(jax.random.key(2), (2, lay["num_tokens"]), 0, lay["values"] + 1)
  labels = jnp.array([3, 7])
  variables = {"params": state.eval_params}
  apply = jax.jit(lambda y: model.apply(variables, ids[..., None], y)[:, :, 0])
  cond, null = apply(labels), apply(jnp.full((2,), 10))
  guided = jax.jit(lambda s: mt.guided_logits_fn(config, state, labels, s)(ids),
                   static_argnums=0)
  np.testing.assert_allclose(guided(2.0), cond + 2.0 * (cond - null), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(guided(0.0), cond, rtol=1e-5, atol=1e-5)


def test_bit_groups_split_and_combine_as_the_bit_formula():
  ids = jnp.arange(1024, dtype=jnp.int32)
  groups = np.asarray(mt.split_groups(ids, 2, 5))
  bits = (np.arange(1024)[:, None] >> np.arange(10)) & 1          # bit i of weight 2^i
  np.testing.assert_array_equal(groups[:, 0], bits[:, :5] @ (2 ** np.arange(5)))
  np.testing.assert_array_equal(groups[:, 1], bits[:, 5:] @ (2 ** np.arange(5)))
  np.testing.assert_array_equal(mt.combine_groups(jnp.asarray(groups), 5), ids)


# --- the tokenizer workdir -------------------------------------------------------------------

def _with_tokenizer(workdir):
  config = maskgit_config.get_config("smoke")
  config.tokenizer.workdir = str(workdir)
  return config


def test_missing_tokenizer_workdir_is_a_clear_error(tmp_path):
  with pytest.raises(ConfigError, match="does not exist.*configs/vqgan.py"):
    mt.token_layout(_with_tokenizer(tmp_path / "nothing_here"))


def test_a_workdir_of_another_task_is_not_a_tokenizer(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({"task": "lib.tasks.classify"}))
  with pytest.raises(ConfigError, match="lib.tasks.classify.*not a tokenizer"):
    mt.token_layout(_with_tokenizer(tmp_path))


def test_a_tokenizer_run_without_checkpoint_is_a_clear_error(tmp_path):
  from configs.vqgan import get_config
  tok = get_config("smoke")
  (tmp_path / "config.json").write_text(tok.to_json())
  with pytest.raises(ConfigError, match="no tokenizer to load"):
    mt.token_layout(_with_tokenizer(tmp_path))


def test_a_directory_without_a_run_is_a_clear_error(tmp_path):
  os.makedirs(tmp_path / "empty")
  with pytest.raises(ConfigError, match="no run"):
    mt.token_layout(_with_tokenizer(tmp_path / "empty"))
