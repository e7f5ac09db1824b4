"""§5.2: registering persons without hukou, and overseas Chinese whose records disagree."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from hukou.policy.facts import check_id_number, id_birth_date, id_sex
from hukou.registry import s5_2
from hukou.registry.access import Actor
from hukou.registry.demo import settle_materials
from hukou.registry.errors import Conflict, InvalidTransition, RegistryError
from hukou.registry.models import Application, AuditRecord, Membership, Person
from hukou.registry.service import APPLICATION_TRANSITIONS, Registry

from .conftest import NANHU
from .helpers import id_number, owner_case

ACTIONS = ("submit", "review", "withdraw", "approve", "reject", "register")


def no_hukou(category: str = "no_birth_certificate", **extra: Any) -> dict[str, Any]:
    """A child born at home (no medical birth certificate), registered with the mother."""
    return {
        "person": {"name": "王小宝", "sex": "male", "birth_date": "2019-04-02"},
        "category": category,
        "guardian": {
            "relation": "mother",
            "id_number": id_number("330402", "19900101", 3, False),
            "name": "王丽",
        },
        **extra,
    }


def overseas(former_id: str | None = None, **person: Any) -> dict[str, Any]:
    """An overseas Chinese whose passport spells the name differently from the old record."""
    return {
        "person": {"name": "陈志明", "sex": "male", "birth_date": "1975-06-01", **person},
        "passport_no": "E12345678",
        "settlement_certificate_no": "QZ2025-0001",
        "former": {
            "name": "陈志民",
            "sex": "male",
            "birth_date": "1975-06-01",
            "county": NANHU,
            "id_number": former_id,
        },
    }


def _collective(registry: Registry, officer: Actor) -> int:
    _c, household = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    return household


def _ready(registry: Registry, officer: Actor, kind: str, facts: dict[str, Any]) -> int:
    """An application with every material received, under review."""
    app = registry.create_application(officer, kind, NANHU, facts)
    for m in s5_2.materials(kind, app.facts):
        registry.receive_document(officer, app.id, m.key, "")
    registry.act(officer, app.id, "submit")
    registry.act(officer, app.id, "review")
    return app.id


def _people(registry: Registry) -> list[Person]:
    return registry.read(lambda s: list(s.execute(select(Person).order_by(Person.id)).scalars()))


@pytest.mark.clause("§5.2")
def test_a_person_without_hukou_is_registered_with_a_new_id_number(
    registry: Registry, officer: Actor
) -> None:
    household = _collective(registry, officer)
    app_id = _ready(registry, officer, "s5_2_no_hukou", no_hukou())
    approved = registry.approve(officer, app_id)
    assert approved.state == "approved" and approved.decision is not None
    assert approved.decision["clause"] == "§5.2" and approved.decision["id_number"] == "new"
    assert approved.decision["category"]["key"] == "no_birth_certificate"
    registry.register(officer, app_id, household_id=household)
    [person] = _people(registry)
    number = check_id_number(person.id_number)  # a valid GB 11643 number
    assert number.startswith(NANHU + "20190402")
    assert id_birth_date(number).isoformat() == "2019-04-02" and id_sex(number).value == "male"
    assert person.name == "王小宝"
    membership = registry.read(
        lambda s: s.execute(
            select(Membership).where(Membership.person_id == person.id)
        ).scalar_one()
    )
    assert membership.household_id == household and membership.end_date is None
    assert membership.relation_to_head == "子女" and "§5.2" in membership.reason_in
    app = registry.read(lambda s: s.get(Application, app_id))
    assert app is not None and app.state == "registered" and app.applicant_id_number == number
    assert registry.verify_audit() == []


@pytest.mark.clause("§5.2")
def test_numbers_given_on_one_day_differ_and_keep_the_sex_parity(
    registry: Registry, officer: Actor
) -> None:
    household = _collective(registry, officer)
    for name, sex in (("甲", "male"), ("乙", "male"), ("丙", "female")):
        facts = no_hukou("other")
        facts["person"] = {"name": name, "sex": sex, "birth_date": "2001-01-01"}
        app_id = _ready(registry, officer, "s5_2_no_hukou", facts)
        registry.approve(officer, app_id)
        registry.register(officer, app_id, household_id=household)
    numbers = [p.id_number for p in _people(registry)]
    assert [n[14:17] for n in numbers] == ["001", "003", "002"]


@pytest.mark.clause("§5.2")
def test_approval_needs_every_material_of_the_category(registry: Registry, officer: Actor) -> None:
    app = registry.create_application(officer, "s5_2_no_hukou", NANHU, no_hukou())
    registry.receive_document(officer, app.id, "written_application", "")
    registry.act(officer, app.id, "submit")
    registry.act(officer, app.id, "review")
    with pytest.raises(InvalidTransition) as err:
        registry.approve(officer, app.id)
    assert err.value.field == "materials"
    assert "亲子鉴定" in err.value.zh and "parentage test" in err.value.en
    assert "written application" not in err.value.en  # received: not asked again
    listed = registry.materials(officer, app.id)
    assert [m["received"] for m in listed["required"]] == [True, False, False, False]


@pytest.mark.clause("§5.2")
def test_a_person_who_has_a_hukou_is_not_registered_twice(
    registry: Registry, officer: Actor
) -> None:
    household = _collective(registry, officer)
    first = _ready(registry, officer, "s5_2_no_hukou", no_hukou())
    registry.approve(officer, first)
    registry.register(officer, first, household_id=household)
    second = _ready(registry, officer, "s5_2_no_hukou", no_hukou("other"))
    with pytest.raises(Conflict) as err:
        registry.approve(officer, second)
    assert err.value.field == "facts.person" and "重复户口" in err.value.zh


@pytest.mark.clause("§5.2")
def test_a_cancelled_hukou_is_restored_with_its_number(registry: Registry, officer: Actor) -> None:
    household = _collective(registry, officer)
    former = id_number("330402", "19800303", 12, False)
    facts = no_hukou(
        "declared_missing_or_dead",
        person={"name": "李梅", "sex": "female", "birth_date": "1980-03-03"},
        former_id_number=former,
        guardian=None,
    )
    app_id = _ready(registry, officer, "s5_2_no_hukou", facts)
    assert registry.approve(officer, app_id).decision["id_number"] == "restored"  # type: ignore[index]
    registry.register(officer, app_id, household_id=household)
    assert [p.id_number for p in _people(registry)] == [former]


@pytest.mark.clause("§5.2")
def test_an_overseas_chinese_with_a_different_name_keeps_the_former_number(
    registry: Registry, officer: Actor
) -> None:
    household = _collective(registry, officer)
    former = id_number("330402", "19750601", 20, True)
    app_id = _ready(registry, officer, "s5_2_overseas", overseas(former))
    decision = registry.approve(officer, app_id).decision
    assert decision is not None and decision["discrepancies"] == ["name"]
    registry.register(officer, app_id, household_id=household)
    [person] = _people(registry)
    assert person.id_number == former and person.name == "陈志明"  # the passport's name


@pytest.mark.clause("§5.2")
def test_an_overseas_chinese_whose_birth_date_differs_gets_a_new_number(
    registry: Registry, officer: Actor
) -> None:
    household = _collective(registry, officer)
    former = id_number("330402", "19750601", 20, True)
    app_id = _ready(registry, officer, "s5_2_overseas", overseas(former, birth_date="1975-07-01"))
    registry.approve(officer, app_id)
    registry.register(officer, app_id, household_id=household)
    [person] = _people(registry)
    assert person.id_number != former and person.id_number[6:14] == "19750701"


@pytest.mark.clause("§5.2")
def test_identities_that_agree_are_not_this_kind_of_application(
    registry: Registry, officer: Actor
) -> None:
    with pytest.raises(RegistryError) as err:
        registry.create_application(officer, "s5_2_overseas", NANHU, overseas(name="陈志民"))
    assert err.value.status == 422 and err.value.field == "facts.former"


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        ({"category": "other"}, "facts.person"),
        ({**no_hukou(), "category": "lost"}, "facts.category"),
        ({**no_hukou(), "extra": 1}, "facts.extra"),
        (
            no_hukou(person={"name": "甲", "sex": "male", "birth_date": "2999-01-01"}),
            "facts.person.birth_date",
        ),
        ({**no_hukou(), "former_id_number": "330402198001010000"}, "facts.former_id_number"),
        (no_hukou("declared_missing_or_dead"), "facts.former_id_number"),
    ],
)
def test_bad_facts_are_refused_naming_the_field(
    registry: Registry, officer: Actor, facts: dict[str, Any], field: str
) -> None:
    with pytest.raises(RegistryError) as err:
        registry.create_application(officer, "s5_2_no_hukou", NANHU, facts)
    assert err.value.status == 422 and err.value.field == field, err.value
    assert err.value.zh and err.value.en


def test_documents_are_the_categorys_and_only_before_a_decision(
    registry: Registry, officer: Actor
) -> None:
    app = registry.create_application(officer, "s5_2_no_hukou", NANHU, no_hukou())
    with pytest.raises(RegistryError) as err:
        registry.receive_document(officer, app.id, "a photo", "")
    assert err.value.status == 422 and err.value.field == "material"
    app_id = _ready(registry, officer, "s5_2_no_hukou", no_hukou())
    registry.approve(officer, app_id)
    with pytest.raises(InvalidTransition):
        registry.receive_document(officer, app_id, "written_application", "")


def _to_state(registry: Registry, officer: Actor, state: str, household: int) -> int:
    path = {
        "draft": [],
        "submitted": ["submit"],
        "under_review": ["submit", "review"],
        "approved": ["submit", "review", "approve"],
        "rejected": ["submit", "review", "reject"],
        "registered": ["submit", "review", "approve", "register"],
        "withdrawn": ["withdraw"],
    }[state]
    app = registry.create_application(officer, "s5_2_no_hukou", NANHU, no_hukou("other"))
    for m in s5_2.materials("s5_2_no_hukou", app.facts):
        registry.receive_document(officer, app.id, m.key, "")
    for action in path:
        _do(registry, officer, app.id, action, household)
    return app.id


def _do(registry: Registry, officer: Actor, app_id: int, action: str, household: int) -> None:
    if action == "approve":
        registry.approve(officer, app_id)
    elif action == "reject":
        registry.reject(officer, app_id, "材料不实")
    elif action == "register":
        registry.register(officer, app_id, household_id=household)
    else:
        registry.act(officer, app_id, action)


@pytest.mark.clause("§5.2")
@pytest.mark.parametrize(
    "state",
    ["draft", "submitted", "under_review", "approved", "rejected", "registered", "withdrawn"],
)
def test_every_transition_allowed_or_refused(
    registry: Registry, officer: Actor, state: str
) -> None:
    household = _collective(registry, officer)
    for action in ACTIONS:
        app_id = _to_state(registry, officer, state, household)
        allowed = (state, action) in APPLICATION_TRANSITIONS
        if allowed:
            _do(registry, officer, app_id, action, household)
            app = registry.read(lambda s, i=app_id: s.get(Application, i))
            assert app is not None and app.state == APPLICATION_TRANSITIONS[(state, action)]
        else:
            with pytest.raises(InvalidTransition):
                _do(registry, officer, app_id, action, household)
        _free_names(registry)  # so that the next registration is not a double hukou


def _free_names(registry: Registry) -> None:
    """Close the open memberships (test set-up, not an operation of the register)."""
    with registry.factory() as s, s.begin():
        s.execute(update(Membership).values(end_date=registry.clock.today()))


@pytest.mark.clause("§5.2")
def test_registration_is_one_transaction(
    registry: Registry, officer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    household = _collective(registry, officer)
    app_id = _ready(registry, officer, "s5_2_no_hukou", no_hukou())
    registry.approve(officer, app_id)
    audited = registry.read(lambda s: len(s.execute(select(AuditRecord)).scalars().all()))

    def failing(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("injected failure after the person was added")

    monkeypatch.setattr(Registry, "_move", failing)
    with pytest.raises(RuntimeError):
        registry.register(officer, app_id, household_id=household)
    assert _people(registry) == []
    assert registry.read(lambda s: s.execute(select(Membership)).first()) is None
    app = registry.read(lambda s: s.get(Application, app_id))
    assert app is not None and app.state == "approved"
    assert registry.read(lambda s: len(s.execute(select(AuditRecord)).scalars().all())) == audited
    monkeypatch.undo()
    registry.register(officer, app_id, household_id=household)
    assert len(_people(registry)) == 1


def test_other_kinds_still_go_through_the_engine(registry: Registry, officer: Actor) -> None:
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    registry.act(officer, app.id, "submit")
    registry.act(officer, app.id, "review")
    settle_materials(registry, officer, app.id)
    decided = registry.approve(officer, app.id)
    assert decided.decision is not None and decided.decision["schema"] == "hukou.decision/1"
    needed = registry.materials(officer, app.id)["required"]
    assert needed and all(m["received"] for m in needed)
