"""pytest set-up shared by every test: 8 simulated CPU devices, the project's XLA:CPU flags
(lib/xla_cpu_flags.py), and a persistent compilation cache for this one session, all set before
jax is imported.

The cache lives in a fresh temporary folder that the pytest process creates and removes at exit;
xdist workers and the runs that tests start as subprocesses inherit it through the environment,
so a train step compiled by one test is loaded, not recompiled, by the next (tests/train: 261 s ->
171 s on 2 cores). A user's own JAX_COMPILATION_CACHE_DIR is left as it is.
"""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Tests run programs a few steps each, so XLA:CPU's compile time is most of the suite: LLVM
# at -O0 without its expensive passes compiles a smoke GAN about 1.5x faster (sagan smoke
# 141 s -> 91 s on 2 loaded cores) and computes the same functions (HLO passes, fusion and
# numerics are unchanged; only machine-code quality is lower). Users' runs keep the defaults;
# PROJECT_TESTS_FULL_OPT=1 runs the suite with them too.
from lib.xla_cpu_flags import FAST_COMPILE, apply_cpu_flags  # noqa: E402  (imports no jax)

_FAST_COMPILE = ("" if os.environ.get("PROJECT_TESTS_FULL_OPT") == "1" else
                 "".join(f" --{k}={str(v).lower()}" for k, v in FAST_COMPILE.items()))
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8" + _FAST_COMPILE
).strip()
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "8")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache_dir = tempfile.mkdtemp(prefix="jax_test_cache_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
  atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)

apply_cpu_flags()
