"""Model specs: a factory file can import the modules next to it."""

import sys

from nn3d.model_argument import load_factory


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
