"""What a compiled train step costs, and how close a run gets to the hardware's peak.

- `compiled_cost(compiled)`: FLOPs, bytes accessed and transcendentals from XLA's cost analysis,
  argument / output / temp / generated-code bytes from its memory analysis. Both are PER
  DEVICE for a sharded program (checked with jax 0.10.2 on the 8 simulated CPU devices: a
  [256, 512] @ [512, 128] matmul with the rows split 8 ways reports 2*256*512*128 / 8 FLOPs and
  its per-device argument bytes; tests/train/test_observability.py holds this).
- `peak_flops(device, dtype)`: the dense peak of one device in FLOP/s and where the number
  comes from: a table of vendors' published peaks for GPU and TPU kinds, and on CPU a jitted
  float32 matmul probe run once per machine and cached in ~/.cache/attention-gen/.
- `mfu(flops_per_step, steps_per_sec, peak, num_devices)`: model FLOPs utilisation.
- `StepReport`: what the loop logs at start (`compile/*`) and at each log point (`perf/*`).

MFU here counts the FLOPs XLA compiled (rematerialised recomputation included), so it is
what the PaLM paper calls hardware FLOPs utilisation when `model.remat` is on.
"""
from __future__ import annotations

import json
import os
import platform
import re
import statistics
import time
import jax
import jax.numpy as jnp
from absl import logging

# -- compiled cost ---------------------------------------------------------------------------

_MEMORY_FIELDS = {  # CompiledMemoryStats attribute -> our key
    "argument_size_in_bytes": "argument_bytes",
    "output_size_in_bytes": "output_bytes",
    "temp_size_in_bytes": "temp_bytes",
    "generated_code_size_in_bytes": "generated_code_bytes",
    "alias_size_in_bytes": "alias_bytes",
}


def _first(analysis):
  """cost_analysis() is a dict, a list of one dict per program (older jax), or None."""
  if analysis is None:
    return None
  if isinstance(analysis, (list, tuple)):
    return analysis[0] if analysis else None
  return analysis


def compiled_cost(compiled) -> dict[str, float]:
  """Per-device cost of a `jax.stages.Compiled` (e.g. `jax.jit(f).lower(*args).compile()`).

  Keys (absent when the backend does not report them): flops, bytes_accessed,
  transcendentals, argument_bytes, output_bytes, temp_bytes, generated_code_bytes,
  alias_bytes, and total_bytes = argument + output + temp + generated code - alias (the
  device memory the step needs, donated buffers counted once), and while_loops: the number
  of while loops in the optimized program. XLA's cost analysis counts a loop body ONCE,
  whatever its trip count (checked: a 5-step lax.scan of a 64^3 matmul reports 1/5 of its
  FLOPs), so with scan_layers or accumulate_steps > 1 the FLOPs (and MFU) are undercounted.
  """
  out: dict[str, float] = {}
  try:
    cost = _first(compiled.cost_analysis())
  except Exception as e:  # some backends raise instead of returning None
    logging.info("cost_analysis unavailable: %s", e)
    cost = None
  if cost:
    for key, name in (("flops", "flops"), ("bytes accessed", "bytes_accessed"),
                      ("transcendentals", "transcendentals")):
      if key in cost and cost[key] is not None and float(cost[key]) >= 0:
        out[name] = float(cost[key])
  try:
    memory = _first(compiled.memory_analysis())
  except Exception as e:
    logging.info("memory_analysis unavailable: %s", e)
    memory = None
  if memory is not None:
    for attr, name in _MEMORY_FIELDS.items():
      value = memory.get(attr) if isinstance(memory, dict) else getattr(memory, attr, None)
      if value is not None:
        out[name] = float(value)
    parts = ("argument_bytes", "output_bytes", "temp_bytes", "generated_code_bytes")
    if all(p in out for p in parts):
      out["total_bytes"] = sum(out[p] for p in parts) - out.get("alias_bytes", 0.0)
  try:
    out["while_loops"] = float(len(_WHILE.findall(compiled.as_text())))
  except Exception:  # as_text is not available on every backend / object
    pass
  return out


_WHILE = re.compile(r"\swhile\(")


# -- peak FLOP/s -----------------------------------------------------------------------------

# Dense (no structured sparsity) peaks per device in FLOP/s: (regex on the lower-cased
# device_kind, bfloat16, float32, source). Most specific first. NVIDIA datasheets give the
# tensor-core numbers "with sparsity"; dense is half of that. float32 is the non-tensor-core
# FP32 figure (XLA may use TF32 for float32 dots on Ampere and later, which is faster).
# TPUs publish bf16 only; at the default matmul precision float32 dots run as bf16 passes, so
# the bf16 peak is used for float32 too.
PEAKS = (
    # NVIDIA H100 datasheet (nvidia.com/en-us/data-center/h100): SXM BF16 1,979 TF with
    # sparsity, FP32 67 TF; PCIe 1,513 / 51; NVL 1,671 / 60.
    (r"h100.*pcie", 756.5e12, 51e12, "NVIDIA H100 PCIe datasheet"),
    (r"h100.*nvl", 835.5e12, 60e12, "NVIDIA H100 NVL datasheet"),
    # NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200): SXM BF16 1,979 TF with
    # sparsity, FP32 67 TF; NVL 1,671 / 60. GH200 has the H100 SXM compute.
    (r"h200.*nvl", 835.5e12, 60e12, "NVIDIA H200 NVL datasheet"),
    (r"h100|h200|gh200", 989.5e12, 67e12, "NVIDIA H100/H200 SXM datasheet"),
    # NVIDIA A100 datasheet (nvidia.com/en-us/data-center/a100): BF16 312 TF dense, FP32 19.5.
    (r"a100", 312e12, 19.5e12, "NVIDIA A100 datasheet"),
    # NVIDIA V100 datasheet: FP32 15.7 TF (SXM2), 14 TF (PCIe); no bf16 units (FP16 tensor
    # cores only), so bf16 falls back to the FP32 figure.
    (r"v100.*pcie", 14e12, 14e12, "NVIDIA V100 PCIe datasheet (no bf16: FP32 peak)"),
    (r"v100", 15.7e12, 15.7e12, "NVIDIA V100 SXM2 datasheet (no bf16: FP32 peak)"),
    # NVIDIA L4 datasheet (nvidia.com/en-us/data-center/l4): BF16 242 TF with sparsity, FP32 30.3.
    (r"\bl4\b", 121e12, 30.3e12, "NVIDIA L4 datasheet"),
    # Google Cloud TPU system architecture pages (cloud.google.com/tpu/docs/v4, v5e, v5p,
    # v6e): bf16 peak per chip 275, 197, 459 and 918 TFLOPS; one JAX device per chip.
    (r"tpu v4", 275e12, 275e12, "Cloud TPU v4 docs (bf16 per chip)"),
    (r"tpu v5 ?(lite|e)", 197e12, 197e12, "Cloud TPU v5e docs (bf16 per chip)"),
    (r"tpu v5p?", 459e12, 459e12, "Cloud TPU v5p docs (bf16 per chip)"),
    (r"tpu v6 ?(lite|e)", 918e12, 918e12, "Cloud TPU v6e docs (bf16 per chip)"),
)


def table_peak(device_kind: str, dtype: str = "bfloat16") -> tuple[float | None, str]:
  """The published peak for a device kind ('NVIDIA H100 80GB HBM3', 'TPU v5 lite', ...)."""
  kind = device_kind.lower()
  if kind == "tpu v4 lite":  # v4i: inference chip, not in the table
    return None, f"no published peak for device kind {device_kind!r}"
  low = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
  for rx, bf16, fp32, source in PEAKS:
    if re.search(rx, kind):
      return (bf16 if low else fp32), f"{source}: {device_kind}, {'bf16' if low else 'fp32'}"
  return None, f"no published peak for device kind {device_kind!r}"


def cache_dir() -> str:
  root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(root, "attention-gen")


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.lower().startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine() or "unknown cpu"


def _cpu_cores() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def cpu_probe_key() -> str:
  return f"{_cpu_model()} | {_cpu_cores()} cores | jax {jax.__version__}"


def cpu_matmul_probe(n: int = 2048, repeats: int = 5, device=None) -> float:
  """FLOP/s of a jitted float32 n x n x n matmul on one CPU device (median of `repeats`).

  XLA's CPU backend runs one matmul on all cores of the process, so this is the machine's
  dense float32 rate, shared by every simulated CPU device of the process.
  """
  device = device or jax.devices("cpu")[0]
  a = jax.device_put(jnp.ones((n, n), jnp.float32), device)
  b = jax.device_put(jnp.full((n, n), 0.5, jnp.float32), device)
  matmul = jax.jit(jnp.matmul)
  matmul(a, b).block_until_ready()  # compile and warm up
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    matmul(a, b).block_until_ready()
    times.append(time.perf_counter() - t0)
  return 2.0 * n**3 / statistics.median(times)


def cpu_peak(n: int = 2048, repeats: int = 5) -> tuple[float, str]:
  """The machine's float32 matmul rate, probed once and cached by CPU model, cores and jax."""
  path = os.path.join(cache_dir(), "peak_flops.json")
  key = cpu_probe_key()
  try:
    with open(path) as f:
      cache = json.load(f)
  except (OSError, ValueError):
    cache = {}
  if key in cache:
    return float(cache[key]), f"cpu matmul probe (cached in {path}): {key}"
  flops = cpu_matmul_probe(n, repeats)
  cache[key] = flops
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
      json.dump(cache, f, indent=1, sort_keys=True)
    os.replace(tmp, path)  # atomic: concurrent runs never read half a file
  except OSError as e:
    logging.warning("could not cache the CPU peak in %s: %s", path, e)
  logging.info("cpu matmul probe %d^3 float32: %.3g FLOP/s (%s)", n, flops, key)
  return flops, f"cpu matmul probe {n}^3 float32 (cached in {path}): {key}"


def peak_flops(device=None, dtype: str = "bfloat16") -> tuple[float | None, str]:
  """Dense peak FLOP/s of ONE device and its source; (None, reason) when unknown.

  GPU/TPU: the vendors' table (`PEAKS`) at `dtype` (bf16/fp16 -> bf16 column). CPU: the
  cached matmul probe (float32 whatever `dtype`), divided by the number of CPU devices of
  the process, since simulated devices share the cores.
  """
  device = device or jax.devices()[0]
  if device.platform == "cpu":
    flops, source = cpu_peak()
    shared = len(jax.local_devices(backend="cpu"))
    if shared > 1:
      return flops / shared, f"{source}; shared by {shared} cpu devices"
    return flops, source
  return table_peak(device.device_kind, dtype)


def mfu(flops_per_step: float, steps_per_sec: float, peak: float | None,
        num_devices: int) -> float | None:
  """Model FLOPs utilisation: achieved FLOP/s over the peak of all devices.

  `flops_per_step` is the FLOPs of one step over ALL devices (per-device cost x devices).
  """
  if not peak or not flops_per_step:
    return None
  return flops_per_step * steps_per_sec / (peak * num_devices)


# -- what the loop logs ----------------------------------------------------------------------

class StepReport:
  """The compiled step's cost, logged once at start, and its perf at each log point.

  In the loop (after building `step_fn = jax.jit(...)`):
    compiled = step_fn.lower(ckpt.abstract_with_shardings(abstract_state, shardings),
                             abstract_batch, rng).compile()
    report = StepReport(compiled, num_devices=mesh.size, dtype=config.compute_dtype)
    writer.write(step, report.compile_scalars())          # compile/* rows, once
    ...
    metrics.update(report.perf_scalars(metrics["steps_per_sec"]))   # at each log point
  Calling `step_fn` afterwards with the same shapes and shardings reuses this executable
  (jax caches the lowering), so nothing is compiled twice.
  """

  def __init__(self, compiled, num_devices: int, dtype: str = "bfloat16", device=None,
               peak: tuple[float | None, str] | None = None):
    self.cost = compiled_cost(compiled)
    self.num_devices = int(num_devices)
    self.peak, self.peak_source = peak if peak is not None else peak_flops(device, dtype)
    self.flops_per_device = self.cost.get("flops")
    self.flops_per_step = (self.flops_per_device * self.num_devices
                           if self.flops_per_device is not None else None)
    logging.info("%s", self.summary())

  def compile_scalars(self) -> dict[str, float]:
    """compile/* scalars for metrics.jsonl: per-device cost and memory, the step's total
    FLOPs and the peak used for MFU."""
    out = {f"compile/{k}_per_device": v for k, v in self.cost.items()}
    if self.flops_per_step is not None:
      out["compile/flops_per_step"] = self.flops_per_step
    if self.peak:
      out["compile/peak_flops_per_device"] = self.peak
    out["compile/num_devices"] = float(self.num_devices)
    return out

  def perf_scalars(self, steps_per_sec: float) -> dict[str, float]:
    """perf/flops_per_sec (all devices) and perf/mfu (absent when unknown)."""
    if self.flops_per_step is None:
      return {}
    out = {"perf/flops_per_sec": self.flops_per_step * steps_per_sec}
    u = mfu(self.flops_per_step, steps_per_sec, self.peak, self.num_devices)
    if u is not None:
      out["perf/mfu"] = u
    return out

  def summary(self) -> str:
    c = self.cost
    gib = lambda k: f"{c[k] / 2**30:.3g} GiB" if k in c else "n/a"
    flops = f"{self.flops_per_step:.4g}" if self.flops_per_step is not None else "n/a"
    peak = f"{self.peak:.4g} FLOP/s per device ({self.peak_source})" if self.peak else \
        f"unknown ({self.peak_source})"
    loops = int(c.get("while_loops", 0))
    if loops:
      flops += (f" (UNDERCOUNTED: XLA counts each of the {loops} while loop bodies once; "
                "scan_layers or accumulate_steps > 1)")
    return (f"compiled train step: {flops} FLOPs per step over {self.num_devices} device(s); "
            f"per device: arguments {gib('argument_bytes')}, outputs {gib('output_bytes')}, "
            f"temporaries {gib('temp_bytes')}, code {gib('generated_code_bytes')}, "
            f"total {gib('total_bytes')}; peak {peak}")

