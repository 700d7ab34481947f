"""The MODEL argument: one parser for every form; a factory file can import the modules next to it."""

import sys

import numpy as np
import pytest

from nn3d.analysis import Source
from nn3d.model_argument import ModelArgumentError, load_factory, parse, resolve


def test_a_factory_imports_a_sibling_module(tmp_path):
    (tmp_path / "nn3d_sibling_helper.py").write_text("WIDTHS = (3, 2)\n")
    (tmp_path / "factory.py").write_text(
        "import nn3d_sibling_helper\n"
        "def make():\n"
        "    import nn3d_sibling_helper as h  # also at call time\n"
        "    return h.WIDTHS, nn3d_sibling_helper.WIDTHS\n")
    model, inputs = load_factory(tmp_path / "factory.py", "make")
    assert model == inputs == (3, 2)
    assert str(tmp_path) not in sys.path  # only while loading


def test_one_parser_names_each_form(tmp_path):
    (tmp_path / "f.py").write_text("def make():\n    return None, None\n")
    (tmp_path / "run.NN3D").write_bytes(b"")
    (tmp_path / "m.onnx").write_bytes(b"")
    assert (parse("synthetic:mlp:4,3").form, parse("synthetic:mlp:4,3").synthetic) == ("synthetic", "mlp:4,3")
    factory = parse(f"{tmp_path}/f.py:make")
    assert (factory.form, factory.path, factory.function) == ("factory", tmp_path / "f.py", "make")
    assert parse(tmp_path / "run.NN3D").form == "recording"
    assert parse(str(tmp_path / "m.onnx")).form == "file"
    for text, message in [("bogus", "cannot read MODEL 'bogus'; forms: synthetic:mlp"),
                          (f"{tmp_path}/missing.py:make", "no such file"),
                          (f"{tmp_path}/missing.nn3d", "no such recording")]:
        with pytest.raises(ModelArgumentError, match=message):
            parse(text)


def test_source_and_resolve_read_the_same_forms(tmp_path):
    """The analysis panels' Source and the CLI's resolve go through the one parser: same network, same error."""
    net, acts = resolve("synthetic:mlp:6,5,3")
    src = Source.open("synthetic:mlp:6,5,3")
    assert [la.shape for la in src.network.layers] == [la.shape for la in net.layers]
    np.testing.assert_array_equal(src.activations.frame(0), acts.frame(0))
    for bad in ("bogus", str(tmp_path / "missing.nn3d")):
        with pytest.raises(ModelArgumentError) as a:
            resolve(bad)
        with pytest.raises(ModelArgumentError) as b:
            Source.open(bad)
        assert str(a.value) == str(b.value)
