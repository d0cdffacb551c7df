"""The profiler window traces exactly steps start .. start+steps-1 (also after a resume inside
it), and writes <workdir>/tb/plugins/profile/<session>/<host>.xplane.pb, the layout
TensorBoard's profile plugin lists."""
import jax
import jax.numpy as jnp
import ml_collections
import pytest

from lib.train import profiling


def _loop(window, first, last, events):
  step = first
  while step < last:
    window.before_step(step)
    with window.annotate(step + 1):
      out = jnp.ones(4) * step
    events.append((step + 1, window.active))  # was this step traced?
    step += 1
    window.after_step(step, out)
  window.close()


@pytest.fixture
def fake_profiler(monkeypatch):
  calls = []
  monkeypatch.setattr(jax.profiler, "start_trace", lambda d: calls.append(("start", d)))
  monkeypatch.setattr(jax.profiler, "stop_trace", lambda: calls.append(("stop",)))
  return calls


def _config(start, steps):
  return ml_collections.ConfigDict(dict(start=start, steps=steps))


@pytest.mark.parametrize("first,traced", [(0, [3, 4]), (3, [4]), (5, [])])
def test_window_covers_exactly_its_steps(tmp_path, fake_profiler, first, traced):
  events = []
  _loop(profiling.ProfileWindow(_config(3, 2), str(tmp_path), enabled=True), first, 8, events)
  assert [s for s, active in events if active] == traced
  expected = [("start", str(tmp_path / "tb")), ("stop",)] if traced else []
  assert fake_profiler == expected


def test_off_and_not_main_process_do_nothing(tmp_path, fake_profiler):
  _loop(profiling.ProfileWindow(_config(0, 5), str(tmp_path)), 0, 4, [])
  _loop(profiling.ProfileWindow(_config(2, 1), str(tmp_path), enabled=False), 0, 4, [])
  assert fake_profiler == []


def test_interrupted_window_is_stopped_by_close(tmp_path, fake_profiler):
  window = profiling.ProfileWindow(_config(1, 10), str(tmp_path), enabled=True)
  window.before_step(0)
  window.close()
  assert fake_profiler == [("start", str(tmp_path / "tb")), ("stop",)]


def test_bad_window_is_refused(tmp_path):
  with pytest.raises(ValueError, match="profile"):
    profiling.ProfileWindow(_config(3, 0), str(tmp_path))


def test_real_trace_lands_where_the_profile_plugin_reads(tmp_path):
  events = []
  _loop(profiling.ProfileWindow(_config(2, 2), str(tmp_path), enabled=True), 0, 4, events)
  files = profiling.written_traces(str(tmp_path))
  assert len(files) == 1
  rel = files[0][len(str(tmp_path)) + 1:].split("/")
  # tb/plugins/profile/<session>/<host>.xplane.pb
  assert rel[:3] == ["tb", "plugins", "profile"] and len(rel) == 5
  assert rel[4].endswith(".xplane.pb")
