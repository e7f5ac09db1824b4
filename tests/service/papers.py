"""Materials before approval, over HTTP: receive every material an application still needs
(``GET …/materials``, then ``POST …/documents`` for each), as an officer does first."""

from __future__ import annotations

from typing import Any


def receive_all(client: Any, headers: dict[str, str], app_id: int | str) -> None:
    """Every required material of ``app_id`` received (``client``: a TestClient or an
    httpx client, with the officer's ``headers``)."""
    r = client.get(f"/api/applications/{app_id}/materials", headers=headers)
    assert r.status_code == 200, r.text
    for m in r.json()["required"]:
        if not m["received"] and not m.get("waived"):
            done = client.post(
                f"/api/applications/{app_id}/documents",
                headers=headers,
                json={"material": m["key"], "clause": m["clause"]},
            )
            assert done.status_code in (200, 201), done.text
