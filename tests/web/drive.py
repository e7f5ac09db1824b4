"""Drive the self-check through the in-process client, as a browser without JavaScript would."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .conftest import csrf_of


def hidden(html: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    return found.group(1) if found else None


def questions(html: str) -> list[str]:
    return re.findall(r'name="q" value="([^"]+)"', html)


def start(client: TestClient, lang: str = "zh") -> str:
    page = client.get(f"/check?lang={lang}")
    r = client.post("/check", data={"csrf": csrf_of(page.text), "action": "start"})
    assert r.status_code == 200, r.text
    return r.text


def answer(client: TestClient, html: str, answers: dict[str, str]) -> str:
    """Answer the step shown in ``html`` and return the next page."""
    shown = questions(html)
    data: dict[str, str | list[str]] = {
        "csrf": csrf_of(html),
        "state": hidden(html, "state") or "",
        "step": hidden(html, "step") or "",
        "action": "next",
        "q": shown,
    }
    for q in shown:
        data[q] = answers.get(q, "?")
    r = client.post("/check", data=data)
    assert r.status_code == 200, r.text
    return r.text


def run(client: TestClient, answers: dict[str, str], lang: str = "zh") -> tuple[str, list[str]]:
    """The result page, and the steps asked on the way."""
    html = start(client, lang)
    asked = []
    for _ in range(40):
        step = hidden(html, "step")
        if step == "result":
            return html, asked
        assert step, html
        asked.append(step)
        html = answer(client, html, answers)
    raise AssertionError(f"the interview did not end: {asked}")


def statuses(html: str) -> dict[str, str]:
    """channel key -> status (yes / no / later / open) on a result page."""
    found = re.findall(r'class="channel (\w+)" data-channel="(\w+)"', html)
    return {key: css for css, key in found}
