"""pytest set-up shared by every test: 8 simulated CPU devices and the project's XLA:CPU flags
(lib/xla_cpu_flags.py), set before jax is imported."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "8")

from lib.xla_cpu_flags import apply_cpu_flags  # noqa: E402  (imports no jax)

apply_cpu_flags()
