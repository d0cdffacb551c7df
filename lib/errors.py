"""The project's own error types: problems a user can fix (DESIGN: Ways of the house).

Each message names the problem, the file or key, and the fix. `launch.py` prints a UserError
as one paragraph and exits with status 2; anything else is a bug and keeps its traceback.
The second base keeps `except ValueError` (etc.) in callers working.
"""
from __future__ import annotations


class UserError(Exception):
  """A problem with the user's input or environment, with the fix in the message."""


class ConfigError(UserError, ValueError):
  """A config key has an unknown name, a wrong type or a value out of range."""


class DataError(UserError, ValueError):
  """The data named by the config is missing, empty or unreadable."""


class WorkdirError(UserError, RuntimeError):
  """The workdir cannot be used: unwritable, another config's, or locked by another run."""


class CheckpointError(UserError, RuntimeError):
  """No checkpoint that verifies, or the step asked for does not exist."""


class DiskFullError(UserError, OSError):
  """A write failed for lack of space."""


class NonFiniteError(UserError, FloatingPointError):
  """A metric became NaN or Inf."""


class NoSamplerError(UserError, ValueError):
  """The task has no sampler (a classifier asked for --mode sample)."""
