"""TensorBoard logs on nn3d's timeline: a run written by torch's SummaryWriter, read back through nn3d's panels
(same scalar values at the same steps, the histograms' bins), TrainingRecorder(writer=...), and bad log
directories as one-line errors."""

import numpy as np
import pytest
import torch

pytest.importorskip("tensorboard", reason="the tensorboard extra: pip install 'nn3d[tensorboard]'")
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from nn3d.analysis import Source  # noqa: E402
from nn3d.analysis.data import bucket_stack  # noqa: E402
from nn3d.analysis.source import layer_tags  # noqa: E402
from nn3d.cli import main  # noqa: E402
from nn3d.ingest import IngestError, from_torch  # noqa: E402
from nn3d.ingest.tensorboard_log import read_log  # noqa: E402
from nn3d.recorder import TrainingRecorder  # noqa: E402

LOSS_STEPS = [0, 3, 7, 12, 20]
ACC_STEPS = [0, 10, 20]
HIST_STEPS = [0, 10, 20]
EDGES = np.linspace(-2.0, 2.0, 9)
PANEL_SIZE = (500, 320)  # the panels as the explorer column draws them: room for a legend row


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(4, 6), torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def hist_values(step: int) -> np.ndarray:
    """Values spanning exactly EDGES' range (min -2, max 2), shifting with the step."""
    rng = np.random.default_rng(step)
    return np.r_[-2.0, 2.0, np.clip(rng.normal(0.1 * step / 20, 0.7, 200), -1.99, 1.99)]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tb")
    w = SummaryWriter(str(d))
    for s in LOSS_STEPS:
        w.add_scalar("loss", 2.0 / (1 + s), s)
    for s in ACC_STEPS:
        w.add_scalar("val/acc", 0.5 + s / 50, s)
    for s in HIST_STEPS:
        w.add_histogram("fc1.weight", hist_values(s), s, bins=EDGES)
        w.add_histogram("unrelated/thing", np.arange(10.0) * (s + 1), s)  # TensorBoard's default buckets
    w.close()
    return d


@pytest.fixture(scope="module")
def model_net():
    torch.manual_seed(0)
    return from_torch(Net(), torch.randn(3, 4))


def test_read_log_gives_the_logged_scalars_and_histogram_buckets(logdir):
    log = read_log(logdir)
    steps, values = log.scalars["loss"]
    np.testing.assert_array_equal(steps, LOSS_STEPS)
    np.testing.assert_array_equal(values, np.float32([2.0 / (1 + s) for s in LOSS_STEPS]))  # stored as float32
    np.testing.assert_array_equal(log.scalars["val/acc"][0], ACC_STEPS)
    h = log.histograms["fc1.weight"]
    np.testing.assert_array_equal(h.steps, HIST_STEPS)
    for s, buckets in zip(HIST_STEPS, h.buckets):
        counts, _ = np.histogram(hist_values(s), EDGES)
        np.testing.assert_array_equal(buckets[:, 2], counts)  # TensorBoard's own bins, count for count
        np.testing.assert_allclose(np.r_[buckets[:, 0], buckets[-1, 1]], EDGES)
    np.testing.assert_array_equal(log.steps, sorted(set(LOSS_STEPS + ACC_STEPS + HIST_STEPS)))


def test_curves_panel_shows_the_same_values_at_the_same_steps(logdir, model_net, lone_panel):
    net, acts = model_net
    src = Source(net, acts, tensorboard=logdir)
    assert src.has_curves and src.recording is None
    panel, img = lone_panel("curves", src, 1, size=PANEL_SIZE)
    cv = panel.data["curves"]
    np.testing.assert_array_equal(cv.series["loss"][0], LOSS_STEPS)
    np.testing.assert_allclose(cv.series["loss"][1], [2.0 / (1 + s) for s in LOSS_STEPS], rtol=1e-6)
    np.testing.assert_array_equal(cv.series["val/acc"][0], ACC_STEPS)
    for s in ACC_STEPS:
        assert cv.at("val/acc", s) == pytest.approx(0.5 + s / 50, rel=1e-6)
    assert cv.cursor == 20  # a model without a recording: its state now, the log's last step
    assert (img[..., :3].max(axis=2) > 120).sum() > 500  # the lines are drawn


def test_hist_panel_shows_the_tag_of_its_layer_with_tensorboards_bins(logdir, model_net, lone_panel):
    net, acts = model_net
    src = Source(net, acts, tensorboard=logdir)
    fc1 = net.layer_index("fc1")
    panel, _ = lone_panel("hist", src, fc1, size=PANEL_SIZE)
    stacks = panel.data["tensorboard"]
    assert list(stacks) == ["fc1.weight"]  # the tag naming fc1, not the unrelated one
    st = stacks["fc1.weight"]
    np.testing.assert_array_equal(st.steps, HIST_STEPS)
    np.testing.assert_allclose(st.edges, EDGES)  # every step has TensorBoard's same buckets: drawn as they are
    np.testing.assert_array_equal(st.counts, [np.histogram(hist_values(s), EDGES)[0] for s in HIST_STEPS])
    assert panel.data["tb_current"]["fc1.weight"] == len(HIST_STEPS) - 1
    fc2 = net.layer_index("fc2")
    panel2, _ = lone_panel("hist", src, fc2, size=PANEL_SIZE)
    assert panel2.data["tensorboard"] == {}


def test_bucket_stack_rebins_unequal_buckets_keeping_every_count():
    buckets = [np.array([[0.0, 1.0, 4.0], [1.0, 3.0, 2.0]]), np.array([[0.5, 0.5, 5.0], [0.5, 4.0, 7.0]])]
    st = bucket_stack(buckets, [0, 1], bins=4)
    np.testing.assert_allclose(st.edges, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(st.counts[0], [4, 1, 1, 0])  # [1, 3] split evenly over two bins
    np.testing.assert_allclose(st.counts[1], [5 + 1, 2, 2, 2])  # a point bucket goes whole to its bin
    np.testing.assert_allclose(st.counts.sum(axis=1), [6, 12])
    # TensorBoard's default exponential buckets, different per step: totals kept
    log_like = [np.c_[np.r_[0.0, np.cumsum(np.full(5, k + 1.0))[:-1]], np.cumsum(np.full(5, k + 1.0)), np.ones(5)]
                for k in range(3)]
    assert np.allclose(bucket_stack(log_like, [0, 1, 2]).counts.sum(axis=1), 5)


def test_layer_tags_match_module_paths_not_substrings():
    tags = ["fc1.weight", "weights/fc1", "fc10.weight", "block.0.bias", "grad/block.0.weight", "x0"]
    assert layer_tags("fc1", tags) == ["fc1.weight", "weights/fc1"]
    assert layer_tags("block.0", tags) == ["block.0.bias", "grad/block.0.weight"]
    assert layer_tags("0", tags) == ["block.0.bias", "grad/block.0.weight"]


def test_training_recorder_writes_its_loss_and_metrics_to_the_writer(tmp_path, lone_panel):
    torch.manual_seed(0)
    model, x, y = Net(), torch.randn(8, 4), torch.randint(0, 3, (8,))
    writer = SummaryWriter(str(tmp_path / "tb"))
    rec = TrainingRecorder(model, x, every=2, writer=writer)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for i in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss=loss, acc=0.2 * i, skipped=None)
        writer.add_histogram("fc1.weight", model.fc1.weight.detach(), i)  # the user's own logging, same loop
    writer.close()
    path = rec.save(tmp_path / "run.nn3d")
    log = read_log(tmp_path / "tb")
    assert set(log.scalars) == {"loss", "acc"}  # a None metric is not written
    np.testing.assert_array_equal(log.scalars["loss"][0], rec.steps)
    np.testing.assert_allclose(log.scalars["loss"][1], rec.loss, rtol=1e-6)
    np.testing.assert_allclose(log.scalars["acc"][1], rec.metrics["acc"], rtol=1e-6)
    # both views of one loop: the log's copy of the recording's curves is not drawn twice
    src = Source.open(str(path), tensorboard=tmp_path / "tb")
    assert set(src.curves().series) == {"loss", "acc"}  # no "tb:loss", "tb:acc" copies
    assert rec.record_steps == [0, 2, 4]
    for frame, step in enumerate(rec.record_steps):  # the histogram panel follows the frame's training step
        panel, _ = lone_panel("hist", src, src.network.layer_index("fc1"), frame, size=PANEL_SIZE)
        st = panel.data["tensorboard"]["fc1.weight"]
        assert st.steps[panel.data["tb_current"]["fc1.weight"]] == step == panel.data["weights"].steps[frame]
        np.testing.assert_allclose(st.counts.sum(axis=1), 24)  # every weight of fc1, at every logged step


def test_plot_with_tensorboard_and_bad_log_dirs_are_one_line_errors(logdir, tmp_path, capsys):
    spec = "synthetic:mlp:4,6,3"
    out = tmp_path / "c.png"
    assert main(["plot", spec, "--panel", "curves", "--tensorboard", str(logdir), "-o", str(out)]) == 0
    assert out.stat().st_size > 1000
    capsys.readouterr()
    assert main(["plot", spec, "--panel", "curves", "-o", str(out)]) == 2  # no curves without a log
    assert "--tensorboard" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "events.out.tfevents.x").write_bytes(np.random.default_rng(0).bytes(300))
    for bad, says in ((empty, "no TensorBoard event files"), (foreign, "no scalars or histograms"),
                      (tmp_path / "missing", "no such TensorBoard log directory")):
        assert main(["plot", spec, "--panel", "curves", "--tensorboard", str(bad), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and "Traceback" not in err, err
        with pytest.raises(IngestError, match=says):
            Source(model_net_of(spec), tensorboard=bad)


def test_view_reads_the_log_before_the_model(logdir, tmp_path, capsys):
    empty = tmp_path / "none"
    empty.mkdir()
    assert main(["view", "no-such-model.onnx", "--tensorboard", str(empty)]) == 2
    assert "no TensorBoard event files" in capsys.readouterr().err


def model_net_of(spec):
    from nn3d.model_argument import resolve

    return resolve(spec)[0]


def test_explorer_with_a_log_alone_shows_its_curves_and_a_click_keeps_the_sample(logdir, model_net):
    from nn3d.render.explorer import Explorer

    net, acts = model_net
    ex = Explorer(net, acts, size=(800, 500), tensorboard=logdir, k=2)  # implies panels
    try:
        curves = ex.panels.by_kind["curves"]
        ex.render()
        np.testing.assert_array_equal(curves.data["curves"].series["loss"][0], LOSS_STEPS)
        ex.show_frame(0)
        x, y = curves.canvas_x(20.0), curves.view.pos[1] + curves.view.size[1] / 2
        assert curves.step_at(x, y) == pytest.approx(20.0, abs=0.5)
        ex.click_panels(x, y)
        assert ex.frame == 0  # frames are samples here, not training steps: a click on a step does not jump
    finally:
        ex.close()
