"""DeiT distillation (Touvron et al., 2021, "Training data-efficient image transformers &
distillation through attention", Sec. 5): a classifier trained against the labels and a
frozen teacher's predictions. The train step is classify's, with this objective.

The objective, as the official DistillationLoss (facebookresearch/deit losses.py), with Z_s the
student's class-head logits, Z_d its distillation-head logits ([dist] token; the class head's
own logits when the model has no [dist] token: classic distillation on one head), Z_t the
teacher's logits, psi the softmax:
- `soft`: L = (1 - alpha) CE(psi(Z_s), y) + alpha tau^2 KL(psi(Z_t / tau) || psi(Z_d / tau)),
  the KL summed over batch and classes and divided by their product (B * C, the official
  `reduction='sum' ... / outputs_kd.numel()`, not the per-example mean).
- `hard`: L = (1 - alpha) CE(psi(Z_s), y) + alpha CE(psi(Z_d), y_t), y_t = argmax Z_t.
The paper's defaults: alpha = 0.5 (Eq. "hard-label distillation": 1/2, 1/2), tau = 1 (the
official --distillation-tau); the paper's best is `hard` with the [dist] token.

Config keys (config.distill): `type` (soft | hard), `alpha`, `tau`, `teacher_workdir` (a run
whose newest checkpoint that verifies is the teacher, read with lib.train.restore.restore_run; its
own task's predict, with its EMA params when kept, gives Z_t inside the jitted step).
`teacher_workdir=""` takes a randomly initialised teacher instead, `teacher_model` (model
kwargs as config.model) seeded by `teacher_seed`: a control, and what keeps the smoke
variant self-contained. The teacher's params live in the train state (`teacher_params`,
`teacher_model_state`), frozen: no gradient reaches them (stop_gradient) and the update
passes them through unchanged; they are checkpointed with the student, so a resumed run
keeps its teacher.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections

from lib.errors import ConfigError
from lib.tasks import classify
from lib.train.frozen_run import load_frozen_run
from lib.train.state import TrainState

TYPES = ("soft", "hard")
model_of = classify.model_of
optimizer_of = classify.optimizer_of
predict = classify.predict   # the student: a DeiT averages its two heads' logits at inference


@flax.struct.dataclass
class DistillState(TrainState):
  teacher_params: Any = None        # frozen
  teacher_model_state: Any = None


def soft_distillation(student_logits, teacher_logits, tau: float):
  """tau^2 KL(psi(Z_t/tau) || psi(Z_s/tau)), summed over batch and classes / (B * C)."""
  log_s = jax.nn.log_softmax(student_logits.astype(jnp.float32) / tau, -1)
  log_t = jax.nn.log_softmax(teacher_logits.astype(jnp.float32) / tau, -1)
  return jnp.sum(jnp.exp(log_t) * (log_t - log_s)) * tau**2 / student_logits.size


def hard_distillation(student_logits, teacher_logits):
  """CE(psi(Z_s), argmax Z_t)."""
  return classify.cross_entropy(student_logits, jnp.argmax(teacher_logits, -1))


def _settings(config):
  d = config.get("distill")
  if d is None:
    raise ConfigError("task lib.tasks.distill needs a config.distill block (type, alpha, tau, "
                      "teacher_workdir): see configs/deit.py")
  if d.type not in TYPES:
    raise ConfigError(f"config.distill.type={d.type!r}: use one of {TYPES} (for no "
                      "distillation train with task lib.tasks.classify)")
  if not 0.0 <= d.alpha <= 1.0 or d.tau <= 0:
    raise ConfigError(f"config.distill.alpha={d.alpha} must lie in [0, 1] and "
                      f"config.distill.tau={d.tau} be positive")
  return d


def _load_teacher(workdir: str):
  """The frozen teacher run (lib/train/frozen_run.py): (config, task, params, model_state)."""
  return load_frozen_run(workdir, "distill.teacher_workdir", "teacher",
                         f"train one first, e.g. python launch.py --config configs/vit.py:digits "
                         f"--workdir {workdir}, or name a workdir holding a checkpoint")


def teacher_of(config):
  """(teacher config, teacher task): the run's own, or a classify config for the random one."""
  d = _settings(config)
  if d.teacher_workdir:
    teacher_config, task, _, _ = _load_teacher(d.teacher_workdir)
    return teacher_config, task
  if not d.get("teacher_model") or not d.teacher_model.get("name"):
    raise ConfigError("config.distill.teacher_workdir is empty: name the workdir of a trained "
                      "teacher (e.g. runs/vit_digits), or set config.distill.teacher_model "
                      "for a randomly initialised one")
  teacher_config = ml_collections.ConfigDict(dict(
      task="lib.tasks.classify", model=d.teacher_model.to_dict(), ema_decay=0.0,
      compute_dtype=config.compute_dtype, label_smoothing=0.0))
  return teacher_config, classify


def _check_teacher_data(config, teacher_config):
  for key in ("image_size", "channels"):
    have, want = teacher_config.data.get(key), config.data.get(key)
    if have != want:
      raise ConfigError(f"config.distill.teacher_workdir: the teacher was trained on "
                        f"data.{key}={have}, the student reads {want}; train the teacher on "
                        f"the student's data")


def init(config, rng, batch) -> DistillState:
  state = classify.init(config, rng, batch)
  d = _settings(config)
  teacher_config, _ = teacher_of(config)
  if d.teacher_workdir:
    _check_teacher_data(config, teacher_config)
    _, _, params, model_state = _load_teacher(d.teacher_workdir)
    params, model_state = jax.tree.map(jnp.asarray, (params, model_state))
  else:
    variables = dict(classify.model_of(teacher_config).init(
        jax.random.key(d.get("teacher_seed", 0)), batch["image"][:1], train=False))
    params = variables.pop("params")
    model_state = variables
  return DistillState(**{f.name: getattr(state, f.name) for f in dataclasses.fields(state)},
                      teacher_params=params, teacher_model_state=model_state)


def teacher_logits(config, state: DistillState, images):
  """Z_t: the teacher task's predict on `images` with the frozen params (no gradient)."""
  teacher_config, task = teacher_of(config)
  teacher = TrainState(step=state.step, params=state.teacher_params, opt_state=None,
                       model_state=state.teacher_model_state)
  return jax.lax.stop_gradient(task.predict(teacher_config, teacher, {"image": images}))


def distillation_objective(config, state, outputs, micro):
  """(1 - alpha) CE(Z_s, y) + alpha L_distill(Z_d, Z_t); logits for accuracy: as at inference."""
  d = _settings(config)
  z_cls, z_dist = outputs if isinstance(outputs, tuple) else (outputs, outputs)
  z_t = teacher_logits(config, state, micro["image"])
  if z_t.shape != z_cls.shape:
    raise ConfigError(f"config.distill.teacher_workdir: the teacher predicts {z_t.shape[-1]} "
                      f"classes, the student {z_cls.shape[-1]}; distil from a teacher of the "
                      f"same classes")
  base = classify.cross_entropy(z_cls, micro["label"], config.get("label_smoothing", 0.0))
  if d.type == "soft":
    distill = soft_distillation(z_dist, z_t, d.tau)
  else:
    distill = hard_distillation(z_dist, z_t)
  loss = (1 - d.alpha) * base + d.alpha * distill
  agreement = jnp.mean(jnp.argmax(z_dist, -1) == jnp.argmax(z_t, -1))
  logits = (z_cls + z_dist) / 2 if isinstance(outputs, tuple) else z_cls
  return loss, logits, {"base_loss": base, "distill_loss": distill,
                        "teacher_agreement": agreement}


def train_step(config, state: DistillState, batch, rng):
  return classify.train_step(config, state, batch, rng, objective=distillation_objective)
