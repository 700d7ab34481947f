CORE = """
import nn3d, nn3d.network, nn3d.synthetic, nn3d.layout, nn3d.kernels, nn3d.activations, nn3d.ingest, nn3d.model_argument
net = nn3d.synthetic.mlp([5, 4])
nn3d.layout.select_edges(net); nn3d.layout.layout(net)
print('ok')
"""


def test_core_imports_no_opengl(run_without_opengl):
    """The model never imports the view: the core works with vispy, OpenGL and glfw unimportable."""
    assert run_without_opengl(CORE) == "ok"
