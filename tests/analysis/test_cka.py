"""Linear and minibatch CKA against explicit-matrix transcriptions and known invariances."""
import numpy as np
import pytest

from lib.analysis import cka
from lib.errors import DataError


def _hsic_explicit(k, l):
  n = k.shape[0]
  h = np.eye(n) - np.ones((n, n)) / n
  return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def _hsic1_u_centred(k, l):
  """Unbiased HSIC as the inner product of U-centred Gram matrices (Szekely & Rizzo 2014)."""
  n = k.shape[0]

  def u_centre(g):
    g = g.copy()
    np.fill_diagonal(g, 0)
    u = (g - g.sum(0, keepdims=True) / (n - 2) - g.sum(1, keepdims=True) / (n - 2)
         + g.sum() / ((n - 1) * (n - 2)))
    np.fill_diagonal(u, 0)
    return u

  return np.sum(u_centre(k) * u_centre(l)) / (n * (n - 3))


def test_linear_cka_matches_hsic_definition():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(40, 7)), rng.normal(size=(40, 5, 2))
  k, l = x @ x.T, y.reshape(40, -1) @ y.reshape(40, -1).T
  want = _hsic_explicit(k, l) / np.sqrt(_hsic_explicit(k, k) * _hsic_explicit(l, l))
  assert cka.linear_cka(x, y) == pytest.approx(want, rel=1e-10)
  assert cka.hsic(k, l) == pytest.approx(_hsic_explicit(k, l), rel=1e-10)


def test_cka_invariances():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(60, 12))
  q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
  assert cka.linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-10)
  y = np.tanh(x @ rng.normal(size=(12, 9)))
  base = cka.linear_cka(x, y)
  assert cka.linear_cka(3.7 * x, 0.2 * y) == pytest.approx(base, rel=1e-10)
  assert cka.linear_cka(x @ q, y) == pytest.approx(base, rel=1e-10)
  # the minibatch estimator shares the invariances
  mb = lambda a, b: cka.cka_matrix([a], [b], batch_size=20)[0, 0]
  assert mb(x, x @ q) == pytest.approx(1.0, abs=1e-10)
  assert mb(5.0 * x, y) == pytest.approx(mb(x, y), rel=1e-10)


def test_unbiased_hsic_matches_u_centred_form():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 6))
  k, l = x @ x.T, y @ y.T
  assert cka.hsic_unbiased(k, l) == pytest.approx(_hsic1_u_centred(k, l), rel=1e-9)
  with pytest.raises(DataError, match="at least 4"):
    cka.hsic_unbiased(k[:3, :3], l[:3, :3])


def test_minibatch_agrees_with_full_and_independent_is_small():
  rng = np.random.default_rng(3)
  n = 3000
  x = rng.normal(size=(n, 6))
  y = x @ rng.normal(size=(6, 4)) + 0.8 * rng.normal(size=(n, 4))
  full = cka.linear_cka(x, y)
  minib = cka.minibatch_cka((x[i:i + 250], y[i:i + 250]) for i in range(0, n, 250))
  assert 0.2 < full < 0.95
  assert minib == pytest.approx(full, abs=0.03)
  z = rng.normal(size=(n, 5))
  assert cka.linear_cka(x, z) < 0.02
  assert abs(cka.cka_matrix([x], [z], batch_size=250)[0, 0]) < 0.02


def test_cka_matrix():
  rng = np.random.default_rng(4)
  layers = [rng.normal(size=(50, 3))]
  layers += [np.tanh(layers[-1] @ rng.normal(size=(3, 8))), rng.normal(size=(50, 2, 2))]
  m = cka.cka_matrix(layers)
  assert m.shape == (3, 3)
  np.testing.assert_allclose(np.diag(m), 1.0)
  np.testing.assert_allclose(m, m.T)
  assert m[0, 1] == pytest.approx(cka.linear_cka(layers[0], layers[1]))
  mb = cka.cka_matrix(layers, layers[:2], batch_size=10)
  assert mb.shape == (3, 2)
  want = cka.minibatch_cka((layers[2][i:i + 10], layers[1][i:i + 10]) for i in range(0, 50, 10))
  assert mb[2, 1] == pytest.approx(want, rel=1e-10)
  with pytest.raises(DataError, match="same"):
    cka.cka_matrix([layers[0]], [layers[1][:40]])
