"""lib/xla_cpu_flags.py: the user's XLA_FLAGS are kept (and win), the flag is CPU-only, and the
compiled conv train step no longer takes YNNPACK's convolution path (checked against the same
program compiled in a fresh process with the flags switched off, where it does)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import pytest

from lib import xla_cpu_flags as xf

FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_merge_keeps_user_flags_and_user_wins():
  assert xf.merged_flags("") == FLAG
  assert xf.merged_flags("--xla_dump_to=/tmp/d") == f"--xla_dump_to=/tmp/d {FLAG}"
  user = "--xla_cpu_experimental_ynn_fusion_type= --xla_force_host_platform_device_count=8"
  assert xf.merged_flags(user) == user          # the user's own value of the flag wins
  assert xf.merged_flags(f"--a=1 {FLAG}") == f"--a=1 {FLAG}"   # never appended twice


def test_apply_only_for_the_cpu_backend(monkeypatch):
  monkeypatch.setattr(xf, "_backends_initialized", lambda: False)
  env = {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_dump_to=/tmp/d"}
  assert xf.apply_cpu_flags(env)
  assert env["XLA_FLAGS"] == f"--xla_dump_to=/tmp/d {FLAG}"
  for platforms in ("cuda", "tpu", "cuda,cpu"):
    env = {"JAX_PLATFORMS": platforms}
    assert not xf.apply_cpu_flags(env) and "XLA_FLAGS" not in env
  env = {"JAX_PLATFORMS": "cpu", xf.OPT_OUT: "0"}
  assert not xf.apply_cpu_flags(env) and "XLA_FLAGS" not in env
  monkeypatch.setattr(xf, "_accelerator_installed", lambda: True)
  env = {}
  assert not xf.apply_cpu_flags(env) and "XLA_FLAGS" not in env   # a GPU/TPU host
  monkeypatch.setattr(xf, "_accelerator_installed", lambda: False)
  env = {}
  assert xf.apply_cpu_flags(env) and env["XLA_FLAGS"] == FLAG


def test_warns_once_when_jax_already_started(monkeypatch):
  jnp.zeros(()).block_until_ready()                      # this process's backend is up
  monkeypatch.setattr(xf, "_warned", False)
  env = {"JAX_PLATFORMS": "cpu"}
  with pytest.warns(RuntimeWarning, match="cannot take effect"):
    assert not xf.apply_cpu_flags(env)
  assert "XLA_FLAGS" not in env
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    xf.apply_cpu_flags(env)                              # the second time: silent


def _conv_step_hlo() -> str:
  """HLO of one SGD step of a 3x3 conv layer, a shape XLA:CPU sends to YNNPACK by default."""
  def loss(w, x):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.mean(jnp.square(jax.nn.relu(y)))

  def step(w, x):
    return w - 0.1 * jax.grad(loss)(w, x)

  w = jax.ShapeDtypeStruct((3, 3, 32, 32), jnp.float32)
  x = jax.ShapeDtypeStruct((8, 32, 32, 32), jnp.float32)
  return jax.jit(step).lower(w, x).compile().as_text()


def _ynn_convolutions(hlo: str) -> int:
  """YNNPACK fusions (backend kind __ynn_fusion) whose fused computation holds a convolution."""
  bodies, name = {}, None
  for line in hlo.splitlines():
    m = re.match(r"^%?([\w.\-]+) .*\{$", line)
    if m:
      name = m.group(1)
      bodies[name] = []
    elif name is not None:
      bodies[name].append(line)
  calls = re.findall(r"calls=%([\w.\-]+).*__ynn_fusion", hlo)
  return sum(any(" convolution(" in l for l in bodies.get(c, ())) for c in calls)


def test_compiled_conv_step_avoids_the_ynn_convolution_path():
  assert FLAG in os.environ["XLA_FLAGS"]                 # conftest applied it before jax
  hlo = _conv_step_hlo()
  assert " convolution(" in hlo and _ynn_convolutions(hlo) == 0
  # The reference: the same program in a fresh process with the flags off takes YNNPACK's
  # path, so the check above is not vacuous (and would catch a jaxlib that ignores the flag).
  code = ("import sys; sys.path.insert(0, %r)\n"
          "from tests.train.test_xla_cpu_flags import _conv_step_hlo, _ynn_convolutions\n"
          "print('YNN', _ynn_convolutions(_conv_step_hlo()))" % ROOT)
  env = {**os.environ, xf.OPT_OUT: "0", "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": os.environ["XLA_FLAGS"].replace(FLAG, "").strip()}
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-2000:]
  assert int(re.search(r"YNN (\d+)", out.stdout).group(1)) >= 1


def test_fast_init_compile_is_cpu_only():
  """The Trainer compiles its init with FAST_COMPILE on CPU meshes only; GPU and TPU meshes keep
  their compilers' defaults."""
  import types

  import numpy as np

  from lib.train import loop
  mesh_of = lambda platform: types.SimpleNamespace(
      devices=np.array([types.SimpleNamespace(platform=platform)] * 2))
  assert loop._init_compiler_options(mesh_of("cpu")) == xf.FAST_COMPILE
  assert loop._init_compiler_options(mesh_of("gpu")) is None
  assert loop._init_compiler_options(mesh_of("tpu")) is None
