"""The architecture as a test (分层): each layer imports only from the layers before it.

policy (the law) · engine (per case) · registry (data) · analytics (populations) ·
service (API, pages) · cli. ``hukou.privacy`` and the package root are shared by all.
analytics comes before service because the analyst pages serve its queries.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hukou"
LAYERS = ("policy", "engine", "registry", "analytics", "service", "cli")
SHARED = {"privacy", ""}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name == "hukou" or name.startswith("hukou."):
                out.add(name.split(".")[1] if "." in name else "")
    return out


def _layer_files(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_from_the_layers_before_it(layer: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(layer) + 1]) | SHARED
    wrong = {
        f"{path.relative_to(SRC)} imports hukou.{name}"
        for path in _layer_files(layer)
        for name in _imports(path)
        if name not in allowed
    }
    assert not wrong, sorted(wrong)


def test_privacy_depends_on_no_layer() -> None:
    assert _imports(SRC / "privacy.py") <= {""}


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from hukou.service.app import create_app\nimport hukou.cli\n")
    assert _imports(bad) == {"service", "cli"}
