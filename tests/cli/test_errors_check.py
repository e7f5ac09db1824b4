"""Issue 14, item 2: ``hukou check`` meets every bad input with a message a person
understands, in both languages — the day that does not exist, the encoding, the position
of a JSON error — accepts a byte-order mark and standard input, and never shows the
validation library's English as it is. ``--json`` keeps printing refusals as
``{"errors": [{field, code, zh, en}]}``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hukou.cli import app
from hukou.engine.messages import PYDANTIC_MESSAGES, date_problem, read_case
from hukou.policy.facts import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "01-owner-family.json"
ENV = {"COLUMNS": "400", "NO_COLOR": "1"}
CJK = re.compile(r"[\u4e00-\u9fff]")
runner = CliRunner()


def _case(**applicant: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["applicant"].update(applicant)
    return data


def _flat(text: str) -> str:
    return " ".join(text.split())


def _run(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args], input=stdin, env=ENV)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, _flat(result.output)


def _json_errors(path: Path) -> list[dict[str, str]]:
    result = runner.invoke(app, ["check", "--json", str(path)], env=ENV)
    assert result.exit_code == 2
    start = result.stdout.index("{")
    payload = json.loads(result.stdout[start:])
    assert set(payload) == {"errors"}
    for e in payload["errors"]:
        assert set(e) == {"field", "code", "zh", "en"}
        assert CJK.search(e["zh"]) and not CJK.search(e["en"]), e
    errors: list[dict[str, str]] = payload["errors"]
    return errors


def test_a_day_that_does_not_exist_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_case(birth_date="1986-02-30")), encoding="utf-8")
    code, out = _run(str(path))
    assert code == 2
    assert "这一天不存在" in out and "the day does not exist" in out and "29 days" not in out
    assert "28 days" in out and "YYYY-MM-DD" not in out
    [e] = _json_errors(path)
    assert e["field"] == "applicant.birth_date" and "the day does not exist" in e["en"]
    code, out = _run(str(EXAMPLE), "--on", "2024-02-30")
    assert code == 2 and "--on" in out and "the day does not exist" in out and "29 days" in out


def test_date_problems() -> None:
    assert "does not exist" in date_problem("2023-02-29")[1]
    assert "does not exist" in date_problem("2024-04-31")[1]
    assert "month 13" in date_problem("2024-13-01")[1]
    assert "YYYY-MM-DD" in date_problem("01/02/2023")[1]


@pytest.mark.parametrize("value", [20240101, 1.5, True, [2024, 1, 1], "2024-01-01T10:00:00"])
def test_a_date_that_is_not_a_string_gets_a_translated_message(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_case(birth_date=value)), encoding="utf-8")
    code, out = _run(str(path))
    assert code == 2 and "applicant.birth_date" in out
    assert "Input should" not in out and "Datetimes provided" not in out, out
    [e] = _json_errors(path)
    assert e["en"] in {v[1] for v in PYDANTIC_MESSAGES.values()}, e


def test_no_validation_message_is_passed_through_raw(tmp_path: Path) -> None:
    data = _case(local_business="maybe", education="phd", name=12)
    data["applicant"]["residence_permit"] = "yes"
    data["relatives"] = {"0": 1}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    errors = _json_errors(path)
    assert len(errors) >= 4
    for e in errors:
        assert "Input should" not in e["en"] and "valid" not in e["en"].split(":")[0], e
        assert CJK.search(e["zh"]), e


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    code, out = _run(str(path))
    assert code == 0, out
    assert read_case(path.read_bytes()).applicant.name == "王建国"


def test_a_gbk_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "gbk.json"
    path.write_bytes(EXAMPLE.read_text(encoding="utf-8").encode("gbk"))
    code, out = _run(str(path))
    assert code == 2
    assert str(path) in out and "UTF-8" in out and "GBK" in out, out
    assert "line" in out and "行" in out
    [e] = _json_errors(path)
    assert e["code"] == "encoding" and e["field"] == "(case)"


def test_malformed_json_gives_line_and_column(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    broken = text.replace('"name": "王建国",', '"name": "王建国"', 1)
    line = next(i for i, ln in enumerate(broken.splitlines(), 1) if "王建国" in ln) + 1
    path = tmp_path / "bad.json"
    path.write_text(broken, encoding="utf-8")
    code, out = _run(str(path))
    assert code == 2 and str(path) in out
    assert f"line {line}, column" in out and f"第 {line} 行" in out and "comma" in out, out
    [e] = _json_errors(path)
    assert e["code"] == "json_invalid" and e["field"] == "(case)"
    with pytest.raises(InputError):
        read_case(b"[1, 2]")


def test_standard_input(tmp_path: Path) -> None:
    code, out = _run("-", stdin=EXAMPLE.read_bytes())
    assert code == 0 and "决定日期" in out, out
    result = runner.invoke(app, ["check", "--json", "-"], input=EXAMPLE.read_bytes(), env=ENV)
    assert result.exit_code == 0 and json.loads(result.stdout)["status"]
    code, out = _run("-", stdin=b"{")
    assert code == 2 and "(stdin)" in out and "line 1" in out


def test_usage_errors_are_bilingual() -> None:
    result = runner.invoke(app, ["check"], env=ENV)
    out = _flat(result.output)
    assert result.exit_code == 2 and "缺少参数" in out and "Missing argument" in out, out
    result = runner.invoke(app, ["check", "--nope", str(EXAMPLE)], env=ENV)
    out = _flat(result.output)
    assert result.exit_code == 2 and "没有这个选项" in out and "--nope" in out, out
    result = runner.invoke(app, ["nosuch"], env=ENV)
    assert result.exit_code == 2 and "没有这个命令" in _flat(result.output)


def test_help_is_not_cut_and_shows_no_bool() -> None:
    result = runner.invoke(app, ["check", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output and "…" not in result.output
    assert "--debug" in runner.invoke(app, ["--help"]).output
    for group in ("db", "demo", "users", "keys", "audit", "cases"):
        sub = runner.invoke(app, [group, "--help"])
        assert sub.exit_code == 0 and "<bool>" not in sub.output, (group, sub.output)
        assert "install-completion" not in sub.output


def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --debug an unexpected failure is a bilingual line and exit 2; with it, the
    exception itself."""
    import hukou.engine.decide as decide_mod

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(decide_mod, "decide", boom)
    result = runner.invoke(app, ["check", str(EXAMPLE)], env=ENV)
    out = _flat(result.output)
    assert result.exit_code == 2 and "内部错误" in out and "internal error: boom" in out, out
    assert "--debug" in out
    result = runner.invoke(app, ["--debug", "check", str(EXAMPLE)], env=ENV)
    assert isinstance(result.exception, RuntimeError)
