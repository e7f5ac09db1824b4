"""Materials before approval: approving needs every required material received, or waived
with a reason (audited) — on SQLite and PostgreSQL; the demo follows the rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hukou.registry import demo, s5_2
from hukou.registry.access import Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.errors import Conflict, Forbidden, InvalidTransition, RegistryError
from hukou.registry.models import Application, AuditRecord, DocumentReceived, MaterialWaiver
from hukou.registry.service import Registry

from .conftest import NANHU
from .helpers import owner_case
from .test_s5_2 import no_hukou

PERMIT = "《浙江省居住证》或居住登记凭证"


def _under_review(registry: Registry, officer: Actor, kind: str = "s1_1", facts: Any = None) -> int:
    app = registry.create_application(officer, kind, NANHU, facts or owner_case())
    registry.act(officer, app.id, "submit")
    registry.act(officer, app.id, "review")
    return app.id


def _audit_count(registry: Registry) -> int:
    return registry.read(
        lambda s: s.execute(select(func.count()).select_from(AuditRecord)).scalar_one()
    )


def _state(registry: Registry, app_id: int) -> str:
    return registry.read(lambda s: s.get(Application, app_id).state)  # type: ignore[union-attr]


def test_the_required_list_is_known_before_approval(registry: Registry, officer: Actor) -> None:
    app_id = _under_review(registry, officer)
    listed = registry.materials(officer, app_id)
    keys = [m["key"] for m in listed["required"]]
    assert PERMIT in keys and len(keys) >= 3
    assert not listed["complete"]
    assert all(not m["received"] and not m["waived"] for m in listed["required"])


def test_approval_refused_with_a_material_missing_names_it_and_writes_nothing(
    registry: Registry, officer: Actor
) -> None:
    app_id = _under_review(registry, officer)
    required = registry.materials(officer, app_id)["required"]
    for m in required:
        if m["key"] != PERMIT:
            registry.receive_document(officer, app_id, m["key"], m["clause"])
    before = _audit_count(registry)
    with pytest.raises(InvalidTransition) as err:
        registry.approve(officer, app_id)
    assert err.value.field == "materials"
    assert PERMIT in err.value.zh and "residence permit" in err.value.en
    # the ones received are not named
    assert "房屋权属证明" not in err.value.zh
    assert _state(registry, app_id) == "under_review"
    assert _audit_count(registry) == before


def test_approval_refused_with_nothing_received(registry: Registry, officer: Actor) -> None:
    app_id = _under_review(registry, officer)
    with pytest.raises(InvalidTransition) as err:
        registry.approve(officer, app_id)
    assert err.value.field == "materials" and "材料不全" in err.value.zh


def test_every_material_received_approves_and_the_audit_says_on_what(
    registry: Registry, officer: Actor
) -> None:
    app_id = _under_review(registry, officer)
    demo.settle_materials(registry, officer, app_id)
    assert registry.materials(officer, app_id)["complete"]
    assert registry.approve(officer, app_id).state == "approved"
    settled = registry.read(
        lambda s: s.execute(
            select(AuditRecord.after).where(AuditRecord.action == "application.materials_settled")
        ).scalar_one()
    )
    assert PERMIT in settled["received"] and settled["waived"] == []
    assert registry.verify_audit() == []


def test_a_waiver_with_its_reason_stands_for_the_material_and_is_audited(
    registry: Registry, officer: Actor
) -> None:
    app_id = _under_review(registry, officer)
    reason = "已在居住证系统核验 / verified in the permit system"
    demo.settle_materials(registry, officer, app_id, waive=(PERMIT, reason))
    listed = registry.materials(officer, app_id)
    permit = next(m for m in listed["required"] if m["key"] == PERMIT)
    assert permit["waived"] and not permit["received"] and listed["complete"]
    assert listed["waived"][0]["reason"] == reason
    registry.approve(officer, app_id)
    records = registry.read(
        lambda s: {
            r.action: r.after
            for r in s.execute(
                select(AuditRecord).where(
                    AuditRecord.action.in_(("material.waive", "application.materials_settled"))
                )
            ).scalars()
        }
    )
    assert records["material.waive"]["material"] == PERMIT
    assert records["material.waive"]["reason"] == reason
    assert records["application.materials_settled"]["waived"] == [
        {"material": PERMIT, "reason": reason}
    ]
    assert registry.verify_audit() == []


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001, "bad\x00reason"])
def test_a_waiver_needs_a_reason(registry: Registry, officer: Actor, reason: str) -> None:
    app_id = _under_review(registry, officer)
    before = _audit_count(registry)
    with pytest.raises(RegistryError) as err:
        registry.waive_material(officer, app_id, PERMIT, reason)
    assert err.value.field == "reason" and err.value.zh and err.value.en
    assert _audit_count(registry) == before
    assert registry.read(lambda s: s.execute(select(MaterialWaiver)).first()) is None


def test_a_waiver_names_a_required_material(registry: Registry, officer: Actor) -> None:
    app_id = _under_review(registry, officer)
    with pytest.raises(RegistryError) as err:
        registry.waive_material(officer, app_id, "不存在的材料", "理由 / reason")
    assert err.value.field == "material" and "无须此材料" in err.value.zh


def test_a_received_or_waived_material_takes_no_waiver(registry: Registry, officer: Actor) -> None:
    app_id = _under_review(registry, officer)
    registry.receive_document(officer, app_id, PERMIT, "§1.1")
    with pytest.raises(Conflict) as err:
        registry.waive_material(officer, app_id, PERMIT, "理由 / reason")
    assert err.value.field == "material" and "已收取" in err.value.zh
    other = next(
        m["key"] for m in registry.materials(officer, app_id)["required"] if m["key"] != PERMIT
    )
    registry.waive_material(officer, app_id, other, "理由 / reason")
    with pytest.raises(Conflict) as err:
        registry.waive_material(officer, app_id, other, "again / 再次")
    assert err.value.field == "material" and "已免交" in err.value.zh
    assert (
        registry.read(
            lambda s: s.execute(select(func.count()).select_from(MaterialWaiver)).scalar_one()
        )
        == 1
    )


def test_only_the_county_officer_waives_and_only_before_a_decision(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    app_id = _under_review(registry, officer)
    with pytest.raises((Forbidden, RegistryError)) as err:
        registry.waive_material(other_officer, app_id, PERMIT, "理由 / reason")
    assert err.value.status in (403, 404)
    demo.settle_materials(registry, officer, app_id)
    registry.approve(officer, app_id)
    with pytest.raises(InvalidTransition) as err2:
        registry.waive_material(officer, app_id, PERMIT, "理由 / reason")
    assert err2.value.field == "state"


def test_a_stale_version_is_refused(registry: Registry, officer: Actor) -> None:
    app_id = _under_review(registry, officer)
    with pytest.raises(Conflict) as err:
        registry.waive_material(officer, app_id, PERMIT, "理由 / reason", version=999)
    assert err.value.field == "version"


@pytest.mark.clause("§5.2")
def test_s5_2_materials_may_be_waived_with_a_reason_too(registry: Registry, officer: Actor) -> None:
    app_id = _under_review(registry, officer, "s5_2_no_hukou", no_hukou())
    needed = s5_2.materials("s5_2_no_hukou", no_hukou())
    for m in needed[1:]:
        registry.receive_document(officer, app_id, m.key, "")
    with pytest.raises(InvalidTransition) as err:
        registry.approve(officer, app_id)
    assert err.value.field == "materials" and needed[0].zh in err.value.zh
    registry.waive_material(officer, app_id, needed[0].key, "当面申请并签字 / applied in person")
    decision = registry.approve(officer, app_id).decision
    assert decision is not None
    first = next(m for m in decision["materials"] if m["key"] == needed[0].key)
    assert first["waived"] and not first["received"]


def test_the_demo_follows_the_rule(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)), FixedClock(dt.date(2026, 11, 28)))
    demo.load(registry)

    def decided(s: Any) -> list[tuple[int, str, dict[str, Any]]]:
        apps = s.execute(
            select(Application).where(Application.state.in_(("approved", "registered")))
        ).scalars()
        return [(a.id, a.county, a.decision) for a in apps]

    def papers(s: Any) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for model in (DocumentReceived, MaterialWaiver):
            for app_id, material in s.execute(select(model.application_id, model.material)):
                out.setdefault(app_id, set()).add(material)
        return out

    apps = registry.read(decided)
    have = registry.read(papers)
    assert len(apps) >= 7 * 3
    waived = registry.read(lambda s: s.execute(select(func.count(MaterialWaiver.id))).scalar())
    assert waived and waived >= 1
    for app_id, _county, decision in apps:
        channel = next(c for c in decision["channels"] if c["key"] == "s1_1")
        needed = {m["zh"] for m in channel["materials"]}
        assert needed and needed <= have.get(app_id, set()), app_id
