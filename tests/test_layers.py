"""The package's layers, read from its import statements: a test fails when code reaches upwards.

strategies → (nothing of gradprops but errors and strided facts); properties → never the checking
loop or the application; the library → never ``gradprops.app`` (the ``gradprops`` command).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradprops"


def _imports(path: Path) -> set[str]:
    """Every ``gradprops.…`` module the file imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gradprops")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gradprops"):
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return found


def _modules(under: str) -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py")) if under else sorted(PACKAGE.rglob("*.py"))


LIBRARY = [p for p in _modules("") if "app" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py"]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_library_never_imports_the_application(path: Path) -> None:
    assert not {m for m in _imports(path) if m.startswith("gradprops.app")}


@pytest.mark.parametrize("path", _modules("strategies"), ids=lambda p: p.name)
def test_strategies_never_import_properties_or_the_checking_loop(path: Path) -> None:
    upward = {m for m in _imports(path)
              if m.startswith(("gradprops.properties", "gradprops.checking", "gradprops.pytest_support"))}
    assert not upward


@pytest.mark.parametrize("path", _modules("properties"), ids=lambda p: p.name)
def test_properties_never_import_the_checking_loop(path: Path) -> None:
    assert not {m for m in _imports(path) if m.startswith(("gradprops.checking", "gradprops.pytest_support"))}


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from gradprops.app.cli import main\n    return main\n")
    assert "gradprops.app.cli" in _imports(module)


def _autograd_calls(path: Path) -> list[str]:
    """Calls that drive autograd: ``….backward(...)``, ``torch.autograd.grad/functional/forward_ad``."""
    def dotted(node: ast.AST) -> str:
        if isinstance(node, ast.Attribute):
            return f"{dotted(node.value)}.{node.attr}"
        return node.id if isinstance(node, ast.Name) else "?"

    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name.endswith(".backward") or name.startswith(
                    ("torch.autograd.grad", "torch.autograd.functional", "torch.autograd.forward_ad")):
                calls.append(f"{path.name}:{node.lineno} {name}")
    return calls


@pytest.mark.parametrize("path", [p for p in LIBRARY if p.name != "autodiff.py"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_autodiff_drives_autograd(path: Path) -> None:
    assert not _autograd_calls(path)


def test_the_autograd_scan_sees_a_backward_call(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import torch\ndef f(y, v):\n    y.backward(v)\n    return torch.autograd.grad(y, [])\n")
    assert len(_autograd_calls(module)) == 2
    assert _autograd_calls(PACKAGE / "autodiff.py")  # the scan finds autodiff's own calls
