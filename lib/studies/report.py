"""The report of a study, read back from the runs' own files (never typed):

  python -m lib.studies.report runs/<study>

writes into the study folder results.csv (one row per run: every swept key, the seed, every
scalar of results.json), results.md (per setting: mean, std and 95% bootstrap interval of
each metric over seeds, the number of seeds; the best setting is marked only when its
interval separates from every other's) and PNGs (metric vs each key with per-seed points;
learning curves from metrics.jsonl, mean over seeds per setting).
The swept keys come from sweep.json; every value is read from the run's config.json.
Besides results.json, each run's metrics.jsonl gives two run statistics: steps_per_sec (the
median of the logged rows after the first, which holds the compilation) and step_memory_bytes
(the compiled step's device memory, compile/total_bytes_per_device). A sweep's `columns` are
shown in the table beside the metric, with their ratio to the `baseline` setting's mean.
"""
from __future__ import annotations

import csv
import json
import os
import sys

import numpy as np

from lib.errors import WorkdirError
from lib.studies.bootstrap import mean_interval
from lib.train.nested_dict import flatten
from lib.train.writers import read_metrics


def _read_json(path):
  with open(path) as f:
    return json.load(f)


def read_runs(root: str) -> tuple[dict, list[dict]]:
  """(sweep.json, rows): one row per run folder with a config.json."""
  plan_path = os.path.join(root, "sweep.json")
  if not os.path.exists(plan_path):
    raise WorkdirError(f"{root} holds no sweep.json: not a study folder made by --sweep")
  plan = _read_json(plan_path)
  rows = []
  for r in plan["runs"]:
    wd = os.path.join(root, r["name"])
    if not os.path.exists(os.path.join(wd, "config.json")):
      rows.append(dict(run=r["name"], status="not started"))
      continue
    config = flatten(_read_json(os.path.join(wd, "config.json")), sep=".")
    row = dict(run=r["name"])
    for k in plan["keys"]:
      v = config.get(k)
      row[k] = tuple(v) if isinstance(v, list) else v
    row["seed"] = config.get("seed")
    res_path = os.path.join(wd, "results.json")
    if os.path.exists(res_path):
      row["status"] = "finished"
      for k, v in _read_json(res_path).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
          row[k] = v
    else:
      row["status"] = "unfinished"
    row.update(run_statistics(wd))
    rows.append(row)
  return plan, rows


def run_statistics(workdir: str) -> dict:
  """steps_per_sec and step_memory_bytes of a run, read from its metrics.jsonl."""
  rates, memory = [], None
  for r in read_metrics(workdir):
    if memory is None and isinstance(r.get("compile/total_bytes_per_device"), (int, float)):
      memory = float(r["compile/total_bytes_per_device"])
    if isinstance(r.get("steps_per_sec"), (int, float)):
      rates.append(float(r["steps_per_sec"]))
  out = {}
  if len(rates) > 1:
    out["steps_per_sec"] = float(np.median(rates[1:]))
  if memory is not None:
    out["step_memory_bytes"] = memory
  return out


def group(plan: dict, rows: list[dict]) -> list[tuple[tuple, list[dict]]]:
  groups: dict = {}
  for row in rows:
    if row.get("status") != "finished":
      continue
    key = tuple(row[k] for k in plan["keys"])
    groups.setdefault(key, []).append(row)
  return list(groups.items())


def summarize(plan: dict, rows: list[dict]) -> list[dict]:
  """Per setting and metric: n, mean, std (ddof 1), bootstrap low/high."""
  metrics = sorted({k for r in rows for k in r} - set(plan["keys"]) -
                   {"run", "seed", "status", "step"})
  out = []
  for key, members in group(plan, rows):
    s = dict(setting=dict(zip(plan["keys"], key)), n=len(members), metrics={})
    for m in metrics:
      vals = [r[m] for r in members if m in r]
      if not vals:
        continue
      lo, hi = mean_interval(vals)
      s["metrics"][m] = dict(mean=float(np.mean(vals)),
                             std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                             low=lo, high=hi, values=vals)
    out.append(s)
  return out


def best_index(plan: dict, summary: list[dict]) -> int | None:
  """The setting whose interval of plan['metric'] separates from every other's, or None."""
  m, sign = plan["metric"], (1 if plan["mode"] == "max" else -1)
  cands = [(i, s["metrics"][m]) for i, s in enumerate(summary) if m in s["metrics"]]
  if len(cands) < 2 or any(s["n"] < 2 for s in summary):   # one seed: no interval
    return None
  i, top = max(cands, key=lambda c: sign * c[1]["mean"])
  for j, other in cands:
    if j == i:
      continue
    if sign > 0 and not top["low"] > other["high"]:
      return None
    if sign < 0 and not top["high"] < other["low"]:
      return None
  return i


def _cell(v):
  return f"{v:.4g}" if isinstance(v, float) else str(v)


def markdown(plan: dict, summary: list[dict], rows: list[dict]) -> str:
  m = plan["metric"]
  keys = plan["keys"]
  best = best_index(plan, summary)
  columns = list(plan.get("columns", ()))
  base = _baseline(plan, summary)
  extra_head = []
  for c in columns:
    extra_head += [f"{c} mean"] + ([f"{c} / baseline"] if base is not None else [])
  lines = [f"# Study `{plan['spec']}`", "",
           f"{len([r for r in rows if r.get('status') == 'finished'])} of {len(rows)} runs "
           f"finished. Metric `{m}` ({plan['mode']}): mean, std over seeds and the 95% "
           f"percentile bootstrap interval of the mean; the best setting is marked only when "
           f"its interval separates from every other setting's.", "",
           "| " + " | ".join(keys + ["seeds", f"{m} mean", "std", "95% interval", "best"] +
                             extra_head + [f"{m} per seed"]) + " |",
           "|" + "---|" * (len(keys) + 6 + len(extra_head))]
  for i, s in enumerate(summary):
    st = s["metrics"].get(m)
    cells = [_cell(s["setting"][k]) for k in keys] + [str(s["n"])]
    if st:
      cells += [f"{st['mean']:.4f}", f"{st['std']:.4f}", f"[{st['low']:.4f}, {st['high']:.4f}]"]
    else:
      cells += ["-", "-", "-"]
    cells.append("**best**" if i == best else "")
    for c in columns:
      v = s["metrics"].get(c, {}).get("mean")
      cells.append(_cell(v) if v is not None else "-")
      if base is not None:
        b = base["metrics"].get(c, {}).get("mean")
        cells.append(f"{v / b:.2f}x" if v is not None and b else "-")
    cells.append(" ".join(_cell(float(v)) for v in st["values"]) if st else "-")  # the spread
    lines.append("| " + " | ".join(cells) + " |")
  if base is not None and columns:
    lines += ["", "Baseline: " + ", ".join(f"{k}={_cell(v)}" for k, v in plan["baseline"].items())
              + ". steps_per_sec and step_memory_bytes are read from each run's metrics.jsonl "
              "(median logged rate after the compiling first row; the compiled step's device "
              "memory)."]
  return "\n".join(lines) + "\n"


def _baseline(plan: dict, summary: list[dict]) -> dict | None:
  want = plan.get("baseline") or {}
  for s in summary if want else ():
    if all(s["setting"].get(k) == v for k, v in want.items()):
      return s
  return None


def write_csv(path: str, plan: dict, rows: list[dict]) -> None:
  cols = ["run"] + plan["keys"] + ["seed", "status"]
  cols += sorted({k for r in rows for k in r} - set(cols))
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols)
    w.writeheader()
    for r in rows:
      w.writerow({k: r.get(k, "") for k in cols})


def _curves(root: str, run: str, key: str) -> tuple[list, list]:
  rows = [r for r in read_metrics(os.path.join(root, run))
          if key in r and isinstance(r[key], (int, float))]
  return [r["step"] for r in rows], [r[key] for r in rows]


def plots(root: str, plan: dict, summary: list[dict], rows: list[dict]) -> list[str]:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  m, written = plan["metric"], []
  for k in plan["keys"]:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    labels = sorted({_cell(s["setting"][k]) for s in summary})
    for s in summary:
      if m not in s["metrics"]:
        continue
      x = labels.index(_cell(s["setting"][k]))
      vals = s["metrics"][m]["values"]
      ax.scatter([x] * len(vals), vals, s=12, alpha=0.6)
      ax.errorbar([x], [s["metrics"][m]["mean"]], fmt="k_", ms=14)
    ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
    ax.set_xlabel(k)
    ax.set_ylabel(m)
    fig.tight_layout()
    path = os.path.join(root, f"{m}_vs_{k}.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
  fig, ax = plt.subplots(figsize=(6, 4))
  runs_of = {}
  for _, members in group(plan, rows):
    runs_of[",".join(f"{k}={_cell(members[0][k])}" for k in plan["keys"])] = \
        [r["run"] for r in members]
  for label, runs in runs_of.items():
    curves = [_curves(root, r, plan["curve"]) for r in runs]
    curves = [c for c in curves if c[0]]
    if not curves:
      continue
    n = min(len(c[0]) for c in curves)
    ax.plot(curves[0][0][:n], np.mean([c[1][:n] for c in curves], axis=0), label=label)
  ax.set_xlabel("step")
  ax.set_ylabel(plan["curve"] + " (mean over seeds)")
  ax.legend(fontsize=6)
  fig.tight_layout()
  path = os.path.join(root, f"curves_{plan['curve']}.png")
  fig.savefig(path, dpi=100)
  plt.close(fig)
  written.append(path)
  return written


def write_report(root: str) -> dict:
  plan, rows = read_runs(root)
  summary = summarize(plan, rows)
  write_csv(os.path.join(root, "results.csv"), plan, rows)
  with open(os.path.join(root, "results.md"), "w") as f:
    f.write(markdown(plan, summary, rows))
  pngs = plots(root, plan, summary, rows)
  return dict(csv=os.path.join(root, "results.csv"), md=os.path.join(root, "results.md"),
              png=pngs, summary=summary)


def main(argv):
  if len(argv) != 2:
    sys.stderr.write("usage: python -m lib.studies.report runs/<study>\n")
    return 2
  try:
    out = write_report(argv[1])
  except WorkdirError as e:
    sys.stderr.write(f"error: {e}\n")
    return 2
  print(f"wrote {out['csv']}, {out['md']}, {', '.join(out['png'])}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
