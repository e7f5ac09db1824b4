"""Every object a write names, loaded and authorised in that write's transaction (辖区核验).

A request is *about* one object (an application, a procedure) but it often *names* others:
the household or dwelling a registration goes to, the community of a new dwelling, the
person to attach. Each of them is resolved here, by one function per kind, and checked
against the acting user's jurisdiction before anything is written:

* officer — the object's county is the officer's own;
* admin — any county (setting up places and users; admins take no step on a case);
* keeper, analyst — no write names an object for them.

The county of a person is the county of the household their hukou is in now; a person
with no hukou in the register belongs to no county, and no officer's write may name them
by row id (an application names people by ID number, checked by ``identity``).

The one exception — closing a person's membership in another county when a registration
this officer approved moves them here — is not a resolution: ``Registry._move`` does it,
called by ``Registry.register`` after the identity check, and notifies that station.
Residence registration has its counterpart (``registry.permits``): registering a person's
residence in this county ends their open residence registration in another county (and
that county's live permit) — the person lives here now; no object of the other county is
named by the request.

A residence registration and a residence permit belong to the county of the station that
keeps them (``residence_registration``, ``residence_permit``). A migrant named by ID number
(``resident``) has no county of their own here — their hukou is elsewhere — so the number
is checked (GB 11643) and the person loaded, and the write is authorised through the
county of the record it makes or names.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hukou.policy.facts import check_id_number
from hukou.registry.access import Actor
from hukou.registry.errors import Forbidden, NotFound, RegistryError
from hukou.registry.models import (
    Application,
    Community,
    Dwelling,
    Household,
    Membership,
    MoveInPermit,
    MoveOutProcedure,
    Person,
    ResidencePermit,
    ResidenceRegistration,
    StationNotice,
)

T = TypeVar("T")
MAX_ROW_ID = 2_147_483_647  # SQL ``integer``

# the words for each kind of object, in the errors
_WORDS: dict[type, tuple[str, str]] = {
    Application: ("申请", "application"),
    Community: ("社区（村）", "community"),
    Dwelling: ("住所", "dwelling"),
    Household: ("户", "household"),
    MoveInPermit: ("准予迁入证明", "move-in permit"),
    MoveOutProcedure: ("迁出程序", "procedure"),
    Person: ("人员", "person"),
    ResidencePermit: ("居住证", "residence permit"),
    ResidenceRegistration: ("居住登记", "residence registration"),
    StationNotice: ("迁出通知", "notice"),
}


def county_of_person(s: Session, person: Person) -> str | None:
    """The county of the household the person's hukou is in now (None: not registered)."""
    county = s.execute(
        select(Household.county)
        .join(Membership, Membership.household_id == Household.id)
        .where(Membership.person_id == person.id, Membership.end_date.is_(None))
    ).scalar_one_or_none()
    return county


class Named:
    """The resolver of one write: ``named.household(id)`` and the like load the row (404
    naming the field when there is none) and refuse it (403 naming the field) when it lies
    outside the actor's jurisdiction. Nothing is written before every name is resolved,
    because every write method resolves first and writes after, in one transaction."""

    def __init__(self, s: Session, actor: Actor) -> None:
        self.s = s
        self.actor = actor

    def _load(self, model: type[T], row_id: int | None, field: str) -> T:
        zh, en = _WORDS[model]
        # row ids are SQL integers: one beyond them names nothing (PostgreSQL would refuse
        # the query itself)
        known = row_id is not None and 1 <= row_id <= MAX_ROW_ID
        found = self.s.get(model, row_id) if known else None
        if found is None:
            raise NotFound(f"无此{zh}", f"no such {en}", field)
        return found

    def authorise(self, county: str | None, field: str, what: type) -> None:
        """The one jurisdiction rule for a named object."""
        if self.actor.role == "admin":
            return
        if (
            self.actor.role == "officer"
            and county is not None
            and county == self.actor.jurisdiction
        ):
            return
        zh, en = _WORDS[what]
        raise Forbidden(
            f"所指{zh}不在本辖区，不能办理", f"the {en} named is outside your jurisdiction", field
        )

    def household(self, row_id: int | None, field: str = "household_id") -> Household:
        h = self._load(Household, row_id, field)
        self.authorise(h.county, field, Household)
        if h.dissolved_on is not None:
            raise NotFound("该户已注销", "that household was dissolved", field)
        return h

    def dwelling(self, row_id: int | None, field: str = "dwelling_id") -> Dwelling:
        d = self._load(Dwelling, row_id, field)
        self.authorise(d.county, field, Dwelling)
        return d

    def community(self, row_id: int | None, field: str = "community_id") -> Community:
        c = self._load(Community, row_id, field)
        self.authorise(c.county, field, Community)
        return c

    def person(self, row_id: int | None, field: str = "person_id") -> Person:
        p = self._load(Person, row_id, field)
        self.authorise(county_of_person(self.s, p), field, Person)
        return p

    def application(self, row_id: int | None, field: str = "application_id") -> Application:
        a = self._load(Application, row_id, field)
        self.authorise(a.county, field, Application)
        return a

    def procedure(self, row_id: int | None, field: str = "procedure_id") -> MoveOutProcedure:
        p = self._load(MoveOutProcedure, row_id, field)
        self.authorise(p.county, field, MoveOutProcedure)
        return p

    def permit(self, row_id: int | None, field: str = "permit_id") -> MoveInPermit:
        p = self._load(MoveInPermit, row_id, field)
        self.authorise(p.county, field, MoveInPermit)
        return p

    def notice(self, row_id: int | None, field: str = "notice_id") -> StationNotice:
        n = self._load(StationNotice, row_id, field)
        self.authorise(n.county, field, StationNotice)
        return n

    def residence_registration(
        self, row_id: int | None, field: str = "registration_id", *, lock: bool = False
    ) -> ResidenceRegistration:
        r = self._load(ResidenceRegistration, row_id, field)
        self.authorise(r.county, field, ResidenceRegistration)
        if lock:
            self.hold_person(r.person_id)
            self.s.refresh(r)  # as the holder of the person left it
        return r

    def residence_permit(
        self, row_id: int | None, field: str = "residence_permit_id", *, lock: bool = False
    ) -> ResidencePermit:
        p = self._load(ResidencePermit, row_id, field)
        self.authorise(p.county, field, ResidencePermit)
        if lock:
            self.hold_person(p.person_id)
            self.s.refresh(p)
        return p

    def resident(
        self, id_number: str | None, field: str = "id_number", *, lock: bool = False
    ) -> tuple[str, Person | None]:
        """A person named by ID number in a residence write: the number checked (GB 11643,
        422 naming the field) and the register's person, if any (held, with ``lock``). No
        county rule here: the caller authorises the county of the record it writes
        (``authorise``)."""
        try:
            number = check_id_number(str(id_number or ""))
        except ValueError as exc:
            zh, _, en = str(exc).partition(" / ")
            raise RegistryError(zh, en or zh, field) from None
        person = self.s.execute(
            select(Person).where(Person.id_number == number)
        ).scalar_one_or_none()
        if person is not None and lock:
            self.hold_person(person.id)
            self.s.refresh(person)  # as the last holder left it
        return number, person

    def hold_person(self, person_id: int) -> None:
        """Hold the person's row (``SELECT … FOR UPDATE``) until the write commits.

        Every write that reads where a person's hukou is, or which residence registration
        or permit they hold, and writes on that reading — a residence write, a settlement's
        move (``Registry._move``) — holds the person first. Two such writes on one person
        then run one after the other, and the second reads what the first committed: a
        settlement and a residence registration in its area at once cannot both pass.

        SQLite renders no ``FOR UPDATE``, and its driver begins a transaction at the first
        write only: there a no-op update of the row takes the database's write lock now, so
        what the write reads after it is what the last writer committed, and no other
        writer commits before this one does."""
        if self.s.get_bind().dialect.name == "sqlite":
            self.s.execute(
                update(Person)
                .where(Person.id == person_id)
                .values(id=Person.id)
                .execution_options(synchronize_session=False)
            )
            return
        self.s.execute(select(Person.id).where(Person.id == person_id).with_for_update())


OPEN_STATES = ("draft", "submitted", "under_review", "approved")


def household_reach(s: Session, actor: Actor, household: Household) -> set[int] | None:
    """What of a household ``actor`` may read: ``None`` — all of it; a set — only those
    members (person ids). An officer reads the households of their county; a household
    elsewhere only through an open application of their own station that names one of its
    members (by ID number), and then only the members it names. A keeper reads their own
    community's collective household; an analyst reads none. Raises ``Forbidden``."""
    if actor.role == "admin":
        return None
    if actor.role == "keeper":
        if household.kind == "community_collective" and str(household.community_id) == str(
            actor.jurisdiction
        ):
            return None
        raise Forbidden("仅限本社区公共集体户", "only your community's collective household")
    if actor.role != "officer":
        raise Forbidden("分析人员只能查看汇总数据", "analysts see aggregates only")
    if household.county == actor.jurisdiction:
        return None
    members = {
        p.id_number: p.id
        for p in s.execute(
            select(Person)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.household_id == household.id, Membership.end_date.is_(None))
        ).scalars()
    }
    named: set[int] = set()
    apps = s.execute(
        select(Application.facts).where(
            Application.county == actor.jurisdiction, Application.state.in_(OPEN_STATES)
        )
    ).scalars()
    for facts in apps:
        people = [facts.get("applicant") or {}, *(facts.get("relatives") or [])]
        for person in people:
            number = str(person.get("id_number") or "").upper()
            if number in members:
                named.add(members[number])
    if not named:
        raise Forbidden(
            "该户不在本辖区", "that household is outside your jurisdiction", "household_id"
        )
    return named
