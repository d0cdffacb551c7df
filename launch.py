"""The one entry point: train, evaluate or sample a config.

  python launch.py --config configs/vit.py:digits --workdir runs/vit
  python launch.py --config configs/vit.py:smoke --config.total_steps=10 --workdir runs/x
  python launch.py --mode eval --workdir runs/vit       # re-scores the newest checkpoint
  python launch.py --mode sample --workdir runs/sagan   # writes a sample grid
  python launch.py --mode translate --workdir runs/cyclegan --input DIR --output DIR

A problem the user can fix (a bad key or value, missing data, a workdir in use, no checkpoint
that verifies, a full disk, NaN) is printed as one paragraph and the exit status is 2; the
traceback goes to <workdir>/train.log, or to the terminal with --debug. The terminal shows the
progress bar, warnings and a summary; library INFO lines go to train.log.
Several processes (Slurm, TPU pod, manual): see README "Launching on several hosts".
"""
from __future__ import annotations
from lib.xla_cpu_flags import apply_cpu_flags  # before jax starts (lib/xla_cpu_flags.py)
apply_cpu_flags()

import json
import logging as pylogging
import os
import sys
import textwrap

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "configs/<paper>.py:<arg>",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "where checkpoints, metrics and samples go")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval", "sample", "translate"],
                          "what to do")
_INPUT = flags.DEFINE_string("input", "", "translate: a folder of images to translate")
_OUTPUT = flags.DEFINE_string("output", "", "translate: where the translated PNGs go")
_STEP = flags.DEFINE_integer("step", -1, "checkpoint step for eval/sample (-1: newest)")
_DEBUG = flags.DEFINE_bool("debug", False, "show the traceback of the project's own errors")
_COORD = flags.DEFINE_string("coordinator_address", "", "host:port of process 0")
_NPROC = flags.DEFINE_integer("num_processes", 0, "number of processes (0: from environment)")
_PID = flags.DEFINE_integer("process_id", -1, "this process's id (-1: from environment)")
_SWEEP = flags.DEFINE_string("sweep", None, "configs/<paper>.py:<arg> whose get_sweep(arg) "
                             "gives the runs; --workdir is the study folder")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "sweep: runs at a time (local processes)")
_EXECUTOR = flags.DEFINE_enum("executor", "local", ["local", "slurm", "submitit_local"],
                              "sweep: local processes, Slurm jobs or submitit's local executor")

EXIT_USER_ERROR = 2


def _fail(message: str, hard: bool = False) -> None:
  """Prints one paragraph and exits 2. `hard` skips interpreter shutdown: after a failed run
  the background writers (Orbax, tensorstore, TensorBoard) would otherwise print pages of
  shutdown tracebacks over the message; pending saves were already waited for."""
  text = "\n".join(textwrap.fill(p, width=100, break_long_words=False, break_on_hyphens=False)
                   for p in message.strip().split("\n"))
  sys.stderr.write(f"error: {text}\n")
  if hard:
    sys.stdout.flush()
    sys.stderr.flush()
    pylogging.shutdown()
    os._exit(EXIT_USER_ERROR)
  sys.exit(EXIT_USER_ERROR)


def _unknown_override(argv: list[str], missing: str) -> str:
  """The --config.a.b=... argument that names `missing`, and the keys known at that level."""
  overrides = [a for a in argv if a.startswith("--config.")]
  culprit = next((a for a in overrides if missing in a.split("=", 1)[0].split(".")[1:]),
                 overrides[-1] if overrides else "--config")
  key = culprit.split("=", 1)[0][len("--config."):]
  known = ""
  base = [a for a in argv if a.startswith("--config=")]
  if "--config" in argv:
    base = ["--config", argv[argv.index("--config") + 1]]
  old_argv = sys.argv
  try:  # parse the config alone again to list the keys beside the unknown one
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "", flag_values=fv, lock_config=True)
    sys.argv = [argv[0]] + base   # config_flags reads its overrides from sys.argv
    fv(sys.argv)
    node = fv.config
    for part in key.split(".")[:-1]:
      node = node[part]
    known = f"; keys at that level: {', '.join(sorted(node.keys()))}"
  except Exception:  # the listing is a courtesy; the message stands without it
    pass
  finally:
    sys.argv = old_argv
  return (f"{culprit}: the config has no key {key!r}{known}. Check the spelling, or see the "
          f"config file for its keys.")


def _parse_flags(argv: list[str]):
  """absl's parser, with config errors as one line and exit status 2."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fail(f"{e}")
  except AttributeError as e:  # ml_collections: an override of a key the config lacks
    _fail(_unknown_override(argv, str(e).strip("\"'")))
  except (KeyError, TypeError, ValueError) as e:
    _fail(f"bad --config or override: {e}")


def _config_for(workdir: str):
  if _CONFIG.value is not None:
    return _CONFIG.value
  from lib.errors import WorkdirError
  from lib.train.config_io import config_from_json
  from lib.train.workdir import read_config_json
  raw = read_config_json(workdir)
  if raw is None:
    raise WorkdirError(f"{workdir} holds no run (no config.json there): pass --config to "
                       f"start one, or --workdir of an existing run.")
  return config_from_json(raw)


def _summary(results: dict) -> str:
  scalars = {k: v for k, v in results.items() if isinstance(v, (int, float))
             and not isinstance(v, bool) and k != "step" and not k.startswith("protocol/")}
  shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in sorted(scalars.items()))
  return f"step {results.get('step', '?')}: {shown or 'no metrics'}"


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected arguments: {argv[1:]}")
  if not _WORKDIR.value:
    _fail("--workdir is required: the folder of the run (e.g. --workdir runs/<name>)")
  from lib.train import run_log
  run_log.install()
  from lib.errors import UserError
  workdir = _WORKDIR.value
  if _SWEEP.value:   # a study: lib/studies runs one launch.py per run
    try:
      if _EXECUTOR.value == "local":
        from lib.studies.runner import run_local
        status = run_local(_SWEEP.value, workdir, parallel=_PARALLEL.value)
      else:
        from lib.studies.slurm import run_submitit
        status = run_submitit(_SWEEP.value, workdir, cluster=_EXECUTOR.value)
    except UserError as e:
      _fail(f"{e}")
    sys.stderr.write(f"sweep done: {len(status)} runs in {workdir}; report: "
                     f"python -m lib.studies.report {workdir}\n")
    return
  try:
    from lib.train import distributed
    distributed.maybe_initialize(_COORD.value, _NPROC.value, _PID.value)
    config = _config_for(workdir)
    from lib.train import loop, offline
    if _MODE.value == "translate":      # a translation run on a folder (lib/train/translate_folder.py)
      from lib.train.translate_folder import translate_folder
      results = translate_folder(workdir, _INPUT.value, _OUTPUT.value,
                                 None if _STEP.value < 0 else _STEP.value)
      where = _OUTPUT.value
    elif _MODE.value == "train":
      results = loop.train(config, workdir)
      where = os.path.join(workdir, "results.json")
    else:
      step = None if _STEP.value < 0 else _STEP.value
      results = offline.evaluate(config, workdir, step,
                                 only=("samples",) if _MODE.value == "sample" else None)
      where = (os.path.join(workdir, "samples") if _MODE.value == "sample" else
               os.path.join(workdir, f"results_eval_step{results['step']}.json"))
  except UserError as e:
    logging.info("stopped by a user error", exc_info=True)
    if _DEBUG.value:
      raise
    log = run_log.path()
    _fail(f"{e}" + (f"\n(traceback in {log}; --debug shows it here)" if log else ""),
          hard=True)
  logging.info("results: %s", results)
  sys.stderr.write(f"done: {_summary(results)}; written to {where}\n")
  print(json.dumps(results, sort_keys=True))
  pylogging.shutdown()


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
