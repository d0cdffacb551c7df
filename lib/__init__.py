"""attention-gen. Importing any `lib` module first appends the project's XLA:CPU flags to
XLA_FLAGS (lib/xla_cpu_flags.py: CPU backend only, the user's own flags win, a warning if jax
has already started), so notebooks and scripts get the same CPU speed as launch.py."""
from lib.xla_cpu_flags import apply_cpu_flags as _apply_cpu_flags

_apply_cpu_flags()
