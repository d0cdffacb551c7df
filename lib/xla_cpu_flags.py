"""The project's XLA:CPU flags, appended to XLA_FLAGS before jax starts a backend.

XLA reads XLA_FLAGS once, when the process creates its first backend client (not at
`import jax`: checked with jaxlib 0.10.2), so `apply_cpu_flags()` must run before the first
computation. `launch.py`, `conftest.py`, the benchmarks and `lib/__init__.py` (so that a
notebook doing `import lib...` first gets them too) call it.

The flags (measured on a 2-core x86_64 CPU, jaxlib 0.10.2, benchmarks/results/):

- `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`: XLA:CPU sends
  convolutions above a size threshold to YNNPACK library fusions by default; there the filter
  gradient of a 3x3 conv runs on one thread at a few GFLOP/s, while XLA's own (Eigen)
  convolution uses every core. The '-' prefix removes only that fusion type from XLA's
  default list (XLA's flag help: "'+' or '-' prefix adds or removes a fusion type from the
  default list"), so YNNPACK still handles dots, reductions and elementwise fusions.

Rules:
- a flag the user already set in XLA_FLAGS (any value) wins: it is not appended again;
- only when the CPU backend is the one in use: JAX_PLATFORMS unset or naming cpu first, and no
  accelerator plugin (CUDA, ROCm, TPU) installed when JAX_PLATFORMS is unset. XLA_FLAGS are
  parsed by every XLA client of the process and an unknown flag aborts it; the flag exists in
  jaxlib 0.10.2's XLA (the one jax[cuda12]==0.10.2 is built from), but GPU and TPU behaviour
  must not change, so the flag is not added there at all;
- `ATTENTION_GEN_CPU_FLAGS=0` turns the whole thing off (to measure without it);
- if jax's backends are already initialised the flags cannot take effect: warn once.
"""
from __future__ import annotations

import importlib.metadata
import os
import sys
import warnings

CPU_FLAGS: tuple[str, ...] = (
    "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
)
OPT_OUT = "ATTENTION_GEN_CPU_FLAGS"

# Per-program `compiler_options` (jax.jit(..., compiler_options=...)), which take precedence
# over XLA_FLAGS. FAST_COMPILE: LLVM at -O0 without its expensive passes, for programs run once
# or a few times (the Trainer's init on CPU; the test session sets the same as flags in
# conftest.py). FULL_OPTIMISATION: XLA's own defaults (debug_options_flags.cc), for a
# runtime-bound program that must not inherit a session's FAST_COMPILE flags.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
FULL_OPTIMISATION = {"xla_backend_optimization_level": 3,
                     "xla_llvm_disable_expensive_passes": False}

# Distributions that register an accelerator backend with jax (jax_plugins namespace or libtpu).
_ACCELERATOR_DISTS = ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-cuda12-pjrt",
                      "jax-cuda13-pjrt", "jax-rocm6-plugin", "jax-rocm7-plugin", "libtpu",
                      "libtpu-nightly")
_warned = False


def _flag_name(flag: str) -> str:
  return flag.split("=", 1)[0].strip()


def _accelerator_installed() -> bool:
  for name in _ACCELERATOR_DISTS:
    try:
      importlib.metadata.distribution(name)
      return True
    except importlib.metadata.PackageNotFoundError:
      continue
  return False


def cpu_backend_in_use(environ=None) -> bool:
  """True when jax will run on its CPU backend: JAX_PLATFORMS names cpu first, or is unset
  and no accelerator plugin is installed."""
  environ = os.environ if environ is None else environ
  platforms = environ.get("JAX_PLATFORMS", "").strip().lower()
  if platforms:
    return platforms.split(",")[0].strip() == "cpu"
  return not _accelerator_installed()


def merged_flags(user_flags: str, flags=CPU_FLAGS) -> str:
  """`user_flags` with each of `flags` appended unless the user already names that flag."""
  present = {_flag_name(f) for f in user_flags.split()}
  extra = [f for f in flags if _flag_name(f) not in present]
  return " ".join([user_flags.strip()] + extra).strip() if extra else user_flags


def _backends_initialized() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge.backends_are_initialized())
  except Exception:  # private API moved: assume started once jax is imported
    return True


def apply_cpu_flags(environ=None) -> bool:
  """Appends CPU_FLAGS to environ['XLA_FLAGS'] (os.environ by default) when the CPU backend
  is in use; returns True when XLA_FLAGS now carries every project flag (set by us or by the
  user). Warns once when jax has already started, since the flags then cannot act."""
  global _warned
  environ = os.environ if environ is None else environ
  if environ.get(OPT_OUT, "1").strip().lower() in ("0", "false", "no", "off"):
    return False
  if not cpu_backend_in_use(environ):
    return False
  before = environ.get("XLA_FLAGS", "")
  after = merged_flags(before)
  if after == before:
    return True
  if _backends_initialized():
    if not _warned:
      _warned = True
      warnings.warn(
          "jax has already started a backend, so the project's XLA:CPU flags "
          f"({' '.join(CPU_FLAGS)}) cannot take effect in this process; import lib (or call "
          "lib.xla_cpu_flags.apply_cpu_flags()) before the first jax computation, or set "
          "them in XLA_FLAGS. Convolution gradients may run several times slower.",
          RuntimeWarning, stacklevel=2)
    return False
  environ["XLA_FLAGS"] = after
  return True
