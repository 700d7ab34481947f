"""docs/architecture.md's module map and the README's package map match the code: every module is named,
and nothing named is missing (a module added, moved or renamed without updating the map fails here)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nn3d"


def modules() -> set[str]:
    """Every module but the subpackages' ``__init__`` files (the map describes a package in its heading)."""
    return {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")
            if "__pycache__" not in p.parts and (p.name != "__init__.py" or p.parent == PACKAGE)}


def named(text: str) -> set[str]:
    return set(re.findall(r"`(nn3d/[\w/]+\.py)`", text))


def test_architecture_doc_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    mapped, actual = named(section), modules()
    assert not actual - mapped, f"docs/architecture.md's module map lacks {sorted(actual - mapped)}"
    gone = sorted(p for p in named(text) if not (ROOT / p).exists())
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"


def test_readme_module_map_names_every_package():
    text = (ROOT / "README.md").read_text()
    section = text.split("### Module map", 1)[1].split("\n#", 1)[0]
    mapped = set(re.findall(r"`(nn3d/\w+/?)`", section))
    packages = {f"nn3d/{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= mapped, f"the README's module map lacks {sorted(packages - mapped)}"
    for entry in mapped:
        assert (ROOT / entry).exists() or (ROOT / f"{entry}.py").exists(), f"the README names {entry}, not in nn3d"
