"""The rule-code cache (``engine.codecache``): the same code from disk as from ``compile``,
a damaged file ignored, a changed source never served an old entry."""

from __future__ import annotations

import dis
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hukou.engine import codecache

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codecache, "_codes", None)
    monkeypatch.setattr(codecache, "_new", {})
    yield tmp_path


def _fresh_process_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecache, "_codes", None)
    monkeypatch.setattr(codecache, "_new", {})


def _run(code: object) -> dict[str, object]:
    ns: dict[str, object] = {}
    exec(code, ns)
    return ns


def test_a_saved_entry_is_the_compiled_code(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = "def f(x):\n    return x * 2 + 1\n"
    first = codecache.compiled(src, "<rule t>")
    codecache.save()
    (written,) = cache.glob("rules-*.marshal")
    _fresh_process_state(monkeypatch)
    again = codecache.compiled(src, "<rule t>")
    assert not codecache._new  # served from the file, not compiled
    assert list(dis.get_instructions(again.co_consts[0])) == list(
        dis.get_instructions(first.co_consts[0])
    )
    assert _run(again)["f"](20) == 41  # type: ignore[operator]
    assert written.stat().st_mode & 0o777 == 0o600


def test_a_changed_source_is_compiled_anew(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codecache.compiled("def f():\n    return 1\n", "<rule t>")
    codecache.save()
    _fresh_process_state(monkeypatch)
    code = codecache.compiled("def f():\n    return 2\n", "<rule t>")
    assert codecache._new  # a miss
    assert _run(code)["f"]() == 2  # type: ignore[operator]
    # the same source under another name (a rule's label) is another entry
    code = codecache.compiled("def f():\n    return 1\n", "<rule u>")
    assert code.co_filename == "<rule u>"


@pytest.mark.parametrize("content", [b"", b"\x00garbage", b"\xe9\x00\x00\x00"])
def test_a_damaged_file_is_ignored(
    cache: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    codecache.compiled("def f():\n    return 3\n", "<rule t>")
    codecache.save()
    (written,) = cache.glob("rules-*.marshal")
    written.write_bytes(content)
    _fresh_process_state(monkeypatch)
    assert _run(codecache.compiled("def f():\n    return 3\n", "<rule t>"))["f"]() == 3  # type: ignore[operator]
    codecache.save()  # rewritten whole
    _fresh_process_state(monkeypatch)
    codecache.compiled("def f():\n    return 3\n", "<rule t>")
    assert not codecache._new


def test_decisions_are_the_same_with_a_cold_and_a_warm_cache(tmp_path: Path) -> None:
    """Two fresh processes, the first filling the cache, the second reading it."""
    case = ROOT / "examples" / "10-parent-joins-adult-child.json"
    env = {"HUKOU_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "hukou.cli", "check", "--json", "--full", str(case)]
    cold = subprocess.run(argv, capture_output=True, env=env, check=True, timeout=120)
    (written,) = tmp_path.glob("rules-*.marshal")
    before = written.stat().st_mtime_ns
    warm = subprocess.run(argv, capture_output=True, env=env, check=True, timeout=120)
    assert warm.stdout == cold.stdout and b'"channels"' in cold.stdout
    assert written.stat().st_mtime_ns == before  # every rule came from the file: no new entry


def test_a_file_others_can_write_is_not_executed(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codecache.compiled("def f():\n    return 1\n", "<rule t>")
    codecache.save()
    (written,) = cache.glob("rules-*.marshal")
    written.chmod(0o664)  # a group member could have put other code there
    _fresh_process_state(monkeypatch)
    codecache.compiled("def f():\n    return 1\n", "<rule t>")
    assert codecache._new  # compiled, not read


@pytest.mark.usefixtures("no_home_folder")
def test_no_home_folder_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh_process_state(monkeypatch)
    assert _run(codecache.compiled("def f():\n    return 5\n", "<rule t>"))["f"]() == 5  # type: ignore[operator]
    codecache.save()  # nowhere to write: nothing happens
