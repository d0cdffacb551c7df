"""SIGTERM/SIGINT turn into a flag the loop checks after each step, so it saves, then exits."""
from __future__ import annotations

import signal


class PreemptionGuard:
  def __init__(self):
    self.signum: int | None = None
    self._old = {}

  def _handler(self, signum, frame):
    del frame
    self.signum = signum

  def __enter__(self):
    for s in (signal.SIGTERM, signal.SIGINT):
      try:
        self._old[s] = signal.signal(s, self._handler)
      except ValueError:  # not the main thread (e.g. a notebook worker): no handler.
        pass
    return self

  def __exit__(self, *exc):
    for s, h in self._old.items():
      signal.signal(s, h)
    return False

  @property
  def requested(self) -> bool:
    return self.signum is not None


class Preempted(SystemExit):
  """Raised after the preemption checkpoint is written; exit status 128 + signal number."""
