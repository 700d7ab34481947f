import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('vispy', 'OpenGL', 'glfw'):
            raise ImportError('core imported ' + name)
sys.meta_path.insert(0, Block())
import nn3d, nn3d.network, nn3d.synthetic, nn3d.layout, nn3d.kernels, nn3d.activations, nn3d.ingest, nn3d.spec
net = nn3d.synthetic.mlp([5, 4])
nn3d.layout.select_edges(net); nn3d.layout.grid_layout(net)
print('ok')
"""


def test_core_imports_no_opengl():
    """The model never imports the view: the core works with vispy, OpenGL and glfw unimportable."""
    out = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
