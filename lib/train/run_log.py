"""The run's log file: library chatter (absl, Orbax, jax INFO lines) goes to
`<workdir>/train.log`, not to the terminal, which keeps the progress bar, warnings and the
final summary (launch.py installs it).

Records logged before the workdir may be written (validation comes first) are held in memory
and written when `attach(workdir)` is called, after the workdir lock is taken.
"""
from __future__ import annotations

import logging
import os
import threading

from absl import logging as absl_logging

_FORMAT = "%(asctime)s %(levelname).1s %(name)s %(filename)s:%(lineno)d] %(message)s"
_handler: "_RunLogHandler | None" = None


class _RunLogHandler(logging.Handler):
  def __init__(self, max_buffered: int = 10000):
    super().__init__(logging.INFO)
    self.setFormatter(logging.Formatter(_FORMAT))
    self._buffer: list[logging.LogRecord] = []
    self._max = max_buffered
    self._file = None

  def emit(self, record):
    if self._file is not None:
      try:
        self._file.write(self.format(record) + "\n")
        self._file.flush()
      except OSError:  # a full disk: the run's own error says so; the log stops quietly
        self._file, self._max = None, 0
    elif len(self._buffer) < self._max:
      self._buffer.append(record)

  def attach(self, path: str) -> None:
    if self._file is not None:
      return
    self._file = open(path, "a")
    for record in self._buffer:
      self._file.write(self.format(record) + "\n")
    self._buffer = []
    self._file.flush()

  def close(self):
    if self._file is not None:
      self._file.close()
      self._file = None
    super().close()


class _NotOnTerminal(logging.Filter):
  """Keeps what Orbax's background save threads and their asyncio loops log about a failed
  write (a traceback per thread) in the log file only: the same failure reaches the main
  thread when it waits for the save, and is reported there once."""

  def filter(self, record):
    background = record.name == "asyncio" or "/orbax/" in (record.pathname or "")
    return not background or record.levelno >= logging.CRITICAL


def _thread_exception_to_log(args) -> None:
  """A background thread's exception (an async checkpoint write that failed) goes to the log
  with its traceback; the main thread reports the failure when it waits for the save."""
  logging.getLogger(__name__).info(
      "background thread %s ended with %s: %s", getattr(args.thread, "name", "?"),
      args.exc_type.__name__, args.exc_value,
      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def install() -> None:
  """Terminal: WARNING and above. Log file (once attached): INFO and above."""
  global _handler
  absl_logging.set_verbosity(absl_logging.INFO)
  terminal = absl_logging.get_absl_handler()
  terminal.setLevel(logging.WARNING)
  terminal.python_handler.setLevel(logging.WARNING)
  terminal.addFilter(_NotOnTerminal())
  threading.excepthook = _thread_exception_to_log
  root = logging.getLogger()
  root.setLevel(logging.INFO)
  if _handler is None:
    _handler = _RunLogHandler()
    root.addHandler(_handler)


def attach(workdir: str) -> str | None:
  """Starts writing the log to <workdir>/train.log; a no-op unless `install()` ran."""
  if _handler is None:
    return None
  path = os.path.join(workdir, "train.log")
  _handler.attach(path)
  return path


def path() -> str | None:
  return getattr(_handler and _handler._file, "name", None)
