"""The officer's case page for a §5.2 registration (no engine decision: the papers)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hukou.registry.service import Registry

from .conftest import login


def test_an_officer_sees_the_s5_2_papers_not_a_decision(
    client: TestClient, demo_registry: Registry
) -> None:
    officer = demo_registry.login("officer_330402", "jiaxing-demo-2026")
    facts = {
        "person": {"name": "王小宝", "sex": "male", "birth_date": "2019-04-02"},
        "category": "no_birth_certificate",
        "guardian": {"relation": "mother", "id_number": "330402199001010027", "name": "王丽"},
    }
    app = demo_registry.create_application(officer, "s5_2_no_hukou", "330402", facts)
    demo_registry.receive_document(officer, app.id, "written_application", "§5.2")
    login(client, "officer_330402")
    page = client.get(f"/officer/app/{app.id}")
    assert page.status_code == 200, page.text
    assert "书面申请（本人或监护人）" in page.text
    assert "§5.2" in page.text
    # one paper received, the others not yet
    assert page.text.count("未收取") >= 1
