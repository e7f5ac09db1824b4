"""The GB/T 2260 address-code map (``policy.regions``) is stdnum's table, cached or not."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from stdnum import numdb

from hukou.policy import regions


def _stdnum(code: str) -> str:
    info = {k: v for _part, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    return str(info.get("county") or "")


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(tmp_path / "cache"))
    regions.address_codes.cache_clear()
    yield tmp_path / "cache"
    regions.address_codes.cache_clear()


def test_the_map_is_stdnums_table(fresh: Path) -> None:
    codes = regions.address_codes()
    rng = random.Random(11643)
    probes = [*codes, *(f"{rng.randrange(10**6):06d}" for _ in range(5000)), "330400", "33"]
    for code in probes:
        assert regions.county_entry(code) == _stdnum(code), code
    assert regions.county_entry("330402").endswith("[2005-]南湖区")


def test_a_cache_file_is_written_and_read_back(fresh: Path) -> None:
    first = regions.address_codes()
    (written,) = fresh.glob("stdnum-cn-loc-*.json")
    assert json.loads(written.read_text("utf-8")) == first
    # the next process reads the file: a planted entry shows it was read, not rebuilt
    written.write_text(json.dumps({**first, "999999": "[2020-]test"}), "utf-8")
    regions.address_codes.cache_clear()
    assert regions.county_entry("999999") == "[2020-]test"


@pytest.mark.parametrize(
    "content", ["", "{", "[]", "{}", "\x00\x01", '{"330481": 1}', '{"3304": "x"}', '{"330481": ""}']
)
def test_a_damaged_cache_file_is_rebuilt(fresh: Path, content: str) -> None:
    regions.address_codes()
    (written,) = fresh.glob("*.json")
    written.write_text(content, "utf-8")
    regions.address_codes.cache_clear()
    assert regions.county_entry("330481") == _stdnum("330481") != ""
    assert json.loads(written.read_text("utf-8"))["330481"] == _stdnum("330481")


def test_an_unwritable_cache_folder_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(blocker / "cache"))
    regions.address_codes.cache_clear()
    try:
        assert regions.county_entry("330402") == _stdnum("330402")
    finally:
        regions.address_codes.cache_clear()


def test_a_file_others_can_write_is_not_read(fresh: Path) -> None:
    first = regions.address_codes()
    (written,) = fresh.glob("*.json")
    written.write_text(json.dumps({**first, "999999": "[2020-]planted"}), "utf-8")
    written.chmod(0o666)  # anyone could have planted that
    regions.address_codes.cache_clear()
    assert regions.county_entry("999999") == ""
    assert fresh.stat().st_mode & 0o777 == 0o700 and written.stat().st_mode & 0o022 == 0


@pytest.mark.usefixtures("no_home_folder")
def test_no_home_folder_no_cache() -> None:
    """A bare container: no HOME, no passwd entry. The table still works."""
    assert regions.cache_dir() is None
    regions.address_codes.cache_clear()
    try:
        assert regions.county_entry("330402") == _stdnum("330402")
    finally:
        regions.address_codes.cache_clear()
