"""Compiled cost against closed forms (a matmul: 2mnk FLOPs, its buffer sizes), per-device
accounting on the 8-device mesh, the peak table, the cached CPU probe, and MFU arithmetic."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from lib.train import observability as ob

M, K, N = 256, 512, 128


def _matmul(a_sharding=None):
  a = jax.ShapeDtypeStruct((M, K), jnp.float32, sharding=a_sharding)
  b = jax.ShapeDtypeStruct((K, N), jnp.float32)
  return jax.jit(jnp.matmul).lower(a, b).compile()


def test_compiled_cost_of_a_matmul_is_its_closed_form():
  cost = ob.compiled_cost(_matmul())
  assert cost["flops"] == 2 * M * K * N
  assert cost["argument_bytes"] == 4 * (M * K + K * N)
  assert cost["output_bytes"] == 4 * M * N
  assert cost["total_bytes"] == (cost["argument_bytes"] + cost["output_bytes"]
                                 + cost["temp_bytes"] + cost["generated_code_bytes"]
                                 - cost["alias_bytes"])


def test_loop_bodies_are_counted_once_and_flagged():
  def f(x):
    return jax.lax.scan(lambda c, _: (c @ x, None), x, None, length=5)[0]
  compiled = jax.jit(f).lower(jax.ShapeDtypeStruct((64, 64), jnp.float32)).compile()
  cost = ob.compiled_cost(compiled)
  assert cost["while_loops"] == 1
  assert cost["flops"] < 5 * 2 * 64**3 / 2  # one body's worth, not five (an XLA limitation)
  assert "UNDERCOUNTED" in ob.StepReport(compiled, 1, peak=(1e9, "test")).summary()
  assert ob.compiled_cost(_matmul())["while_loops"] == 0


def test_sharded_cost_is_per_device():
  mesh = jax.make_mesh((8,), ("d",), axis_types=(jax.sharding.AxisType.Auto,))
  cost = ob.compiled_cost(_matmul(NamedSharding(mesh, P("d"))))
  assert cost["flops"] == 2 * M * K * N / 8
  assert cost["argument_bytes"] == 4 * (M * K / 8 + K * N)  # rows split, b replicated
  assert cost["output_bytes"] == 4 * M * N / 8


class _Fake:
  def __init__(self, cost, memory):
    self._cost, self._memory = cost, memory

  def cost_analysis(self):
    return self._cost

  def memory_analysis(self):
    return self._memory


def test_compiled_cost_accepts_lists_none_and_raising_backends():
  assert ob.compiled_cost(_Fake([{"flops": 6.0, "bytes accessed": 2.0}], None)) == {
      "flops": 6.0, "bytes_accessed": 2.0}
  assert ob.compiled_cost(_Fake(None, None)) == {}
  assert ob.compiled_cost(_Fake([], [])) == {}

  class Raising(_Fake):
    def cost_analysis(self):
      raise NotImplementedError

  mem = {"argument_size_in_bytes": 8, "output_size_in_bytes": 4, "temp_size_in_bytes": 2,
         "generated_code_size_in_bytes": 1, "alias_size_in_bytes": 4}
  assert ob.compiled_cost(Raising(None, [mem]))["total_bytes"] == 8 + 4 + 2 + 1 - 4


@pytest.mark.parametrize("kind,dtype,peak", [
    ("NVIDIA H100 80GB HBM3", "bfloat16", 989.5e12),
    ("NVIDIA H100 PCIe", "bfloat16", 756.5e12),
    ("NVIDIA H200", "bfloat16", 989.5e12),
    ("NVIDIA H200", "float32", 67e12),
    ("NVIDIA A100-SXM4-80GB", "bfloat16", 312e12),
    ("NVIDIA A100-PCIE-40GB", "float32", 19.5e12),
    ("Tesla V100-SXM2-16GB", "float32", 15.7e12),
    ("NVIDIA L4", "bfloat16", 121e12),
    ("TPU v4", "bfloat16", 275e12),
    ("TPU v5 lite", "bfloat16", 197e12),
    ("TPU v5e", "float32", 197e12),
    ("TPU v5", "bfloat16", 459e12),
    ("TPU v5p", "bfloat16", 459e12),
    ("TPU v6 lite", "bfloat16", 918e12),
])
def test_peak_table(kind, dtype, peak):
  assert ob.table_peak(kind, dtype)[0] == peak


@pytest.mark.parametrize("kind", ["NVIDIA L40S", "TPU v4 lite", "Radeon"])
def test_unknown_kinds_have_no_peak(kind):
  value, source = ob.table_peak(kind)
  assert value is None and kind in source


def test_cpu_probe_runs_once_and_is_cached(tmp_path, monkeypatch):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  calls = []
  monkeypatch.setattr(ob, "cpu_matmul_probe", lambda n, r: calls.append(n) or 1e9)
  first = ob.peak_flops(jax.devices("cpu")[0])
  second = ob.peak_flops(jax.devices("cpu")[0])
  assert calls == [2048]  # the second call read the cache
  shared = len(jax.local_devices(backend="cpu"))
  assert first[0] == second[0] == 1e9 / shared
  with open(tmp_path / "attention-gen" / "peak_flops.json") as f:
    assert json.load(f) == {ob.cpu_probe_key(): 1e9}


def test_cpu_matmul_probe_is_a_positive_rate():
  assert ob.cpu_matmul_probe(n=128, repeats=2) > 0


def test_mfu_and_perf_scalars():
  assert ob.mfu(4e12, 2.0, 1e12, 8) == pytest.approx(1.0)
  assert ob.mfu(4e12, 2.0, None, 8) is None
  report = ob.StepReport(_matmul(), num_devices=1, peak=(1e9, "test"))
  flops = 2 * M * K * N
  assert report.compile_scalars()["compile/flops_per_step"] == flops
  perf = report.perf_scalars(3.0)
  np.testing.assert_allclose(perf["perf/flops_per_sec"], 3.0 * flops)
  np.testing.assert_allclose(perf["perf/mfu"], 3.0 * flops / 1e9)
  assert "perf/mfu" not in ob.StepReport(_matmul(), 1, peak=(None, "unknown")).perf_scalars(3.0)
