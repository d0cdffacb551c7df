"""One line naming the machine a benchmark ran on, stored beside its results."""
from __future__ import annotations

import os
import platform

import jax


def machine() -> str:
  cpu = platform.processor() or "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  dev = jax.devices()[0]
  return (f"{cpu}; {os.cpu_count()} logical cores visible; jax {jax.__version__} "
          f"({dev.platform}: {getattr(dev, 'device_kind', dev.platform)}); "
          f"python {platform.python_version()}; load average at the end "
          f"{', '.join(f'{l:.1f}' for l in os.getloadavg())} (a shared machine)")
