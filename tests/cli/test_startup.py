"""What ``hukou check`` skips at start-up (issue 14), and that skipping it changes nothing:
``cli.startup``'s stand-ins and the YAML cache."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hukou.cli import app
from hukou.cli.startup import _Plain, light_params, skip_plugin_scan
from hukou.policy import yamlfile

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "examples" / "01-owner-family.json"

PROBE = """
import sys
sys.argv = ["hukou", *sys.argv[1:]]
from hukou.cli import main
try:
    main()
except SystemExit:
    pass
heavy = ["typer._adapters", "importlib.metadata", "yaml", "importlib.resources"]
sys.stderr.write("LOADED " + ",".join(m for m in heavy if m in sys.modules) + "\\n")
"""


def _check(tmp_path: Path, *args: str) -> tuple[str, str]:
    env = {**os.environ, "HUKOU_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "100"}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "check", *args, str(CASE)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    loaded = [ln for ln in done.stderr.splitlines() if ln.startswith("LOADED ")][-1]
    return done.stdout, loaded.removeprefix("LOADED ")


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_a_warm_check_imports_none_of_what_it_skips(tmp_path: Path, args: tuple[str, ...]) -> None:
    cold, _ = _check(tmp_path, *args)  # fills the cache folder
    warm, loaded = _check(tmp_path, *args)
    assert warm == cold
    assert loaded == ""


DOC = """
a: 2020-08-01
b: 2021-01-02 03:04:05
111: {x: [1, 2.5, true, null, "s"]}
2020-01-01: 3
s: !!set {p, q}
"""


def test_the_yaml_cache_gives_what_the_text_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(tmp_path))
    parsed = yamlfile.load_yaml(DOC)
    assert isinstance(parsed["a"], dt.date) and isinstance(parsed["b"], dt.datetime)
    assert yamlfile.load_yaml(DOC, cache=True) == parsed  # written
    assert len(list(tmp_path.glob("yaml-*.marshal"))) == 1

    def no_parse(text: str) -> object:
        raise AssertionError("parsed again")

    monkeypatch.setattr(yamlfile, "_parse", no_parse)
    again = yamlfile.load_yaml(DOC, cache=True)  # read back
    assert again == parsed
    assert [type(k) for k in again] == [type(k) for k in parsed]
    assert list(again) == list(parsed)


def test_a_damaged_yaml_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(tmp_path))
    first = yamlfile.load_yaml(DOC, cache=True)
    (path,) = tmp_path.glob("yaml-*.marshal")
    path.write_bytes(b"\x00garbage")
    assert yamlfile.load_yaml(DOC, cache=True) == first


def test_the_plugin_stand_in_steps_aside_when_plugins_are_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "pydantic.plugin._loader"
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")
    skip_plugin_scan()
    stand_in = sys.modules[name]
    assert list(stand_in.get_plugins()) == []
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    stand_in.get_plugins()  # the real loader now answers
    assert sys.modules[name] is not stand_in
    assert hasattr(sys.modules[name], "entry_points")


def test_plain_converters_give_what_typers_adapters_give() -> None:
    import typer.main
    from typer._coercion import build_runtime_param

    group = typer.main.get_command(app)
    light_params(group)
    check = group.commands["check"]  # type: ignore[attr-defined]
    values = {"cases": [("a.json", "-", ""), ["x/y.json"]], "on": ["2024-01-01"], "lang": ["en"]}
    seen = 0
    for param in check.params:
        plain = param._runtime_param
        if param.name not in values:
            continue
        assert isinstance(plain, _Plain)
        typers = build_runtime_param(param.type_descriptor)
        for value in values[param.name]:
            ours = plain._coerce_value(value, param=param, ctx=None)
            theirs = typers._coerce_value(value, param=param, ctx=None)
            assert ours == theirs and type(ours) is type(theirs)
            if isinstance(ours, list):
                assert [type(v) for v in ours] == [type(v) for v in theirs]
            seen += 1
    assert seen == 4


def test_the_check_output_is_a_decision(tmp_path: Path) -> None:
    out, _ = _check(tmp_path, "--json")
    assert json.loads(out)["status"]
