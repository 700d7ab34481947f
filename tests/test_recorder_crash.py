"""A training run killed at any moment keeps its recording up to the last recorded step (issue #15, class 7).

The kill test runs a seeded training script with ``TrainingRecorder(path=...)`` in a child process, SIGKILLs it
at random steps and reads the recording back (``nn3d.load``, ``Recording``, ``nn3d shot``): the recorded steps are
a prefix of the run's, their activations and weights are those the child printed, and no temp file remains.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from torch import nn

from nn3d.cli import main
from nn3d.ingest import load, safetensors_file
from nn3d.ingest.recording import Recording
from nn3d.recorder import TrainingRecorder

EVERY = 3
CHILD = textwrap.dedent(f"""
    import builtins, json, sys, time
    import torch
    from torch import nn
    from nn3d.ingest import safetensors_file
    from nn3d.recorder import TrainingRecorder

    class SlowDisk:  # 1 ms a write call, so that a kill can be aimed inside a save
        def __init__(self, f):
            self.f = f
        def write(self, data):
            time.sleep(0.001)
            return self.f.write(data)
        def __getattr__(self, name):
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()

    safetensors_file.open = lambda p, mode="r": SlowDisk(builtins.open(p, mode))

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    probe = x[:2]
    rec = TrainingRecorder(model, probe, every={EVERY}, path=sys.argv[1])
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    for i in range(200):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            out, w = model(probe), model[2].weight.clone()
        rec.step(loss=loss)  # records (and saves) at every {EVERY}th step; printed once it returned
        line = {{"step": i, "loss": loss.item()}}
        if i % {EVERY} == 0:
            line.update(out=out.tolist(), w=w.tolist())
        print(json.dumps(line), flush=True)
        time.sleep(0.003)
    time.sleep(120)  # the parent kills it before this ends
""")


def _kill_at(tmp_path, script, kill_step, env, mid_write, rng):
    """Run the child until it printed ``kill_step``, SIGKILL it (a few ms later, or ``mid_write``: as soon as
    its next save's temp file is there), return the lines it printed in full."""
    path = tmp_path / "run.nn3d"
    part = tmp_path / "run.nn3d.part"
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines, deadline = [], time.monotonic() + 120
    try:
        for raw in proc.stdout:
            lines.append(json.loads(raw))
            if lines[-1]["step"] >= kill_step or time.monotonic() > deadline:
                break
        if mid_write:
            soon = time.monotonic() + 10
            while not part.exists():
                assert time.monotonic() < soon and proc.poll() is None, "the child never started a save"
                time.sleep(0.0002)
            time.sleep(rng.uniform(0, 0.01))  # a save of a few records takes tens of write calls here
        else:
            time.sleep(rng.uniform(0, 0.03))
        assert proc.poll() is None, proc.stderr.read()[-2000:]  # killed while running, not after it ended
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    lines += [json.loads(s) for s in rest.splitlines() if s.endswith("}")]  # whole lines only
    return path, lines


def test_training_killed_at_random_steps_keeps_its_recording(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    rng = random.Random(os.getpid())
    kills = sorted(rng.sample(range(4, 120), 3))
    for n, kill_step in enumerate(kills):
        run = tmp_path / f"kill{n}"
        run.mkdir()
        path, lines = _kill_at(run, script, kill_step, env, mid_write=n > 0, rng=rng)
        printed = {ln["step"]: ln for ln in lines}
        last = max(s for s in printed if s % EVERY == 0)  # its record was saved before this line was printed

        rec = Recording(path)
        rs = list(rec.record_steps)
        # a prefix of the run's records; at most one more than printed (saved, killed before printing)
        assert rs == list(range(0, rs[-1] + 1, EVERY)) and last <= rs[-1] <= last + EVERY, (kill_step, rs, last)
        assert list(rec.steps) == list(range(rs[-1] + 1))  # every step logged up to the last record
        for s in rec.steps:
            if s in printed:
                assert rec.loss[s] == pytest.approx(printed[s]["loss"], rel=1e-6)
        net, act = load(path, sample=1)
        assert act.n_frames == len(rs)
        out_neurons = net.layers[-1].neurons
        for r, s in enumerate(rs):
            if s in printed:  # what the child had at that step: probe outputs and the last layer's weights
                np.testing.assert_allclose(act.values[r, out_neurons], printed[s]["out"][1], rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(rec.weights(r)[1], printed[s]["w"], rtol=1e-6)
        if n == 0:
            assert main(["shot", str(path), "-o", str(run / "x.png"), "--size", "160x120"]) == 0
            assert (run / "x.png").stat().st_size > 0
        # a temp file a kill may have left is no recording, and the next recorder for the path removes it
        TrainingRecorder(nn.Sequential(nn.Linear(4, 3)), torch.zeros(1, 4), path=path)
        assert sorted(p.name for p in run.iterdir()) == sorted(["run.nn3d"] + (["x.png"] if n == 0 else []))


class _Failing:
    """A file whose third write raises, as a full disk would, after part of the data went out."""

    def __init__(self, f):
        self.f, self.n = f, 0

    def write(self, data):
        self.n += 1
        if self.n == 3:
            self.f.write(bytes(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def _train(rec, model, steps, start=0):
    torch.manual_seed(start)
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    for _ in range(steps):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss=loss)


def test_a_write_failing_midway_keeps_the_previous_recording_and_no_temp_file(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "run.nn3d"
    rec = TrainingRecorder(model, torch.randn(2, 4), every=2, path=path)
    _train(rec, model, 5)  # records 0, 2, 4: saved each time
    before = path.read_bytes()
    assert list(Recording(path).record_steps) == [0, 2, 4]

    real_open = open
    monkeypatch.setattr(safetensors_file, "open", lambda p, mode="r": _Failing(real_open(p, mode)), raising=False)
    with pytest.raises(OSError, match="No space"):
        _train(rec, model, 2, start=1)  # step 6 records, its save fails midway
    assert path.read_bytes() == before and list(os.listdir(tmp_path)) == ["run.nn3d"]
    assert list(load(path)[1].meta["step"]) == [0, 2, 4]
    with pytest.raises(OSError, match="No space"):
        rec.save(tmp_path / "other.nn3d")  # an explicit save failing leaves nothing either
    assert list(os.listdir(tmp_path)) == ["run.nn3d"]

    monkeypatch.undo()
    _train(rec, model, 2, start=2)  # the run goes on: step 8 records and saves, the failed step 6 included
    assert list(Recording(path).record_steps) == [0, 2, 4, 6, 8]
    final = rec.save()
    assert final == path and list(os.listdir(tmp_path)) == ["run.nn3d"]
    np.testing.assert_array_equal(load(path)[0].connections[1].weight, model[2].weight.detach().numpy())


def test_a_stale_temp_file_is_never_read_and_autosave_can_be_turned_off(tmp_path):
    model = nn.Sequential(nn.Linear(4, 2))
    path = tmp_path / "run.nn3d"
    rec = TrainingRecorder(model, torch.zeros(1, 4), every=1, autosave=0, path=path)
    _train(rec, model, 3)
    assert not path.exists()  # autosave=0: written by save() only
    rec.save()
    (tmp_path / "run.nn3d.part").write_bytes(b"\x00" * 17)  # a killed write's torn temp file
    assert list(Recording(path).record_steps) == [0, 1, 2]
    TrainingRecorder(model, torch.zeros(1, 4), path=path)
    assert list(os.listdir(tmp_path)) == ["run.nn3d"]
    with pytest.raises(ValueError, match="needs a path"):
        TrainingRecorder(model, torch.zeros(1, 4)).save()
    with pytest.raises(ValueError, match="autosave"):
        TrainingRecorder(model, torch.zeros(1, 4), autosave=-1)


def test_a_bias_recorder_keeps_its_biases_in_every_autosave(tmp_path):
    from nn3d.analysis.biases import BiasRecorder

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "run.nn3d"
    rec = BiasRecorder(model, torch.randn(2, 4), every=2, path=path)
    _train(rec, model, 3)  # records 0 and 2, the run not saved by hand
    tensors, _ = safetensors_file.read(path)
    assert list(Recording(path).record_steps) == [0, 2]
    np.testing.assert_array_equal(tensors["bias/1"][1], model[2].bias.detach().numpy())
    assert list(os.listdir(tmp_path)) == ["run.nn3d"]
