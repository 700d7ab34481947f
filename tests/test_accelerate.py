"""Models dispatched with Hugging Face accelerate (CPU and disk offload under a small max_memory): activations
through the memory-mapped store and weights read from accelerate's offload folder equal the plain model's."""

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
accelerate = pytest.importorskip("accelerate")

from nn3d.ingest import IngestError, from_torch  # noqa: E402
from nn3d.ingest.accelerate import dispatch, is_dispatched  # noqa: E402
from nn3d.layout import select_edges  # noqa: E402
from nn3d.recorder import TrainingRecorder  # noqa: E402


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(8, 64), torch.nn.Linear(64, 64)
        self.fc3, self.out = torch.nn.Linear(64, 64), torch.nn.Linear(64, 4)

    def forward(self, x):
        return self.out(torch.relu(self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))))


def n_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def dispatched(model, folder: Path, fraction: float, no_split=None):
    """(the model spread over CPU and disk within ``fraction`` of its size, an undispatched copy)."""
    ref = copy.deepcopy(model)
    dispatch(model, {"cpu": int(n_bytes(model) * fraction)}, folder, no_split=no_split)
    places = set(model.hf_device_map.values())
    assert places == {"cpu", "disk"}, model.hf_device_map  # some layers really are offloaded to disk
    assert any(p.device.type == "meta" for p in model.parameters()) and any((folder).glob("*.dat"))
    return model, ref


def assert_same_network(net, ref_net, folder: Path) -> None:
    """Same layers, same weights (disk-offloaded float32 ones as memory maps of accelerate's files), same edges."""
    def layers(n):
        return [(la.name, la.kind, la.shape) for la in n.layers]

    assert layers(net) == layers(ref_net)
    on_disk = 0
    for c, c0 in zip(net.connections, ref_net.connections, strict=True):
        assert (c.src, c.dst, c.kind) == (c0.src, c0.dst, c0.kind)
        np.testing.assert_array_equal(c.weight, c0.weight)
        base = c.weight if isinstance(c.weight, np.memmap) else c.weight.base
        if isinstance(base, np.memmap) and Path(base.filename).parent == folder.resolve():
            on_disk += 1
    assert on_disk > 0, "offloaded weights are read from the offload folder's memory-mapped files"
    e, e0 = select_edges(net, k=3), select_edges(ref_net, k=3)
    for key in ("src", "dst", "weight"):
        np.testing.assert_array_equal(getattr(e, key), getattr(e0, key))


def test_mlp_disk_offload_activations_through_memmap_and_weights(tmp_path):
    torch.manual_seed(0)
    model, ref = dispatched(MLP(), tmp_path / "offload", 0.8)
    x = torch.randn(5, 8)
    net0, acts0 = from_torch(ref, x)
    net, acts = from_torch(model, x, memmap=tmp_path / "acts.npy", chunk=2)
    assert isinstance(acts.values, np.memmap) and Path(acts.values.filename) == (tmp_path / "acts.npy").resolve()
    torch.testing.assert_close(torch.from_numpy(np.array(acts.values)), torch.from_numpy(acts0.values))
    assert_same_network(net, net0, tmp_path / "offload")
    assert all(p.device.type == "meta" for p in model.fc2.parameters()), "nn3d leaves the weights offloaded"
    rec = TrainingRecorder(model, x, every=1)  # the recorder on the disk-offloaded model too
    rec.step(loss=1.0)
    torch.testing.assert_close(torch.from_numpy(rec.frames[0]), torch.from_numpy(acts0.values))
    for i in rec.weighted:
        np.testing.assert_array_equal(rec.weights[i][0], net0.connections[i].weight)


def test_bfloat16_weights_are_converted_on_disk_not_held_in_ram(tmp_path, monkeypatch):
    """Large models come in bfloat16: each weight is converted to float32 block by block into a file, so the
    Network holds memory maps (page cache), never a float32 copy of the whole model in RAM."""
    import nn3d.ingest.accelerate as nn3d_accelerate

    monkeypatch.setattr(nn3d_accelerate, "BLOCK", 1000)  # several blocks per weight
    torch.manual_seed(0)
    model, ref = dispatched(MLP().to(torch.bfloat16), tmp_path / "offload", 0.8)
    x = torch.randn(3, 8, dtype=torch.bfloat16)
    net0, acts0 = from_torch(ref, x)
    net, acts = from_torch(model, x)
    torch.testing.assert_close(torch.from_numpy(acts.values), torch.from_numpy(acts0.values))
    for c, c0 in zip(net.connections, net0.connections, strict=True):
        np.testing.assert_array_equal(c.weight, c0.weight)
        assert isinstance(c.weight, np.memmap) and c.weight.dtype == np.float32, "on disk, whether offloaded or not"


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_transformers_decoders_dispatched_to_cpu_and_disk(tmp_path, arch):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if arch == "gpt2":
        cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=64,
                                      bos_token_id=0, eos_token_id=0)
        model, block, fraction = transformers.GPT2LMHeadModel(cfg), "GPT2Block", 0.75
    else:
        cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                                       num_key_value_heads=2, vocab_size=100, max_position_embeddings=64)
        model, block, fraction = transformers.LlamaForCausalLM(cfg), "LlamaDecoderLayer", 0.7
    model, ref = dispatched(model.eval(), tmp_path / "offload", fraction, no_split=[block])
    ids = torch.randint(0, 100, (3, 7))
    net0, acts0 = from_torch(ref, ids)
    net, acts = from_torch(model, ids, memmap=tmp_path / "acts.npy", chunk=2)
    assert isinstance(acts.values, np.memmap)
    torch.testing.assert_close(torch.from_numpy(np.array(acts.values)), torch.from_numpy(acts0.values))
    assert_same_network(net, net0, tmp_path / "offload")


def test_offload_index_into_a_safetensors_checkpoint_is_memory_mapped(tmp_path):
    """load_checkpoint_and_dispatch / from_pretrained leave offloaded weights in the checkpoint itself."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = MLP()
    ref = copy.deepcopy(model)
    ckpt = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    index = {k: {"safetensors_file": str(ckpt), "weight_name": k, "dtype": "float32"}
             for k in model.state_dict() if not k.startswith("fc1.")}
    accelerate.dispatch_model(model, {"fc1": "cpu", "fc2": "disk", "fc3": "disk", "out": "disk"}, main_device="cpu",
                              offload_index=index)
    x = torch.randn(4, 8)
    net0, acts0 = from_torch(ref, x)
    net, acts = from_torch(model, x)
    torch.testing.assert_close(torch.from_numpy(acts.values), torch.from_numpy(acts0.values))
    assert_same_network(net, net0, tmp_path)


def test_cpu_offload_and_training_recorder(tmp_path):
    """cpu_offload keeps the weights in a CPU state dict (parameters on meta): the recorder reads them there at
    every record, so weights changed in place between steps show in both the weights and the activations."""
    torch.manual_seed(0)
    model = MLP()
    ref = copy.deepcopy(model)
    accelerate.cpu_offload(model, execution_device="cpu")
    assert is_dispatched(model) and model.fc2.weight.device.type == "meta"
    store = model.fc2._hf_hook.weights_map.dataset  # accelerate's CPU copy of every weight
    probe = torch.randn(3, 8)
    rec = TrainingRecorder(model, probe, every=1)
    for step in range(3):
        with torch.no_grad():
            for name, t in store.items():  # an update to the offloaded weights, mirrored on the plain model
                t.add_(0.01 * (step + 1))
                ref.get_parameter(name).add_(0.01 * (step + 1))
        rec.step(loss=1.0 / (step + 1))
        net0, acts0 = from_torch(ref, probe)
        torch.testing.assert_close(torch.from_numpy(rec.frames[-1]), torch.from_numpy(acts0.values))
        for i in rec.weighted:
            np.testing.assert_array_equal(rec.weights[i][-1], net0.connections[i].weight)
    assert len(rec.record_steps) == 3 and not np.array_equal(rec.weights[rec.weighted[1]][0],
                                                             rec.weights[rec.weighted[1]][-1])
    from nn3d import load

    net, acts = load(rec.save(tmp_path / "run.nn3d"))
    assert acts.n_frames == 3 and net.n_neurons == net0.n_neurons


def test_missing_or_truncated_offload_files_are_one_line_errors(tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "offload"
    model, _ = dispatched(MLP(), folder, 0.8)
    x = torch.randn(2, 8)
    kept = (folder / "fc3.weight.dat").read_bytes()
    (folder / "fc3.weight.dat").unlink()
    with pytest.raises(IngestError, match=r"fc3\.weight.*missing from the offload folder") as e:
        from_torch(model, x)
    assert "\n" not in str(e.value)
    (folder / "fc3.weight.dat").write_bytes(b"\0" * 12)
    with pytest.raises(IngestError, match=r"fc3\.weight\.dat holds 12 bytes, 16384 expected") as e:
        from_torch(model, x)
    assert "\n" not in str(e.value)
    (folder / "fc3.weight.dat").write_bytes(kept)
    from_torch(model, x)  # whole again
    del model.out._hf_hook.weights_map.dataset.index["out.bias"]
    with pytest.raises(IngestError, match=r"'out\.bias' is missing from accelerate's offload index"):
        from_torch(model, x)


def test_without_accelerate_plain_models_work_and_dispatch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)  # `import accelerate` now fails
    torch.manual_seed(0)
    net, acts = from_torch(MLP(), torch.randn(2, 8))
    assert net.n_neurons == acts.n_neurons == 8 + 64 * 3 + 4
    with pytest.raises(IngestError, match=r"^[^\n]*pip install nn3d\[accelerate\]$"):
        dispatch(MLP(), {"cpu": 10_000}, "offload")


PEAK_SCRIPT = textwrap.dedent("""
    import json, sys, threading
    import torch
    from nn3d.ingest import from_torch
    from nn3d.ingest.accelerate import dispatch

    def anon():  # this process's anonymous resident memory (a memory-mapped store's pages are not in it)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon:"))

    class Convs(torch.nn.Module):
        def __init__(self, c=16):
            super().__init__()
            self.first = torch.nn.Conv2d(3, c, 3, padding=1)
            self.convs = torch.nn.ModuleList(torch.nn.Conv2d(c, c, 3, padding=1) for _ in range(3))
        def forward(self, x):
            x = torch.relu(self.first(x))
            for m in self.convs:
                x = torch.relu(m(x))
            return x

    torch.manual_seed(0)
    folder, batch = sys.argv[1], int(sys.argv[2])
    model = Convs()
    dispatch(model, {"cpu": int(0.6 * sum(p.numel() * 4 for p in model.parameters()))}, folder + "/offload")
    peak = [0]
    def sample(*_):
        peak[0] = max(peak[0], anon())
    model.register_forward_hook(sample)  # after every layer's output was captured, before they are stored
    x = torch.randn(batch, 3, 48, 48)
    from_torch(model, x[:2])  # warm up: imports, thread pools, allocator
    rises = {}
    def watch(stop):  # between layers too: the model's own intermediates
        while not stop.wait(0.0005):
            sample()
    for chunk in (4, 32, None):
        stop = threading.Event()
        thread = threading.Thread(target=watch, args=(stop,))
        base = peak[0] = anon()
        thread.start()
        net, acts = from_torch(model, x, memmap=f"{folder}/acts{chunk}.npy", chunk=chunk)
        stop.set()
        thread.join()
        sample()
        rises[str(chunk)] = peak[0] - base
        del net, acts
    print(json.dumps({"rises": rises, "map": sorted(set(model.hf_device_map.values()))}))
""")


def test_peak_memory_is_one_chunk_not_the_recording(tmp_path):
    """Recording a disk-offloaded model into a memory-mapped store chunk by chunk holds one chunk's activations
    (plus the layer being computed from its input), never the whole recording: measured as anonymous resident
    memory (malloc returns freed blocks at once under MALLOC_MMAP_THRESHOLD_, so the measure follows live data)."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs Linux /proc to read resident memory")
    batch = 64
    script = tmp_path / "peak.py"
    script.write_text(PEAK_SCRIPT)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", PYTHONPATH=str(Path(__file__).parents[1]))
    done = subprocess.run([sys.executable, str(script), str(tmp_path), str(batch)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["map"] == ["cpu", "disk"]
    sample = (3 + 4 * 16) * 48 * 48 * 4  # one sample's activations: the input and four 16-channel layers
    layer = 16 * 48 * 48 * 4
    rises = out["rises"]
    grow = rises["32"] - rises["4"]  # 28 more samples in a chunk
    assert grow <= 28 * (sample + 2 * layer) * 1.15 + 2 * 2**20, rises
    assert rises["None"] - rises["4"] >= (batch - 4) * sample, rises  # unchunked, the whole recording is in RAM
