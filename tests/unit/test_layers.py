"""The house's rules, read from the code's own imports (every import, also those inside functions).

Layers import downwards only: ui and cli -> arena, folder, figures -> engine -> shared (config,
errors, scores, csvsafe, tempfiles). Only ui imports gradio. Across packages, a module reaches
another package through that package's face (`from apex_demo.engine import ...`), never into its
modules, and every name a face promises exists where its stub says.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "apex_demo"
SHARED = ("config", "errors", "scores", "csvsafe", "tempfiles")
FACED = ("engine", "folder", "arena", "figures")
# layer -> the apex_demo layers it may import (besides itself and the shared modules)
ALLOWED = {"shared": set(), "engine": set(), "folder": {"engine"}, "arena": {"engine"}, "figures": {"engine"},
           "ui": {"engine", "folder", "arena", "figures"}, "cli": {"engine", "folder", "arena"}, "face": set(FACED)}


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if len(parts) == 1:
        return {"__init__.py": "face", "__main__.py": "cli"}.get(parts[0], "shared")
    return parts[0]


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `import` and `from ... import` in the file, nested ones included."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "apex_demo":  # from apex_demo import tempfiles
            found += [(f"apex_demo.{alias.name}", []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def target_layer(module: str) -> str | None:
    """The apex_demo layer a module path belongs to (None outside apex_demo)."""
    parts = module.split(".")
    if parts[0] != "apex_demo":
        return None
    if len(parts) == 1:
        return "face"
    return "shared" if parts[1] in SHARED else parts[1]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downwards_only(path: Path) -> None:
    layer = layer_of(path)
    for module, _ in imports_of(path):
        target = target_layer(module)
        if target is None or target in ("shared", layer) or (target == "face" and layer in ("ui", "cli")):
            continue
        assert target in ALLOWED[layer], f"{path.relative_to(REPO)} ({layer}) imports {module} ({target})"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_other_packages_are_reached_through_their_faces(path: Path) -> None:
    layer = layer_of(path)
    for module, _ in imports_of(path):
        parts = module.split(".")
        if parts[0] == "apex_demo" and len(parts) > 2 and parts[1] in FACED and parts[1] != layer and layer != "face":
            pytest.fail(f"{path.relative_to(REPO)} reaches into {module}; import from apex_demo.{parts[1]} instead")


def test_only_the_ui_imports_gradio() -> None:
    importers = {str(path.relative_to(PACKAGE)) for path in MODULES
                 for module, _ in imports_of(path) if module.split(".")[0] == "gradio"}
    assert importers and all(name.startswith("ui/") for name in importers), sorted(importers)


def test_only_the_ui_knows_zerogpu() -> None:
    """`spaces` (ZeroGPU) is the web app's concern: the engine and the command line run without it."""
    importers = {str(path.relative_to(PACKAGE)) for path in MODULES
                 for module, _ in imports_of(path) if module.split(".")[0] == "spaces"}
    assert importers == {"ui/gpu.py"}


def top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


STUBS = sorted(PACKAGE.rglob("__init__.pyi"))


@pytest.mark.parametrize("stub", STUBS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_name_a_face_promises_is_defined_where_its_stub_says(stub: Path) -> None:
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    promised = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert promised, f"{stub} promises nothing"
    for node in promised:
        assert node.level == 1, f"{stub}: only relative imports are read by the lazy face"
        if node.module is None:  # `from . import module`
            for alias in node.names:
                assert (stub.parent / f"{alias.name}.py").is_file() or (stub.parent / alias.name).is_dir(), alias.name
            continue
        source = stub.parent.joinpath(*node.module.split(".")).with_suffix(".py")
        missing = {alias.name for alias in node.names} - top_level_names(source)
        assert not missing, f"{stub}: {sorted(missing)} are not defined in {source.relative_to(REPO)}"
        assert all(alias.asname == alias.name for alias in node.names), f"{stub}: re-export as the same name"


def test_every_face_reads_its_stub() -> None:
    for stub in STUBS:
        text = stub.with_suffix(".py").read_text(encoding="utf-8")
        assert "lazy_loader.attach_stub(__name__, __file__)" in text, stub
