"""Operations on the register (户籍业务): each one transaction, checked, audited.

Every method takes the acting user (``Actor``), checks role and jurisdiction,
refuses a transition from the wrong state, refuses a stale update (optimistic
versions), writes an audit record for every row it changes, and commits all of
it or nothing.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

import hukou
from hukou.engine.decide import ChannelResult, decide
from hukou.engine.report import decision_json
from hukou.policy.facts import (
    CONTROL_MESSAGE,
    Case,
    InputError,
    bad_text,
    check_id_number,
    id_birth_date,
    id_sex,
    parse_case,
)
from hukou.policy.params import ParameterSet, load
from hukou.policy.places import in_jiaxing
from hukou.registry import audit, logmask, moves, s5_2, sessions, throttle
from hukou.registry.access import (
    SYSTEM,
    Actor,
    SecuritySettings,
    check_password,
    hash_password,
    pause_like_a_hash,
)
from hukou.registry.clock import Clock, SystemClock
from hukou.registry.errors import (
    Busy,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    RegistryError,
)
from hukou.registry.keys import KeyRing, chain_exists
from hukou.registry.models import (
    APPLICATION_KINDS,
    HOUSEHOLD_KINDS,
    JOB_KINDS,
    OPEN_APPLICATION_STATES,
    PLACEMENT_REASONS,
    ROLES,
    TENURES,
    Application,
    ApplicationEvent,
    Community,
    DocumentReceived,
    Dwelling,
    Household,
    Job,
    LoginThrottle,
    MaterialWaiver,
    Membership,
    MoveInPermit,
    MoveOutProcedure,
    Person,
    StationNotice,
    User,
    UserSession,
)
from hukou.registry.permits import ResidenceOffice, settlement_facts
from hukou.registry.scope import Named

T = TypeVar("T")

# one answer for every refused log-in: unknown user, wrong password, throttled, disabled
LOGIN_REFUSED = (
    "用户名或密码错误，或尝试过于频繁，请稍后再试",
    "wrong username or password, or too many attempts; try again later",
)
USER_FIELDS = ("username", "role", "jurisdiction", "failed_logins", "locked_at", "disabled_at")
log = logging.getLogger(__name__)

# Application lifecycle: (state, action) -> new state. Anything else is refused.
APPLICATION_TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "submit"): "submitted",
    ("submitted", "review"): "under_review",
    ("under_review", "approve"): "approved",
    ("under_review", "reject"): "rejected",
    ("approved", "register"): "registered",
    ("draft", "withdraw"): "withdrawn",
    ("submitted", "withdraw"): "withdrawn",
    ("under_review", "withdraw"): "withdrawn",
}

# §4.5 move-out procedure: (state, action) -> new state.
MOVE_OUT_TRANSITIONS: dict[tuple[str, str], str] = {
    ("requested", "notify"): "notified",  # 通知当事人迁出户口
    ("requested", "unreachable"): "public_notice",  # 无法通知：公示
    ("notified", "moved_out"): "moved_out",  # 当事人自行迁出
    ("notified", "refused"): "public_notice",  # 拒不迁出：告知或公示
    ("public_notice", "moved_out"): "moved_out",
    ("public_notice", "move_ex_officio"): "moved_ex_officio",  # 依职权迁至公共集体户
    ("requested", "withdraw"): "withdrawn",
    ("notified", "withdraw"): "withdrawn",
    ("public_notice", "withdraw"): "withdrawn",
}

# §5.2: the person's relation to the head of the household they join, from the guardian's
S5_2_RELATION = {"father": "子女", "mother": "子女", "adopter": "养子女", "spouse": "配偶"}

APP_FIELDS = (
    "reference",
    "kind",
    "state",
    "county",
    "decided_on",
    "rule_version",
    "approved_relatives",
    "target_household_id",
    "reasons",
    "register_conflicts",
    "version",
)
HOUSEHOLD_FIELDS = (
    "number",
    "kind",
    "county",
    "dwelling_id",
    "community_id",
    "unit_name",
    "keeper_user_id",
    "established_on",
    "dissolved_on",
    "version",
)
MEMBERSHIP_FIELDS = (
    "person_id",
    "household_id",
    "relation_to_head",
    "start_date",
    "end_date",
    "reason_in",
    "reason_out",
)
PERMIT_FIELDS = (
    "number",
    "application_id",
    "county",
    "origin_county",
    "persons",
    "state",
    "issued_on",
    "valid_until",
    "closed_on",
    "version",
)
NOTICE_FIELDS = (
    "kind",
    "county",
    "from_county",
    "person_id",
    "closed_membership_id",
    "closed_registration_id",
    "to_household_id",
    "application_id",
    "moved_on",
    "state",
    "acknowledged_on",
    "version",
)
# §4.3 the decision's place -> the kinds of household that are that place
PLACE_HOUSEHOLD_KINDS = {
    "own_dwelling": ("family",),
    "anchor_household": HOUSEHOLD_KINDS,
    "relative_family_household": ("family",),
    "unit_collective": ("unit_collective",),
    "talent_service_collective": ("talent_service_collective",),
    "community_collective": ("community_collective",),
}
MOVE_OUT_FIELDS = (
    "reference",
    "state",
    "county",
    "dwelling_id",
    "person_id",
    "requester_role",
    "requested_on",
    "notified_on",
    "notice_from",
    "notice_until",
    "closed_on",
    "target_household_id",
    "version",
)


def _reference(prefix: str, day: dt.date) -> str:
    """受理编号: the day and 40 random bits (with 24 bits, two of 2,400 applications taken on
    one day shared a number about once in six days; with 40, about once in 1,000 years)."""
    return f"{prefix}-{day:%Y%m%d}-{secrets.token_hex(5).upper()}"


class _Sealer:
    """A thread that seals this process's committed audit records soon after their commit,
    in batches, so that no request waits for it: the service's workers and the benchmark's
    clients use it (``Registry(background_seal=True)``). It waits for a sealer at work in
    another process (the lock), then takes whatever is left. ``stop`` (also at exit) seals
    the rest."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.due = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="hukou-audit-sealer", daemon=True)
        self.thread.start()
        atexit.register(self.stop)

    def poke(self) -> None:
        self.due.set()

    def _run(self) -> None:
        while True:
            self.due.wait()
            if self.stopping:
                return
            self.due.clear()
            try:
                self.registry.seal_audit(wait=True)
            except SQLAlchemyError:  # the records stay unsealed: try again shortly
                log.warning("audit sealing failed; retrying", exc_info=True)
                time.sleep(1)
                self.due.set()

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.due.set()
        self.thread.join(timeout=30)
        try:
            self.registry.seal_audit(wait=True)
        except SQLAlchemyError:
            log.warning("audit records left unsealed at exit", exc_info=True)


def current_members(s: Session, household_id: int) -> list[tuple[Person, Membership]]:
    """The people in a household now (open memberships), in the order they joined."""
    rows = s.execute(
        select(Person, Membership)
        .join(Membership)
        .where(Membership.household_id == household_id, Membership.end_date.is_(None))
        .order_by(Membership.id)
    ).all()
    return [(p, m) for p, m in rows]


class Registry(ResidenceOffice):
    def __init__(
        self,
        factory: sessionmaker[Session],
        clock: Clock | None = None,
        parameters: ParameterSet | None = None,
        *,
        background_seal: bool = False,
        keys: KeyRing | None = None,
        security: SecuritySettings | None = None,
    ):
        logmask.install()  # whoever opens the register logs no personal data
        self.factory = factory
        # the signing and audit keys live outside the database (``registry.keys``)
        bind = factory.kw["bind"]
        self.keys = keys or KeyRing.for_database(str(bind.url), bind)
        if self.keys.has_chain is None:
            # never new keys for a register that has an audit chain (``keys.chain_exists``)
            self.keys.has_chain = partial(chain_exists, bind)
        self.security = security or SecuritySettings.from_env()
        self.clock = clock or SystemClock()
        self.parameters = parameters or load()
        self._sealer = _Sealer(self) if background_seal else None

    def close(self) -> None:
        """Stop the background sealer, sealing what is left (a no-op without one)."""
        if self._sealer is not None:
            self._sealer.stop()

    # ---- plumbing ------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One transaction; database-level conflicts become clear, bilingual errors.

        Its audit records are inserted unsealed just before the commit, in the same
        transaction; once committed, they are sealed into the chain (``audit.seal``)."""
        # the key first, outside the transaction: a missing key file is refused before
        # anything is written (``keys``), and never looked for from inside one
        key = self.keys.audit
        try:
            with self.factory() as session, session.begin():
                session.info["audit"] = []
                yield session
                audited = bool(session.info["audit"])
                audit.insert(session, session.info.pop("audit"), key)
        except StaleDataError:
            raise Conflict(
                "记录已被他人修改，请刷新后重试",
                "the record was changed by someone else; reload and retry",
            ) from None
        except IntegrityError as exc:
            raise _integrity(exc) from None
        if audited:
            if self._sealer is not None:
                self._sealer.poke()
            else:
                self.seal_audit(wait=False)

    def seal_audit(self, wait: bool = True) -> int:
        """Chain the committed unsealed audit records the service wrote (their tag verifies
        with ``keys.audit``; see ``audit.seal``); rows written by anything else stay out of
        the chain, for ``verify_audit`` to name. After a request
        (without a background sealer) it does not wait for a sealer already at work: that
        one, or the next request's, takes the records it has not seen. A failure here loses nothing: the
        records stay unsealed, for the next sealer."""
        total = 0
        while True:
            try:
                with self.factory() as session, session.begin():
                    n = audit.seal(session, self.keys.audit, wait=wait)
            except SQLAlchemyError:
                if wait:
                    raise
                # the change itself is committed: its caller must not see a failure
                log.warning("audit records left unsealed for the next sealer", exc_info=True)
                return total
            total += n
            if n < audit.SEAL_BATCH:
                return total

    def _audit(
        self,
        s: Session,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: object,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Queue an audit record; ``_tx`` inserts the queue, unsealed, just before commit."""
        s.info["audit"].append(
            {
                "actor": actor.username,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "before": before,
                "after": after,
                "at": self.clock.now(),
            }
        )

    def audit_event(
        self,
        actor: Actor | str,
        action: str,
        entity: str,
        entity_id: object = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record a read or a security event (a case viewed, a notice printed, an ID number
        looked up, a login, a failure, a throttled attempt …) in the audit trail, in a
        transaction of its own. ``detail`` goes in the record's ``after``; it must not
        carry an ID number or a name in clear."""
        who = actor.username if isinstance(actor, Actor) else actor
        with self._tx() as s:
            self._audit(s, Actor(None, who, "system"), action, entity, entity_id, None, detail)

    def read(self, fn: Callable[[Session], T]) -> T:
        with self.factory() as session:
            return fn(session)

    # ---- users ---------------------------------------------------------------
    def add_user(
        self, actor: Actor, username: str, password: str, role: str, jurisdiction: str | None = None
    ) -> int:
        actor.require_role("admin")
        if role not in ROLES:
            raise RegistryError("角色无效", f"role must be one of {', '.join(ROLES)}", "role")
        if role == "officer" and (jurisdiction is None or not in_jiaxing(jurisdiction)):
            raise RegistryError(
                "民警的辖区须为嘉兴市的县级代码",
                "an officer's jurisdiction is a Jiaxing county code",
                "jurisdiction",
            )
        _check_password_rule(password)
        with self._tx() as s:
            user = User(
                username=username,
                password_hash=hash_password(password),
                role=role,
                jurisdiction=jurisdiction,
            )
            s.add(user)
            s.flush()
            self._audit(
                s,
                actor,
                "user.add",
                "user",
                user.id,
                None,
                {"username": username, "role": role, "jurisdiction": jurisdiction},
            )
            return user.id

    def login(self, username: str, password: str, address: str = "local") -> Actor:
        """Check a log-in (``address``: the client's, for throttling); see ``login_session``."""
        return self.login_session(username, password, address, None)[0]

    def login_session(
        self, username: str, password: str, address: str, kind: str | None
    ) -> tuple[Actor, str | None]:
        """Check a log-in and, when ``kind`` is given (``page``, ``api``), open a session in
        the same transaction that confirms it: a password reset, a disable or a lock
        committed while the password was being checked wins, and no session is opened.

        Every refusal is the same 403 with the same words — unknown user, wrong password,
        throttled, disabled or locked — and takes the time of one password hash, so a
        refusal tells an attacker nothing; the audit trail records which it was. Attempts
        are reserved before the password is checked (``registry.throttle``), so concurrent
        guesses cannot pass the limit. When every hashing slot stays busy (a flood) the
        answer is 503, and nothing is counted against the account."""
        st = self.security
        now = self.clock.now()
        refused = Forbidden(*LOGIN_REFUSED, "password")
        if not username or len(username) > 64 or any(ord(c) < 32 or c == "\x7f" for c in username):
            # no account is called that (and a NUL must not reach PostgreSQL or the audit)
            pause_like_a_hash()
            raise refused
        acct = throttle.account_key(username, address)
        addr = throttle.address_key(address)
        held = throttle.reserve(self.factory, addr, st.free_per_address, now, st)
        if held is None:
            held = throttle.reserve(self.factory, acct, st.free_per_account, now, st)
        if held is not None:
            pause_like_a_hash()  # the same time as a real check, without its CPU
            self.audit_event(
                self._login_name(username),
                "login.throttled",
                "user",
                "",
                {"address": address, "until": held},
            )
            raise refused
        with self.factory() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        stored = user.password_hash if user else None
        ok = check_password(stored, password, st.hash_wait)
        if ok is None:  # no hashing slot in time: not the caller's failure
            with self.factory() as s, s.begin():
                throttle.give_back(s, acct)
                throttle.give_back(s, addr)
            raise Busy()
        with self._tx() as s:
            if user is not None:  # again, locked: what changed while the hash ran wins
                user = s.execute(
                    select(User).where(User.id == user.id).with_for_update()
                ).scalar_one_or_none()
            why = (
                "unknown_user"
                if user is None
                else "disabled"
                if user.disabled_at is not None
                else "locked"
                if user.locked_at is not None
                else "password_changed"
                if ok and user.password_hash != stored
                else None
                if ok
                else "wrong_password"
            )
            if user is not None and why is None:
                throttle.clear(s, acct)
                throttle.give_back(s, addr)
                user.failed_logins = 0
                actor = Actor(user.id, user.username, user.role, user.jurisdiction)
                token = (
                    sessions.start(s, user.id, kind, now, self.keys.signing, st)
                    if kind is not None
                    else None
                )
                detail = {"address": address, "session": kind}
                self._audit(s, actor, "login.success", "user", user.id, None, detail)
                return actor, token
            self._audit(
                s,
                Actor(None, self._login_name(username, user is not None), "system"),
                "login.failed",
                "user",
                user.id if user else "",
                None,
                {"address": address, "reason": why},
            )
            if user is not None and why == "wrong_password":
                failures = s.execute(
                    update(User)
                    .where(User.id == user.id)
                    .values(failed_logins=User.failed_logins + 1)
                    .returning(User.failed_logins)
                ).scalar_one()
                if failures >= st.hard_lock_after:
                    s.execute(update(User).where(User.id == user.id).values(locked_at=now))
                    ended = sessions.end_all(s, user.id, now, "locked")
                    self._audit(
                        s,
                        SYSTEM,
                        "account.locked",
                        "user",
                        user.id,
                        None,
                        {"failures": failures, "sessions_ended": ended},
                    )
        raise refused

    def _login_name(self, username: str, known: bool | None = None) -> str:
        """The name a log-in event is recorded under: the account's, or — for a name no
        account has (a password typed in the wrong box, say) — a keyed digest of it, so the
        audit trail never keeps what was typed."""
        if known is None:
            with self.factory() as s:
                known = (
                    s.execute(select(User.id).where(User.username == username)).first() is not None
                )
        if known:
            return username
        digest = hmac.new(self.keys.signing, username.encode(), hashlib.sha256).hexdigest()
        return f"?{digest[:16]}"

    # ---- sessions ------------------------------------------------------------
    def open_session(self, actor: Actor, kind: str = "api") -> str:
        """A new session for a user who has just logged in; returns its token."""
        if actor.user_id is None or kind not in sessions.SESSION_KINDS:
            raise Forbidden("无法建立会话", "no session for this actor")
        with self.factory() as s, s.begin():
            return sessions.start(
                s, actor.user_id, kind, self.clock.now(), self.keys.signing, self.security
            )

    def session_actor(self, token: str, kind: str = "api") -> Actor | None:
        """The user a session token of ``kind`` stands for now, or None
        (``registry.sessions``)."""
        with self.factory() as s, s.begin():
            return sessions.resolve(
                s, token, self.clock.now(), self.keys.signing, self.security, kind
            )

    def logout(self, token: str) -> None:
        """Log out: end every session of the token's user (all their browsers and tokens)."""
        with self._tx() as s:
            uid = sessions.user_of(s, token, self.keys.signing, self.clock.now())
            if uid is None:
                return
            ended = sessions.end_all(s, uid, self.clock.now(), "logout")
            user = s.get(User, uid)
            who = Actor(uid, user.username if user else "?", "system")
            self._audit(s, who, "logout", "user", uid, None, {"sessions_ended": ended})

    def end_all_sessions(self, actor: Actor, reason: str) -> int:
        """End every session of every user (``hukou keys rotate``)."""
        actor.require_role("admin")
        with self._tx() as s:
            ended = sessions.end_all(s, None, self.clock.now(), reason)
            self._audit(s, actor, "sessions.end_all", "user", "*", None, {"reason": reason})
            return ended

    # ---- user administration (``hukou users …``) --------------------------------
    def list_users(self, actor: Actor) -> list[dict[str, Any]]:
        actor.require_role("admin")

        def query(s: Session) -> list[dict[str, Any]]:
            open_sessions = dict(
                s.execute(
                    select(UserSession.user_id, func.count())
                    .where(UserSession.ended_at.is_(None))
                    .group_by(UserSession.user_id)
                ).all()
            )
            return [
                {
                    "id": u.id,
                    "username": u.username,
                    "role": u.role,
                    "jurisdiction": u.jurisdiction,
                    "disabled": u.disabled_at is not None,
                    "locked": u.locked_at is not None,
                    "failed_logins": u.failed_logins,
                    "sessions": open_sessions.get(u.id, 0),
                    "created_at": u.created_at,
                }
                for u in s.execute(select(User).order_by(User.id)).scalars()
            ]

        rows = self.read(query)
        self.audit_event(actor, "users.list", "user", "*", {"count": len(rows)})
        return rows

    def _user_named(self, s: Session, username: str) -> User:
        user = s.execute(
            select(User).where(User.username == username).with_for_update()
        ).scalar_one_or_none()
        if user is None:
            raise NotFound("无此用户", "no such user", "username")
        return user

    def change_user(self, actor: Actor, username: str, action: str) -> None:
        """``disable`` (and end their sessions), ``enable``, ``unlock`` (lift the hard lock,
        forget the failures)."""
        actor.require_role("admin")
        if action not in ("disable", "enable", "unlock"):
            raise RegistryError("操作无效", "action must be disable, enable or unlock", "action")
        now = self.clock.now()
        with self._tx() as s:
            user = self._user_named(s, username)
            before = audit.snapshot(user, USER_FIELDS)
            if action == "disable":
                user.disabled_at = user.disabled_at or now
                sessions.end_all(s, user.id, now, "disabled")
            elif action == "enable":
                user.disabled_at = None
            else:
                user.locked_at = None
                user.failed_logins = 0
                s.execute(
                    delete(LoginThrottle).where(
                        LoginThrottle.key.startswith(
                            throttle.account_key(username, ""), autoescape=True
                        )
                    )
                )
            s.flush()
            self._audit(
                s,
                actor,
                f"user.{action}",
                "user",
                user.id,
                before,
                audit.snapshot(user, USER_FIELDS),
            )

    def reset_password(self, actor: Actor, username: str, password: str) -> None:
        """A new password; every session of the user ends."""
        actor.require_role("admin")
        _check_password_rule(password)
        with self._tx() as s:
            user = self._user_named(s, username)
            user.password_hash = hash_password(password)
            user.failed_logins = 0
            ended = sessions.end_all(s, user.id, self.clock.now(), "password_reset")
            self._audit(
                s, actor, "user.reset_password", "user", user.id, None, {"sessions_ended": ended}
            )

    # ---- places --------------------------------------------------------------
    def add_community(
        self,
        actor: Actor,
        county: str,
        township: str,
        name: str,
        urban_rural_code: str,
        kind: str = "community",
        keeper_user_id: int | None = None,
    ) -> tuple[int, int]:
        """A community or village, with its public collective household (§4.1)."""
        actor.require_role("admin", "officer")
        if actor.role == "officer":
            actor.require_officer(county)
        with self._tx() as s:
            community = Community(
                county=county,
                township=township,
                name=name,
                kind=kind,
                urban_rural_code=urban_rural_code,
            )
            s.add(community)
            s.flush()
            household = Household(
                number=self._household_number(s, county),
                kind="community_collective",
                county=county,
                community_id=community.id,
                keeper_user_id=keeper_user_id,
                established_on=self.clock.today(),
            )
            s.add(household)
            s.flush()
            self._audit(
                s,
                actor,
                "community.add",
                "community",
                community.id,
                None,
                {"county": county, "township": township, "name": name, "kind": kind},
            )
            self._audit(
                s,
                actor,
                "household.establish",
                "household",
                household.id,
                None,
                audit.snapshot(household, HOUSEHOLD_FIELDS),
            )
            return community.id, household.id

    def add_dwelling(
        self,
        actor: Actor,
        county: str,
        address: str,
        urban_rural_code: str,
        tenure: str,
        **details: Any,
    ) -> int:
        """A dwelling (``details``: ``commercial_housing``, ``community_id``,
        ``owner_person_id``, ``certificate_no`` — see ``_new_dwelling``)."""
        if actor.role != "admin":
            actor.require_officer(county)
        with self._tx() as s:
            return self._new_dwelling(
                s, actor, county, address, urban_rural_code, tenure, **details
            ).id

    def _new_dwelling(
        self,
        s: Session,
        actor: Actor,
        county: str,
        address: str,
        urban_rural_code: str,
        tenure: str,
        *,
        commercial_housing: bool = True,
        community_id: int | None = None,
        owner_person_id: int | None = None,
        certificate_no: str | None = None,
    ) -> Dwelling:
        """A dwelling, in the caller's transaction; its community and owner are resolved and
        authorised like every named object, and the community must lie in its county."""
        named = Named(s, actor)
        named.authorise(county, "county", Dwelling)
        if tenure not in TENURES:
            raise RegistryError("权属无效", f"tenure is one of {', '.join(TENURES)}", "tenure")
        if not address.strip():
            raise RegistryError("须填写住所地址", "the address is required", "address")
        if community_id is not None:
            community = named.community(community_id)
            if community.county != county:
                raise RegistryError(
                    "社区（村）不在该住所所在县（市、区）",
                    "the community is not in the dwelling's county",
                    "community_id",
                )
        if owner_person_id is not None:
            named.person(owner_person_id, "owner_person_id")
        d = Dwelling(
            county=county,
            address=address,
            urban_rural_code=urban_rural_code,
            tenure=tenure,
            commercial_housing=commercial_housing,
            community_id=community_id,
            owner_person_id=owner_person_id,
            certificate_no=certificate_no,
        )
        s.add(d)
        s.flush()
        self._audit(
            s,
            actor,
            "dwelling.add",
            "dwelling",
            d.id,
            None,
            {"county": county, "address": address, "tenure": tenure, "community_id": community_id},
        )
        return d

    def _household_number(self, s: Session, county: str) -> str:
        """户号: the county code and ten random digits (unique by constraint)."""
        return f"{county}{secrets.randbelow(10**10):010d}"

    def establish_household(
        self,
        actor: Actor,
        kind: str,
        county: str,
        *,
        dwelling_id: int | None = None,
        unit_name: str | None = None,
    ) -> int:
        """A new household; a family household needs a dwelling holding no other (一房一户)."""
        if kind not in HOUSEHOLD_KINDS or kind == "community_collective":
            raise RegistryError("户别无效", "invalid kind of household", "kind")
        if actor.role != "admin":
            actor.require_officer(county)
        with self._tx() as s:
            if dwelling_id is not None:
                dwelling = Named(s, actor).dwelling(dwelling_id)
                if dwelling.county != county:
                    raise RegistryError(
                        "住所不在该县（市、区）",
                        "the dwelling is not in that county",
                        "dwelling_id",
                    )
            h = Household(
                number=self._household_number(s, county),
                kind=kind,
                county=county,
                dwelling_id=dwelling_id,
                unit_name=unit_name,
                established_on=self.clock.today(),
            )
            s.add(h)
            s.flush()
            self._audit(
                s,
                actor,
                "household.establish",
                "household",
                h.id,
                None,
                audit.snapshot(h, HOUSEHOLD_FIELDS),
            )
            return h.id

    # ---- persons -------------------------------------------------------------
    def _person(self, s: Session, id_number: str, name: str, actor: Actor) -> Person:
        try:
            number = check_id_number(id_number)
        except ValueError as exc:
            zh, _, en = str(exc).partition(" / ")
            raise RegistryError(zh, en or zh, "id_number") from None
        person = s.execute(select(Person).where(Person.id_number == number)).scalar_one_or_none()
        if person is None:
            person = self._add_person(
                s, actor, number, name, id_sex(number).value, id_birth_date(number)
            )
        return person

    def _add_person(
        self,
        s: Session,
        actor: Actor,
        number: str,
        name: str,
        sex: str,
        birth_date: dt.date,
        **noted: str,
    ) -> Person:
        """A new person in the register, audited (``noted``: more to record, a clause)."""
        name = unicodedata.normalize("NFC", name)  # facts kept before NFC was theirs too
        person = Person(id_number=number, name=name, sex=sex, birth_date=birth_date)
        s.add(person)
        s.flush()
        self._audit(
            s,
            actor,
            "person.add",
            "person",
            person.id,
            None,
            {"id_number": number, "name": name, **noted},
        )
        return person

    # ---- applications --------------------------------------------------------
    def create_application(
        self,
        actor: Actor,
        kind: str,
        county: str,
        facts: dict[str, Any],
        *,
        self_service: bool = False,
    ) -> Application:
        """Take an application (受理): the facts are checked now and kept as given.

        The applicant and relatives are matched against the register by ID number: a name
        or birth date that differs is refused, naming the field. A self-service application
        (``self_service``: the citizen's page) is taken all the same and the differences
        are flagged on the case for the officer only, so that the citizen's page never
        reveals what the register holds; approval and registration refuse it until the
        facts agree.

        The residence facts of a person the register holds a residence registration of are
        the register's (``permits.settlement_facts``): the typed ones that disagree are kept
        in ``register_conflicts`` (for the officer only; compared again on submission,
        review and decision), and approval and rejection decide on the register's.

        One open application per applicant's ID number, city-wide: a second one, taken by
        an officer or online, in any county, is refused (409) without a word about the
        first (``_make_room``; the partial unique index settles a race). One exception:
        an application taken in person (an officer saw the ID card) supersedes an open
        self-service one that no officer has handled yet (``_supersedable``), which is
        withdrawn in the same transaction, saying so: anyone at the self-service page can
        type a stranger's number, and must not keep that person from their own station."""
        actor.require_officer(county)
        if kind not in APPLICATION_KINDS:
            raise RegistryError(
                "申请类别无效", f"kind must be one of {', '.join(APPLICATION_KINDS)}", "kind"
            )
        bad = bad_text(facts, "facts")  # kept as given: no NUL or control character in them
        if bad is not None:
            zh, _, en = CONTROL_MESSAGE.partition(" / ")
            raise RegistryError(zh, en, bad)
        # ... and in NFC, every string of them (keys too), as the checks below read them:
        # one spelling of a name in the facts, the persons made from them and the trail
        facts = nfc(facts)
        if kind in s5_2.KINDS:
            # §5.2: no ID number yet (or one to restore); the facts are the case's own
            facts = s5_2.parse(kind, facts, self.clock.today()).model_dump(mode="json")
            id_number, name = s5_2.applicant(kind, facts)
            number_field = (
                "facts.former_id_number" if kind == "s5_2_no_hukou" else "facts.former.id_number"
            )
        else:
            try:
                case = parse_case(facts)
            except InputError as exc:
                p = exc.problems[0]
                raise RegistryError(p["zh"], p["en"], f"facts.{p['field']}") from None
            if case.applicant.id_number is None or not case.applicant.name:
                raise RegistryError(
                    "受理申请须有申请人身份证号码和姓名",
                    "an application needs the applicant's ID number and name",
                    "facts.applicant.id_number",
                )
            id_number, name = case.applicant.id_number, case.applicant.name
            number_field = "facts.applicant.id_number"
        id_number = id_number.strip().upper()
        with self._tx() as s:
            problems = moves.identity_problems(s, facts) if kind not in s5_2.KINDS else []
            if not self_service:
                moves.refuse_identity(problems)
            superseded = self._make_room(s, actor, id_number, number_field, self_service)
            conflicts = (
                settlement_facts(s, facts, self.clock.today())[1]
                if kind not in s5_2.KINDS
                else None
            )
            app = Application(
                reference=_reference("HK", self.clock.today()),
                kind=kind,
                state="draft",
                county=county,
                applicant_id_number=id_number,
                applicant_name=name,
                facts=facts,
                identity_flags=problems or None,
                register_conflicts=conflicts,
                created_by=actor.user_id,
                created_at=self.clock.now(),  # the queue's "taken on", on the register's clock
            )
            s.add(app)
            try:
                s.flush()
            except IntegrityError as exc:
                # another transaction took one for this number after our check: one wins
                if _OPEN_INDEX in str(exc.orig) or "applications.applicant_id_number" in str(
                    exc.orig
                ):
                    raise _second_open(number_field) from None
                raise
            s.add(
                ApplicationEvent(
                    application_id=app.id,
                    from_state=None,
                    to_state="draft",
                    actor_id=actor.user_id,
                    at=self.clock.now(),
                )
            )
            if superseded is not None:
                old, before = superseded
                self._audit(
                    s,
                    actor,
                    "application.withdraw",
                    "application",
                    old.id,
                    before,
                    {
                        **audit.snapshot(old, APP_FIELDS),
                        "reason": SUPERSEDED_REASON,
                        "superseded_by": app.id,
                    },
                )
            self._audit(
                s,
                actor,
                "application.create",
                "application",
                app.id,
                None,
                audit.snapshot(app, APP_FIELDS),
            )
            return app

    def _make_room(
        self, s: Session, actor: Actor, id_number: str, field: str, self_service: bool
    ) -> tuple[Application, dict[str, Any]] | None:
        """Before ``create_application`` inserts: at most one open application per
        applicant's ID number. The open one found is refused (409, ``_second_open``),
        unless this application is taken in person and that one is a self-service
        application no officer has handled (``_supersedable``): then it is withdrawn here,
        in the same transaction, its event saying why; returned with its audit snapshot
        from before, for the caller to audit once the new one has its id.

        A race: on PostgreSQL the open row is locked (FOR UPDATE), so a second station
        waits, then finds it withdrawn and meets the first's new application in the
        partial unique index (409); SQLite has no row lock, but the second's withdrawal
        then finds the row's version changed (409 too)."""
        if not id_number:  # §5.2 without a number yet: nothing to compare
            return None
        stmt = (
            select(Application)
            .where(
                Application.applicant_id_number == id_number,
                Application.state.in_(OPEN_APPLICATION_STATES),
            )
            .limit(1)
        )
        if not self_service:
            stmt = stmt.with_for_update()
        found = s.execute(stmt).scalars().first()
        if found is None:
            return None
        if self_service or not _supersedable(s, found):
            raise _second_open(field)
        before = audit.snapshot(found, APP_FIELDS)
        old_state = found.state
        found.state = APPLICATION_TRANSITIONS[(old_state, "withdraw")]
        s.add(
            ApplicationEvent(
                application_id=found.id,
                from_state=old_state,
                to_state=found.state,
                actor_id=actor.user_id,
                at=self.clock.now(),
                note=SUPERSEDED_NOTE,
            )
        )
        try:
            s.flush()
        except StaleDataError:
            # changed since it was read (no row lock on SQLite): another station superseded
            # it first, or an officer took a step on it; either way it is not ours to take
            raise _second_open(field) from None
        return found, before

    def _transition(
        self, s: Session, actor: Actor, app: Application, action: str, note: str | None = None
    ) -> None:
        new = APPLICATION_TRANSITIONS.get((app.state, action))
        if new is None:
            raise InvalidTransition(
                f"申请状态为「{app.state}」，不能{action}",
                f"an application in state {app.state} cannot take the step {action!r}",
                "state",
            )
        before = audit.snapshot(app, APP_FIELDS)
        old = app.state
        app.state = new
        s.add(
            ApplicationEvent(
                application_id=app.id,
                from_state=old,
                to_state=new,
                actor_id=actor.user_id,
                at=self.clock.now(),
                note=note,
            )
        )
        s.flush()
        self._audit(
            s,
            actor,
            f"application.{action}",
            "application",
            app.id,
            before,
            audit.snapshot(app, APP_FIELDS),
        )

    def _load_app(self, s: Session, app_id: int, version: int | None, actor: Actor) -> Application:
        """The application a step is about: only an officer of its county takes a step."""
        actor.require_role("officer")
        app = Named(s, actor).application(app_id)
        if version is not None and app.version != version:
            raise Conflict(
                "申请已被他人修改，请刷新后重试",
                "the application was changed by someone else; reload and retry",
                "version",
            )
        return app

    def act(
        self,
        actor: Actor,
        app_id: int,
        action: str,
        version: int | None = None,
        note: str | None = None,
    ) -> Application:
        """submit, review or withdraw an application."""
        if action not in ("submit", "review", "withdraw"):
            raise RegistryError("操作无效", "unknown action", "action")
        with self._tx() as s:
            app = self._load_app(s, app_id, version, actor)
            if action != "withdraw" and app.kind not in s5_2.KINDS:
                # submitted or taken up: compared with the register as it is today (facts
                # a later version of the case model no longer reads are compared when
                # decided, which refuses them naming the field)
                with suppress(InputError):
                    self._register_case(s, app, self.clock.today())
            self._transition(s, actor, app, action, note)
            return app

    @staticmethod
    def _register_case(s: Session, app: Application, day: dt.date, *, keep: bool = True) -> Case:
        """The case an application is decided on: its facts (as typed, kept as they are)
        with the residence facts of every person the register holds a residence
        registration of replaced by the register's on ``day`` (``permits.settlement_facts``).
        With ``keep``, the typed facts that disagree are kept on the application
        (``register_conflicts``, audited with the step that writes it)."""
        facts, conflicts = settlement_facts(s, app.facts, day)
        if keep and conflicts != app.register_conflicts:
            app.register_conflicts = conflicts
        return parse_case(facts)

    def approve(self, actor: Actor, app_id: int, version: int | None = None) -> Application:
        """准予落户: decided now by the engine; refused unless the channel applied for is eligible."""
        with self._tx() as s:
            app = self._load_app(s, app_id, version, actor)
            today = self.clock.today()
            if app.kind in s5_2.KINDS:
                self._approve_s5_2(s, actor, app, today)
                return app
            if (app.state, "approve") not in APPLICATION_TRANSITIONS:
                self._transition(s, actor, app, "approve")  # refused, naming the state
            case = self._register_case(s, app, today)
            decision = decide(case, on=today, parameters=self.parameters)
            channel = next((c for c in decision.channels if c.key == app.kind), None)
            if channel is None or channel.status != "eligible":
                status = channel.status if channel else decision.status
                raise InvalidTransition(
                    f"按{app.kind}审查结论为「{status}」，不能准予落户",
                    f"the decision under {app.kind} is {status}; it cannot be approved",
                    "kind",
                )
            moves.refuse_identity(moves.identity_problems(s, app.facts))
            report = decision_json(decision)
            # made on the register's residence facts: what was typed otherwise, beside it
            report["register_conflicts"] = app.register_conflicts
            app.decision = report
            app.decided_on = today
            v = decision.rule_version
            app.rule_version = f"{v.ruleset}/{v.code}/{v.parameters_as_of}/{v.digest}"
            route = {"s1_1": "accompany_s1_1"}.get(app.kind)
            app.approved_relatives = [
                r.index
                for r in decision.relatives
                if route and any(x.key == route and x.status == "eligible" for x in r.routes)
            ]
            found = moves.movers(s, app.facts, self._paths(app))
            moves.require_known_origins(found)
            # the facts hold: now the papers (every required material received or waived)
            self._materials_settled(s, actor, app, _channel_materials(channel))
            self._transition(s, actor, app, "approve")
            self._issue_permit(s, actor, app, found, today)
            return app

    @staticmethod
    def _paths(app: Application) -> list[str]:
        """The case paths of everyone an approved application registers."""
        return ["applicant"] + [f"relatives[{i}]" for i in app.approved_relatives or []]

    def _issue_permit(
        self, s: Session, actor: Actor, app: Application, found: list[moves.Mover], day: dt.date
    ) -> MoveInPermit | None:
        """准予迁入证明 for the people whose hukou comes from outside Zhejiang (None when
        everyone moves within the province: no permit is used there)."""
        outside = [m for m in found if m.scope == "other_province"]
        if not outside:
            return None
        end = moves.permit_validity(day, self.parameters.at(day))  # Civil Code art. 203
        permit = MoveInPermit(
            number=moves.permit_number(app.county, day),
            application_id=app.id,
            county=app.county,
            origin_county=outside[0].from_county or "",
            persons=[m.path for m in outside],
            state="issued",
            issued_on=day,
            valid_until=end.last_day,
            note=moves.period_note(end),
        )
        s.add(permit)
        s.flush()
        self._audit(
            s,
            actor,
            "permit.issue",
            "move_in_permit",
            permit.id,
            None,
            audit.snapshot(permit, PERMIT_FIELDS),
        )
        return permit

    def _approve_s5_2(self, s: Session, actor: Actor, app: Application, today: dt.date) -> None:
        """§5.2: approved once every material of the category is received (or waived, with
        the reason) and the register holds no hukou for this person already (see
        ``s5_2.checks``)."""
        if app.state != "under_review":  # the transition table says so too; checked first
            self._transition(s, actor, app, "approve")
        settled = self._materials_settled(s, actor, app, self._required_materials(s, app, today))
        waived = {w["material"] for w in settled["waived"]}
        app.decision = s5_2.checks(s, app.kind, app.facts, set(settled["received"]) | waived)
        for m in app.decision["materials"]:
            if m["key"] in waived:
                m["received"], m["waived"] = False, True
        app.decided_on = today
        app.rule_version = f"§5.2/{hukou.__version__}"
        app.approved_relatives = []
        self._transition(s, actor, app, "approve")

    # ---- materials before approval -------------------------------------------------
    def _required_materials(
        self, s: Session, app: Application, today: dt.date
    ) -> list[dict[str, Any]]:
        """The materials an application needs: §5.2, the category's list; any other kind,
        the list of the channel applied for — as decided (once approved or rejected), else
        as the engine decides it today. ``key`` is what a receipt or a waiver names."""
        if app.kind in s5_2.KINDS:
            return [
                {"key": m.key, "zh": m.zh, "en": m.en, "clause": "§5.2", "if_applicable": False}
                for m in s5_2.materials(app.kind, app.facts)
            ]
        if app.decision and app.state not in MATERIAL_STATES:
            channel = next(
                (c for c in app.decision.get("channels", []) if c["key"] == app.kind), None
            )
            return [
                {
                    "key": m["zh"],
                    "zh": m["zh"],
                    "en": m["en"],
                    "clause": m["clause"],
                    "if_applicable": bool(m.get("if_applicable")),
                }
                for m in (channel or {}).get("materials", [])
            ]
        case = self._register_case(s, app, today, keep=False)
        decision = decide(case, on=today, parameters=self.parameters)
        found = next((c for c in decision.channels if c.key == app.kind), None)
        return _channel_materials(found) if found is not None else []

    def _materials_settled(
        self, s: Session, actor: Actor, app: Application, required: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Approval's rule: every required material received, or waived with a reason
        (``waive_material``) — an item listed "if applicable" too: the officer receives it
        or waives it saying why it does not apply. Raises naming the missing ones;
        otherwise audits what the approval rests on (in the approval's transaction)."""
        received = set(
            s.execute(
                select(DocumentReceived.material).where(DocumentReceived.application_id == app.id)
            ).scalars()
        )
        waivers = {
            w.material: w
            for w in s.execute(
                select(MaterialWaiver).where(MaterialWaiver.application_id == app.id)
            ).scalars()
        }
        missing = [m for m in required if m["key"] not in received and m["key"] not in waivers]
        if missing:
            raise InvalidTransition(
                "材料不全，不能准予落户："
                + "、".join(m["zh"] for m in missing)
                + "（每项须收取，或注明理由免交）",
                "materials missing, so it cannot be approved: "
                + "; ".join(m["en"] for m in missing)
                + " (receive each, or waive it giving the reason)",
                "materials",
            )
        settled: dict[str, Any] = {
            "received": sorted(m["key"] for m in required if m["key"] in received),
            "waived": [
                {"material": m["key"], "reason": waivers[m["key"]].reason}
                for m in required
                if m["key"] not in received
            ],
        }
        self._audit(s, actor, "application.materials_settled", "application", app.id, None, settled)
        return settled

    def waive_material(
        self,
        actor: Actor,
        app_id: int,
        material: str,
        reason: str,
        version: int | None = None,
    ) -> int:
        """材料免交: waive one required material of an application, giving the reason
        (audited; one waiver per material). Refused for a material the application does
        not need, one received already, or one waived already; only while the application
        is still open to materials (draft, submitted, under review)."""
        reason = (reason or "").strip()
        if not reason:
            raise RegistryError("免交材料须说明理由", "a waiver needs its reason", "reason")
        if len(reason) > WAIVER_REASON_MAX:
            raise RegistryError(
                f"理由过长（至多{WAIVER_REASON_MAX}字）",
                f"the reason is too long (at most {WAIVER_REASON_MAX:,} characters)",
                "reason",
            )
        if bad_text(reason) is not None:
            zh, _, en = CONTROL_MESSAGE.partition(" / ")
            raise RegistryError(zh, en, "reason")
        with self._tx() as s:
            app = self._load_app(s, app_id, version, actor)
            if app.state not in MATERIAL_STATES:
                raise InvalidTransition(
                    f"申请状态为「{app.state}」，不能再免交材料",
                    f"an application in state {app.state} takes no more waivers",
                    "state",
                )
            required = {m["key"]: m for m in self._required_materials(s, app, self.clock.today())}
            if material not in required:
                raise RegistryError(
                    "本申请无须此材料",
                    "this application does not need that material; it needs: "
                    + "; ".join(m["en"] for m in required.values()),
                    "material",
                )
            received = s.execute(
                select(DocumentReceived.id).where(
                    DocumentReceived.application_id == app.id,
                    DocumentReceived.material == material,
                )
            ).first()
            if received is not None:
                raise Conflict(
                    "该材料已收取，无须免交",
                    "that material has been received; it needs no waiver",
                    "material",
                )
            waived = s.execute(
                select(MaterialWaiver.id).where(
                    MaterialWaiver.application_id == app.id, MaterialWaiver.material == material
                )
            ).first()
            if waived is not None:
                raise Conflict("该材料已免交", "that material is waived already", "material")
            waiver = MaterialWaiver(
                application_id=app.id,
                material=material,
                clause=required[material]["clause"],
                reason=reason,
                waived_on=self.clock.today(),
                waived_by=actor.user_id,
            )
            s.add(waiver)
            try:
                s.flush()
            except IntegrityError:  # another officer waived it at the same moment
                raise Conflict(
                    "该材料已免交", "that material is waived already", "material"
                ) from None
            self._audit(
                s,
                actor,
                "material.waive",
                "application",
                app.id,
                None,
                {
                    "waiver_id": waiver.id,
                    "material": material,
                    "clause": waiver.clause,
                    "reason": reason,
                },
            )
            return waiver.id

    def reject(
        self, actor: Actor, app_id: int, reasons: str, version: int | None = None
    ) -> Application:
        """不予落户, with the reasons."""
        if not reasons.strip():
            raise RegistryError("不予落户须说明理由", "a rejection needs its reasons", "reasons")
        with self._tx() as s:
            app = self._load_app(s, app_id, version, actor)
            today = self.clock.today()
            if app.kind not in s5_2.KINDS:  # §5.2 has no engine decision: the reasons say it
                case = self._register_case(s, app, today)
                report = decision_json(decide(case, on=today, parameters=self.parameters))
                report["register_conflicts"] = app.register_conflicts
                app.decision = report
            app.decided_on = today
            app.reasons = reasons
            self._transition(s, actor, app, "reject", reasons)
            return app

    def register(
        self,
        actor: Actor,
        app_id: int,
        household_id: int | None = None,
        dwelling_id: int | None = None,
        version: int | None = None,
        *,
        new_dwelling: dict[str, Any] | None = None,
        placement_reason: str | None = None,
        migration_documents: list[dict[str, str]] | None = None,
    ) -> int:
        """办理落户登记: the applicant and approved relatives into one household, in one
        transaction — every check first, every write after.

        The place is an existing ``household_id`` (a relative's household, a collective
        household, the anchor's household), a ``dwelling_id`` on which a new family
        household is established (一房一户 is the database's), or ``new_dwelling`` (its
        address, urban–rural code, tenure, community), recorded and used in the same
        transaction. Each is resolved and authorised (``scope.Named``).

        §4.3: the place must be the approved decision's registration place; an officer who
        must place the people elsewhere gives a ``placement_reason`` (``PLACEMENT_REASONS``),
        audited beside the engine's answer, which the decision snapshot keeps.

        Moves: a person whose hukou the register holds in another county is moved in one
        step (within Zhejiang no 准迁证) and that station is notified; people from outside
        Zhejiang need the application's move-in permit, still valid, and each one's 户口迁移证
        number (or the one-stop move's electronic confirmation) in ``migration_documents``."""
        with self._tx() as s:
            app = self._load_app(s, app_id, version, actor)
            named = Named(s, actor)
            today = self.clock.today()
            given = [x is not None for x in (household_id, dwelling_id, new_dwelling)]
            if sum(given) != 1:
                raise RegistryError(
                    "须指定户、住所或新住所之一",
                    "give one of a household, a dwelling or a new dwelling",
                    "household_id",
                )
            if app.state != "approved":
                raise InvalidTransition(
                    f"申请状态为「{app.state}」，不能办理落户登记",
                    f"an application in state {app.state} cannot be registered",
                    "state",
                )
            # only the officer of the application's county gets here: whatever ``Named``
            # lets through lies in the application's county
            household = named.household(household_id) if household_id is not None else None
            dwelling = named.dwelling(dwelling_id) if dwelling_id is not None else None
            if app.kind in s5_2.KINDS:
                if dwelling is None and household is None:
                    dwelling = self._dwelling_from(s, actor, app, new_dwelling or {})
                target = household or self._establish_on(s, actor, dwelling, today)
                self._register_s5_2(s, actor, app, target, household is None, today)
                app.target_household_id = target.id
                self._transition(s, actor, app, "register")
                return target.id
            moves.refuse_identity(moves.identity_problems(s, app.facts))
            found = moves.movers(s, app.facts, self._paths(app))
            for m in found:
                if not m.facts.get("id_number") or not m.facts.get("name"):
                    raise RegistryError(
                        "落户人员须有身份证号码和姓名",
                        "everyone registered needs an ID number and a name",
                        f"facts.{m.path}",
                    )
            permit = self._permit_for(s, app, found, today)
            documents = (
                moves.check_migration_documents(migration_documents, permit) if permit else {}
            )
            self._check_place(s, app, household, placement_reason)
            head = household is None  # a new family household: the applicant heads it
            if household is None:
                if dwelling is None:
                    dwelling = self._dwelling_from(s, actor, app, new_dwelling or {})
                household = self._establish_on(s, actor, dwelling, today)
            if placement_reason is not None:
                self._audit(
                    s,
                    actor,
                    "registration.place_override",
                    "application",
                    app.id,
                    {"place": (self._decided_place(app) or {}).get("kind")},
                    {
                        "household_id": household.id,
                        "kind": household.kind,
                        "reason": placement_reason,
                    },
                )
            for m in found:
                relation = "户主" if head and m.path == "applicant" else "成员"
                if m.path != "applicant":
                    rel = m.facts["relation"]
                    relation = {"spouse": "配偶", "child": "子女", "parent": "父母"}[rel]
                person = m.person or self._person(s, m.facts["id_number"], m.facts["name"], actor)
                self._move(
                    s,
                    actor,
                    person,
                    household,
                    relation,
                    today,
                    f"{app.kind} {app.reference}",
                    application=app,
                    origin=m.from_county if not m.in_register else None,
                    held_in=m.from_county if m.in_register else None,
                )
            if permit is not None:
                self._use_permit(s, actor, app, permit, documents, today)
            app.target_household_id = household.id
            self._transition(s, actor, app, "register", placement_reason)
            return household.id

    def _dwelling_from(
        self, s: Session, actor: Actor, app: Application, spec: dict[str, Any]
    ) -> Dwelling:
        """A dwelling described in the registration itself (the officer page's form)."""
        community = spec.get("community_id")
        return self._new_dwelling(
            s,
            actor,
            app.county,
            str(spec.get("address") or "").strip(),
            str(spec.get("urban_rural_code") or "111"),
            str(spec.get("tenure") or "owned"),
            commercial_housing=bool(spec.get("commercial_housing", True)),
            community_id=int(community) if community is not None else None,
        )

    def _establish_on(
        self, s: Session, actor: Actor, dwelling: Dwelling | None, day: dt.date
    ) -> Household:
        assert dwelling is not None
        household = Household(
            number=self._household_number(s, dwelling.county),
            kind="family",
            county=dwelling.county,
            dwelling_id=dwelling.id,
            established_on=day,
        )
        s.add(household)
        s.flush()
        self._audit(
            s,
            actor,
            "household.establish",
            "household",
            household.id,
            None,
            audit.snapshot(household, HOUSEHOLD_FIELDS),
        )
        return household

    @staticmethod
    def _decided_place(app: Application) -> dict[str, Any] | None:
        channels = (app.decision or {}).get("channels", [])
        channel = next((c for c in channels if c.get("key") == app.kind), None)
        return (channel or {}).get("registration_place")

    def _check_place(
        self, s: Session, app: Application, household: Household | None, reason: str | None
    ) -> None:
        """§4.3: the named place must be the one the approved decision gives, unless the
        officer states why not (a reason from the fixed list). A new family household
        (``household`` None) is the place only when it is the applicant's own dwelling, in
        the decided county; an existing household when its kind is the decided one and, for
        an anchor, the joined relative's hukou is in it now."""
        if reason is not None and reason not in PLACEMENT_REASONS:
            raise RegistryError(
                "另行安置的理由须从列表中选择",
                f"the reason is one of {', '.join(PLACEMENT_REASONS)}",
                "placement_reason",
            )
        place = self._decided_place(app) or {}
        kind = place.get("kind")
        kinds = [kind] if kind else list(place.get("candidates") or [])
        detail = str(place.get("detail") or "")
        if household is None:
            named = moves.case_item(app.facts, detail) if ".dwellings[" in detail else None
            county = ((named or {}).get("address") or {}).get("county")
            matches = "own_dwelling" in kinds and county in (None, app.county)
        else:
            allowed = {k for c in kinds for k in PLACE_HOUSEHOLD_KINDS.get(c, ())}
            matches = household.kind in allowed and (
                kind != "anchor_household" or self._anchor_in(s, app, detail, household)
            )
        if not matches and reason is None:
            where = place.get("zh") or "（未定）"
            raise RegistryError(
                f"登记地点与审查结论不符（结论为：{where}）；如须另行安置，请选择理由",
                f"this is not the decision's registration place ({place.get('en') or 'open'}); "
                "to place the people elsewhere, give a reason",
                "placement_reason",
            )

    @staticmethod
    def _anchor_in(s: Session, app: Application, detail: str, household: Household) -> bool:
        """The household is the one the joined relative's hukou is in now."""
        relative = moves.case_item(app.facts, detail) if detail.startswith("relatives[") else None
        number = str((relative or {}).get("id_number") or "").upper()
        return (
            s.execute(
                select(Membership.id)
                .join(Person, Person.id == Membership.person_id)
                .where(
                    Person.id_number == number,
                    Membership.household_id == household.id,
                    Membership.end_date.is_(None),
                )
            ).first()
            is not None
        )

    def _permit_for(
        self, s: Session, app: Application, found: list[moves.Mover], day: dt.date
    ) -> MoveInPermit | None:
        """The move-in permit a registration needs (people from outside Zhejiang), checked
        usable on ``day``; None when nobody comes from outside the province."""
        if not any(m.scope == "other_province" for m in found):
            return None
        permit = s.execute(
            select(MoveInPermit).where(
                MoveInPermit.application_id == app.id, MoveInPermit.state == "issued"
            )
        ).scalar_one_or_none()
        if permit is None:
            raise InvalidTransition(
                "本申请无有效的准予迁入证明（可重新开具）",
                "this application has no valid move-in permit (a new one may be issued)",
                "permit",
            )
        if not moves.usable(permit, day):
            raise InvalidTransition(
                f"准予迁入证明 {permit.number} 已于 {permit.valid_until} 到期",
                f"move-in permit {permit.number} ran out on {permit.valid_until}",
                "permit",
            )
        return permit

    def _use_permit(
        self,
        s: Session,
        actor: Actor,
        app: Application,
        permit: MoveInPermit,
        documents: dict[str, dict[str, str]],
        day: dt.date,
    ) -> None:
        for who, doc in documents.items():
            zh, _en = moves.MIGRATION_DOCUMENT_KINDS[doc["kind"]]
            s.add(
                DocumentReceived(
                    application_id=app.id,
                    material=zh,
                    clause="§4.3",
                    received_on=day,
                    received_by=actor.user_id,
                    reference_no=doc["number"],
                )
            )
            self._audit(
                s,
                actor,
                "document.receive",
                "application",
                app.id,
                None,
                {"material": zh, "person": who, "reference_no": doc["number"]},
            )
        self._permit_transition(s, actor, permit, "use", day)

    def _permit_transition(
        self, s: Session, actor: Actor, permit: MoveInPermit, action: str, day: dt.date
    ) -> None:
        before = audit.snapshot(permit, PERMIT_FIELDS)
        permit.state = moves.transition(permit, action)
        permit.closed_on = day
        s.flush()
        self._audit(
            s,
            actor,
            f"permit.{action}",
            "move_in_permit",
            permit.id,
            before,
            audit.snapshot(permit, PERMIT_FIELDS),
        )

    def _register_s5_2(
        self,
        s: Session,
        actor: Actor,
        app: Application,
        household: Household,
        head: bool,
        day: dt.date,
    ) -> None:
        """§5.2 登记户口: the person — with the former number restored, or a new one — and
        the membership, in the caller's transaction."""
        if app.state != "approved":
            return  # the transition after this refuses it, naming the state
        facts = app.facts
        who = facts["person"]
        number = s5_2.restorable(app.kind, facts)
        person = None
        if number is not None:
            person = s.execute(
                select(Person).where(Person.id_number == number)
            ).scalar_one_or_none()
        if person is None:
            number = number or s5_2.new_id_number(
                s, household.county, dt.date.fromisoformat(who["birth_date"]), who["sex"]
            )
            person = self._add_person(
                s,
                actor,
                number,
                who["name"],
                who["sex"],
                dt.date.fromisoformat(who["birth_date"]),
                clause="§5.2",
            )
        elif person.name != unicodedata.normalize("NFC", who["name"]):
            before = {"name": person.name}
            person.name = unicodedata.normalize("NFC", who["name"])
            s.flush()
            self._audit(
                s, actor, "person.rename", "person", person.id, before, {"name": person.name}
            )
        guardian = str((facts.get("guardian") or {}).get("relation", ""))
        relation = "户主" if head else S5_2_RELATION.get(guardian, "成员")
        self._move(s, actor, person, household, relation, day, f"§5.2 {app.reference}")
        app.applicant_id_number = person.id_number

    def _move(
        self,
        s: Session,
        actor: Actor,
        person: Person,
        household: Household,
        relation: str,
        day: dt.date,
        reason: str,
        *,
        application: Application | None = None,
        origin: str | None = None,
        held_in: str | None = None,
    ) -> Membership:
        """Close the person's open membership (history is kept) and open one in ``household``.

        A membership in another county is closed only by a registration (``application``)
        of the receiving station — the one way one county's officer touches another
        county's household — and the sending station is notified in the same transaction.
        ``origin``: the county of a hukou the register does not hold (within Zhejiang, the
        sending station is told all the same). ``held_in``: for a registration, the county
        where the register held the hukou when the registration's checks read it; the open
        membership is locked (FOR UPDATE) and must still be there, else a concurrent
        registration moved the person first and this one is refused. The person is held
        first (``Named.hold_person``), as every residence write holds them."""
        Named(s, actor).hold_person(person.id)
        current = s.execute(
            select(Membership)
            .where(Membership.person_id == person.id, Membership.end_date.is_(None))
            .with_for_update()
        ).scalar_one_or_none()
        if application is not None:
            now_in = None
            if current is not None:
                now_in = s.execute(
                    select(Household.county).where(Household.id == current.household_id)
                ).scalar_one()
            if now_in != held_in:
                raise Conflict(
                    "此人户口刚被他处变动，请刷新后重试",
                    "this person's hukou was just moved by someone else; reload and retry",
                    "person_id",
                )
        sending: str | None = origin
        if current is not None:
            if current.household_id == household.id:
                raise Conflict(
                    "此人已在该户", "this person is already in that household", "household_id"
                )
            old = s.get(Household, current.household_id)
            assert old is not None
            sending = old.county
            if old.county != household.county and application is None:
                Named(s, actor).authorise(old.county, "person_id", Person)
            before = audit.snapshot(current, MEMBERSHIP_FIELDS)
            current.end_date = day
            current.reason_out = f"迁往 {household.number}"
            s.flush()
            self._audit(
                s,
                actor,
                "membership.close",
                "membership",
                current.id,
                before,
                audit.snapshot(current, MEMBERSHIP_FIELDS),
            )
        m = Membership(
            person_id=person.id,
            household_id=household.id,
            relation_to_head=relation,
            start_date=day,
            reason_in=reason[:64],
        )
        s.add(m)
        s.flush()
        self._audit(
            s,
            actor,
            "membership.open",
            "membership",
            m.id,
            None,
            audit.snapshot(m, MEMBERSHIP_FIELDS),
        )
        # the hukou is here now: a residence registration and permit in this county end
        self.settled_in(s, actor, person, household.county, day)
        if (
            application is not None
            and sending is not None
            and sending != household.county
            and sending.startswith(moves.ZHEJIANG)
        ):
            self._send_notice(
                s,
                actor,
                StationNotice(
                    county=sending,
                    from_county=household.county,
                    person_id=person.id,
                    closed_membership_id=current.id if current is not None else None,
                    to_household_id=household.id,
                    application_id=application.id,
                    moved_on=day,
                    state="pending" if in_jiaxing(sending) else "forwarded",
                ),
            )
        return m

    def _send_notice(self, s: Session, actor: Actor, notice: StationNotice) -> StationNotice:
        """A notice put in the told station's queue, in the caller's transaction (audited
        ``notice.send``): a hukou moved out (``_move``), a residence registration ended by
        another county's (``ResidenceOffice._end_registration``)."""
        s.add(notice)
        s.flush()
        self._audit(
            s,
            actor,
            "notice.send",
            "station_notice",
            notice.id,
            None,
            audit.snapshot(notice, NOTICE_FIELDS),
        )
        return notice

    def receive_document(
        self,
        actor: Actor,
        app_id: int,
        material: str,
        clause: str,
        reference_no: str | None = None,
    ) -> int:
        with self._tx() as s:
            app = self._load_app(s, app_id, None, actor)
            if app.state not in ("draft", "submitted", "under_review"):
                raise InvalidTransition(
                    f"申请状态为「{app.state}」，不再接收材料",
                    f"an application in state {app.state} takes no more documents",
                    "state",
                )
            if app.kind in s5_2.KINDS:
                known = {m.key: m for m in s5_2.materials(app.kind, app.facts)}
                if material not in known:
                    raise RegistryError(
                        "本类申请无此材料",
                        f"this kind of application takes: {', '.join(known)}",
                        "material",
                    )
                clause = "§5.2"
            doc = DocumentReceived(
                application_id=app.id,
                material=material,
                clause=clause,
                received_on=self.clock.today(),
                received_by=actor.user_id,
                reference_no=reference_no or None,
            )
            s.add(doc)
            s.flush()
            self._audit(
                s,
                actor,
                "document.receive",
                "application",
                app.id,
                None,
                {"material": material, "clause": clause, "reference_no": reference_no},
            )
            return doc.id

    def materials(self, actor: Actor, app_id: int) -> dict[str, Any]:
        """The materials an application needs and those received. §5.2: the category's list;
        other kinds: the decided channel's list, once decided."""

        def query(s: Session) -> dict[str, Any]:
            app = Named(s, actor).application(app_id)  # as reading the application itself
            docs = list(
                s.execute(
                    select(DocumentReceived)
                    .where(DocumentReceived.application_id == app.id)
                    .order_by(DocumentReceived.id)
                ).scalars()
            )
            got = {d.material for d in docs}
            waivers = list(
                s.execute(
                    select(MaterialWaiver)
                    .where(MaterialWaiver.application_id == app.id)
                    .order_by(MaterialWaiver.id)
                ).scalars()
            )
            waived = {w.material for w in waivers}
            required = self._required_materials(s, app, self.clock.today())
            for m in required:
                m["received"] = m["key"] in got
                m["waived"] = m["key"] in waived and not m["received"]
            return {
                "application_id": app.id,
                "required": required,
                # approval needs every required material received or waived
                "complete": all(m["received"] or m["waived"] for m in required),
                "received": [
                    {"material": d.material, "clause": d.clause, "received_on": str(d.received_on)}
                    for d in docs
                ],
                "waived": [
                    {
                        "material": w.material,
                        "clause": w.clause,
                        "reason": w.reason,
                        "waived_on": str(w.waived_on),
                    }
                    for w in waivers
                ],
            }

        return self.read(query)

    # ---- §4.4 attachment -----------------------------------------------------
    def attach_to_community(self, actor: Actor, person_id: int, reason: str) -> int:
        """§4.4 挂靠: a family-household member who lost the right to be registered at the
        address (expropriation, demolition, transfer, divorce, …) and has no lawful dwelling
        locally attaches to the community collective household where the hukou is now."""
        reasons = ("land_expropriation", "demolition", "ownership_transfer", "divorce", "other")
        if reason not in reasons:
            raise RegistryError(
                "挂靠原因无效", f"the reason is one of {', '.join(reasons)}", "reason"
            )
        actor.require_role("officer")
        with self._tx() as s:
            person = Named(s, actor).person(person_id)
            current = s.execute(
                select(Membership).where(
                    Membership.person_id == person.id, Membership.end_date.is_(None)
                )
            ).scalar_one()
            household = s.get(Household, current.household_id)
            assert household is not None
            if household.kind != "family" or household.dwelling_id is None:
                raise RegistryError(
                    "仅家庭户成员可挂靠（§4.4）",
                    "only a member of a family household may attach (§4.4)",
                    "person_id",
                )
            owns = s.execute(
                select(Dwelling.id).where(Dwelling.owner_person_id == person_id)
            ).first()
            if owns is not None:
                raise RegistryError(
                    "本地有合法住所的，不适用挂靠（§4.4）",
                    "a person with a lawful dwelling locally does not attach (§4.4)",
                    "person_id",
                )
            dwelling = s.get(Dwelling, household.dwelling_id)
            assert dwelling is not None
            target = s.execute(
                select(Household).where(
                    Household.kind == "community_collective",
                    Household.community_id == dwelling.community_id,
                    Household.dissolved_on.is_(None),
                )
            ).scalar_one_or_none()
            if target is None:
                raise Conflict(
                    "现户口所在地社区（村）无公共集体户（§4.1）",
                    "the community where the hukou is has no public collective household (§4.1)",
                    "community_id",
                )
            self._move(s, actor, person, target, "集体户成员", self.clock.today(), f"§4.4 {reason}")
            return target.id

    # ---- §4.5 move-out -------------------------------------------------------
    def request_move_out(
        self,
        actor: Actor,
        dwelling_id: int,
        person_id: int,
        requester_name: str,
        requester_role: str,
        property_proof: str,
    ) -> MoveOutProcedure:
        """A written request by the householder, owner or tenant, with property proof."""
        if requester_role not in ("householder", "owner", "tenant"):
            raise RegistryError(
                "申请人须为现户主、房屋权利人或承租人",
                "the requester is the householder, the owner or the tenant",
                "requester_role",
            )
        if not property_proof.strip():
            raise RegistryError(
                "须提交房屋权属证明", "the property proof is required", "property_proof"
            )
        actor.require_role("officer")
        with self._tx() as s:
            named = Named(s, actor)
            dwelling = named.dwelling(dwelling_id)
            named.person(person_id)
            registered_here = s.execute(
                select(Membership)
                .join(Household)
                .where(
                    Membership.person_id == person_id,
                    Membership.end_date.is_(None),
                    Household.dwelling_id == dwelling_id,
                )
            ).scalar_one_or_none()
            if registered_here is None:
                raise RegistryError(
                    "当事人户口不在该房屋",
                    "that person's hukou is not at this dwelling",
                    "person_id",
                )
            p = MoveOutProcedure(
                reference=_reference("QC", self.clock.today()),
                county=dwelling.county,
                dwelling_id=dwelling_id,
                person_id=person_id,
                requester_name=requester_name,
                requester_role=requester_role,
                property_proof=property_proof,
                state="requested",
                requested_on=self.clock.today(),
            )
            s.add(p)
            s.flush()
            self._audit(
                s,
                actor,
                "move_out.request",
                "move_out",
                p.id,
                None,
                audit.snapshot(p, MOVE_OUT_FIELDS),
            )
            return p

    def move_out_step(
        self,
        actor: Actor,
        procedure_id: int,
        action: str,
        version: int | None = None,
        note: str | None = None,
    ) -> MoveOutProcedure:
        """Advance a §4.5 procedure: notify, unreachable, refused, moved_out, move_ex_officio,
        withdraw. Moving ex officio is allowed only once the public notice has run out."""
        actor.require_role("officer")
        with self._tx() as s:
            p = Named(s, actor).procedure(procedure_id)
            if version is not None and p.version != version:
                raise Conflict(
                    "程序已被他人修改", "the procedure was changed by someone else", "version"
                )
            new = MOVE_OUT_TRANSITIONS.get((p.state, action))
            if new is None:
                raise InvalidTransition(
                    f"程序状态为「{p.state}」，不能执行 {action}",
                    f"a procedure in state {p.state} cannot do {action}",
                    "state",
                )
            today = self.clock.today()
            before = audit.snapshot(p, MOVE_OUT_FIELDS)
            if new == "public_notice":
                end = moves.notice_period(today, self.parameters.at(today))  # art. 203
                p.notice_from = today
                p.notice_until = end.last_day
                p.note = moves.period_note(end) or p.note
            if action == "notify":
                p.notified_on = today
            if action == "move_ex_officio":
                assert p.notice_until is not None
                if not moves.run_out(p.notice_until, today, self.parameters.at(today)):
                    raise InvalidTransition(
                        f"公示期至 {p.notice_until} 届满，届满后方可依职权迁移",
                        f"the public notice runs until {p.notice_until}; only after it may the "
                        "hukou be moved ex officio",
                        "notice_until",
                    )
                p.target_household_id = self._move_to_community_collective(s, actor, p, today)
            if new in ("moved_out", "moved_ex_officio", "withdrawn"):
                p.closed_on = today
            p.state = new
            p.note = note or p.note
            s.flush()
            self._audit(
                s,
                actor,
                f"move_out.{action}",
                "move_out",
                p.id,
                before,
                audit.snapshot(p, MOVE_OUT_FIELDS),
            )
            return p

    def _move_to_community_collective(
        self, s: Session, actor: Actor, p: MoveOutProcedure, day: dt.date
    ) -> int:
        dwelling = s.get(Dwelling, p.dwelling_id)
        assert dwelling is not None
        target = s.execute(
            select(Household).where(
                Household.kind == "community_collective",
                Household.community_id == dwelling.community_id,
                Household.dissolved_on.is_(None),
            )
        ).scalar_one_or_none()
        if target is None:
            raise Conflict(
                "该房屋所在社区无公共集体户（§4.1）",
                "the dwelling's community has no public collective household (§4.1)",
                "community_id",
            )
        person = s.get(Person, p.person_id)
        assert person is not None
        still_here = s.execute(
            select(Membership.id)
            .join(Household, Household.id == Membership.household_id)
            .where(
                Membership.person_id == person.id,
                Membership.end_date.is_(None),
                Household.dwelling_id == p.dwelling_id,
            )
        ).first()
        if still_here is None:  # moved away since the request: nothing left to move
            raise InvalidTransition(
                "当事人户口已不在该房屋，无须迁移（可撤回本程序）",
                "the person's hukou is no longer at this dwelling; nothing to move (withdraw "
                "the procedure)",
                "person_id",
            )
        self._move(s, actor, person, target, "集体户成员", day, f"§4.5 {p.reference}")
        return target.id

    def due_move_outs(self, actor: Actor, on: dt.date | None = None) -> list[MoveOutProcedure]:
        """Procedures in the actor's county whose public notice has run out (``hukou cases due``)."""
        day = on or self.clock.today()

        def query(s: Session) -> list[MoveOutProcedure]:
            stmt = select(MoveOutProcedure).where(
                MoveOutProcedure.state == "public_notice", MoveOutProcedure.notice_until < day
            )
            if actor.role != "admin":
                stmt = stmt.where(MoveOutProcedure.county == actor.jurisdiction)
            return list(s.execute(stmt.order_by(MoveOutProcedure.notice_until)).scalars())

        return self.read(query)

    # ---- moves: move-in permits and the sending station's notices ------------------
    def permit_step(
        self, actor: Actor, permit_id: int, action: str, version: int | None = None
    ) -> MoveInPermit:
        """``cancel`` a move-in permit (the applicant gives it up, or it was issued in
        error), or ``expire`` one whose last day has passed; ``use`` is registration's."""
        if action not in ("cancel", "expire"):
            raise RegistryError("操作无效", "the action is cancel or expire", "action")
        actor.require_role("officer")
        with self._tx() as s:
            permit = Named(s, actor).permit(permit_id)
            if version is not None and permit.version != version:
                raise Conflict(
                    "证明已被他人修改", "the permit was changed by someone else", "version"
                )
            today = self.clock.today()
            if action == "expire" and not moves.run_out(
                permit.valid_until, today, self.parameters.at(today)
            ):
                raise InvalidTransition(
                    f"证明有效至 {permit.valid_until}，尚未到期",
                    f"the permit is valid until {permit.valid_until}",
                    "valid_until",
                )
            self._permit_transition(s, actor, permit, action, today)
            return permit

    def reissue_permit(self, actor: Actor, app_id: int) -> MoveInPermit:
        """A new move-in permit for an application still approved whose permit expired or
        was cancelled unused (the old one stays as it was, for the record)."""
        with self._tx() as s:
            app = self._load_app(s, app_id, None, actor)
            if app.state != "approved":
                raise InvalidTransition(
                    "仅已准予、未登记的申请可重新开具准予迁入证明",
                    "only an approved, unregistered application gets a new permit",
                    "state",
                )
            today = self.clock.today()
            live = s.execute(
                select(MoveInPermit).where(
                    MoveInPermit.application_id == app.id, MoveInPermit.state == "issued"
                )
            ).scalar_one_or_none()
            if live is not None and moves.usable(live, today):
                raise Conflict(
                    f"证明 {live.number} 仍有效", f"permit {live.number} is still valid", "permit"
                )
            if live is not None:
                self._permit_transition(s, actor, live, "expire", today)
            permit = self._issue_permit(
                s, actor, app, moves.movers(s, app.facts, self._paths(app)), today
            )
            if permit is None:
                raise InvalidTransition(
                    "本申请无须准予迁入证明（省内迁移）",
                    "this application needs no move-in permit (a move within Zhejiang)",
                    "permit",
                )
            return permit

    def expire_permits(self, actor: Actor) -> list[MoveInPermit]:
        """Every permit of the actor's county (all, for an admin) whose last day has passed
        unused becomes ``expired`` (``hukou cases expire``), each audited."""
        actor.require_role("officer", "admin")
        today = self.clock.today()
        with self._tx() as s:
            stmt = select(MoveInPermit).where(
                MoveInPermit.state == "issued", MoveInPermit.valid_until < today
            )
            if actor.role == "officer":
                stmt = stmt.where(MoveInPermit.county == actor.jurisdiction)
            out = list(s.execute(stmt.order_by(MoveInPermit.id)).scalars())
            for permit in out:
                self._permit_transition(s, actor, permit, "expire", today)
            return out

    def due_permits(self, actor: Actor, on: dt.date | None = None) -> list[MoveInPermit]:
        """Unused permits that run out within the warning days, or already have
        (``hukou cases due``)."""
        day = on or self.clock.today()
        warn = self.parameters.at(day)["s4_registration.move_in_permit_warning_days"]

        def query(s: Session) -> list[MoveInPermit]:
            stmt = select(MoveInPermit).where(
                MoveInPermit.state == "issued",
                MoveInPermit.valid_until < day + dt.timedelta(days=warn),
            )
            if actor.role != "admin":
                stmt = stmt.where(MoveInPermit.county == actor.jurisdiction)
            return list(s.execute(stmt.order_by(MoveInPermit.valid_until)).scalars())

        return self.read(query)

    def acknowledge_notice(
        self, actor: Actor, notice_id: int, version: int | None = None
    ) -> StationNotice:
        """The sending station confirms it has seen that a person's hukou moved away."""
        actor.require_role("officer")
        with self._tx() as s:
            notice = Named(s, actor).notice(notice_id)
            if version is not None and notice.version != version:
                raise Conflict(
                    "通知已被他人处理", "the notice was handled by someone else", "version"
                )
            new = moves.NOTICE_TRANSITIONS.get((notice.state, "acknowledge"))
            if new is None:
                raise InvalidTransition(
                    f"通知状态为「{notice.state}」，不能确认",
                    f"a notice in state {notice.state} cannot be acknowledged",
                    "state",
                )
            before = audit.snapshot(notice, NOTICE_FIELDS)
            notice.state = new
            notice.acknowledged_on = self.clock.today()
            notice.acknowledged_by = actor.user_id
            s.flush()
            self._audit(
                s,
                actor,
                "notice.acknowledge",
                "station_notice",
                notice.id,
                before,
                audit.snapshot(notice, NOTICE_FIELDS),
            )
            return notice

    # ---- audit ---------------------------------------------------------------
    # ---- background jobs (the analyst's reform run) ------------------------------------
    def create_job(self, actor: Actor, kind: str, params: dict[str, Any]) -> str:
        """A job queued for this process's worker (``this_worker``), by an analyst or an
        admin: its random id (URL-safe, 16 characters). Audited; the parameters are kept
        with it (no personal data: a reform's name and parameter values)."""
        actor.require_role("analyst", "admin")
        if kind not in JOB_KINDS:
            raise RegistryError(
                "任务类别无效", f"kind must be one of {', '.join(JOB_KINDS)}", "kind"
            )
        if not isinstance(params, dict):
            raise RegistryError(
                "任务参数须为对象", "a job's parameters must be an object", "params"
            )
        now = _wall()
        with self._tx() as s:
            job = Job(
                id=secrets.token_urlsafe(12),
                kind=kind,
                state="queued",
                progress=0,
                stage="queued",
                params=params,
                worker=this_worker(),
                created_by=actor.user_id,
                created_at=now,
                heartbeat_at=now,
            )
            s.add(job)
            s.flush()
            self._audit(s, actor, "job.create", "job", job.id, None, _job_row(job))
            return job.id

    def _worker_job(self, s: Session, job_id: str) -> Job:
        """A job this process runs: it must exist and still be this worker's, unfinished."""
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound("无此任务", "no such job", "job_id")
        if job.worker != this_worker() or job.state not in ("queued", "running"):
            raise Conflict(
                f"任务状态为「{job.state}」，不再由本进程执行",
                f"the job is {job.state} and no longer this process's to run",
                "job_id",
            )
        return job

    def job_progress(
        self, job_id: str, progress: int, stage: str, *, state: str | None = None
    ) -> None:
        """The worker's report: the stage and an estimate of progress (per cent), which
        renews the heartbeat; ``state="running"`` when the work starts. A change of state,
        stage or progress is audited; a heartbeat alone only says the worker lives."""
        if not 0 <= progress <= 100:
            raise RegistryError("进度须在 0 至 100 之间", "progress is 0 to 100", "progress")
        if state not in (None, "running"):
            raise RegistryError("状态无效", "the worker reports state running only", "state")
        with self._tx() as s:
            job = self._worker_job(s, job_id)
            before = _job_row(job)
            now = _wall()
            job.heartbeat_at = now
            if state == "running" and job.state == "queued":
                job.state, job.started_at = "running", now
            job.stage = stage[:32]
            job.progress = max(job.progress, progress)
            s.flush()
            after = _job_row(job)
            if after != before:
                self._audit(s, SYSTEM, "job.progress", "job", job.id, before, after)

    def finish_job(
        self,
        job_id: str,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        """The worker's last word: ``done`` with the result, or ``failed`` with the reason
        (zh, en). Audited (the result itself is not copied into the audit record)."""
        if (result is None) == (error is None):
            raise RegistryError("须给出结果或失败原因之一", "give a result or an error", "result")
        with self._tx() as s:
            job = self._worker_job(s, job_id)
            before = _job_row(job)
            job.finished_at = job.heartbeat_at = _wall()
            if result is not None:
                job.state, job.progress, job.stage, job.result = "done", 100, "done", result
            else:
                assert error is not None
                job.state, job.stage = "failed", "failed"
                job.error = {"zh": error[0], "en": error[1]}
            s.flush()
            self._audit(s, SYSTEM, f"job.{job.state}", "job", job.id, before, _job_row(job))

    def job(self, actor: Actor, job_id: str) -> Job:
        """A job as it stands, for an analyst or an admin. A queued or running job whose
        worker is gone (its process died: a restart, a crash) is marked ``interrupted``
        here, audited, so that it is never shown as running forever."""
        actor.require_role("analyst", "admin")
        if not isinstance(job_id, str) or not 1 <= len(job_id) <= 24:
            raise NotFound("无此任务", "no such job", "job_id")
        found = self.read(lambda s: s.get(Job, job_id))
        if found is None:
            raise NotFound("无此任务", "no such job", "job_id")
        if found.state in ("queued", "running") and _worker_gone(found, _wall()):
            self._interrupt(job_id)
            found = self.read(lambda s: s.get(Job, job_id))
            assert found is not None
        return found

    def recent_jobs(self, actor: Actor, kind: str = "reform", limit: int = 8) -> list[Job]:
        """The actor's own latest jobs of ``kind``, newest first (a dead worker's job is
        marked interrupted first, as ``job`` does)."""
        actor.require_role("analyst", "admin")

        def query(s: Session) -> list[Job]:
            return list(
                s.execute(
                    select(Job)
                    .where(Job.kind == kind, Job.created_by == actor.user_id)
                    .order_by(Job.created_at.desc(), Job.id)
                    .limit(max(1, min(limit, 50)))
                ).scalars()
            )

        found = self.read(query)
        now = _wall()
        if any(j.state in ("queued", "running") and _worker_gone(j, now) for j in found):
            for j in found:
                if j.state in ("queued", "running") and _worker_gone(j, now):
                    self._interrupt(j.id)
            found = self.read(query)
        return found

    def interrupt_stale_jobs(self) -> int:
        """Mark every queued or running job whose worker is gone as ``interrupted`` (at
        start-up: the jobs a previous run of the service left behind). How many."""
        now = _wall()
        stale = self.read(
            lambda s: [
                j.id
                for j in s.execute(
                    select(Job).where(Job.state.in_(("queued", "running")))
                ).scalars()
                if _worker_gone(j, now)
            ]
        )
        return sum(self._interrupt(job_id) for job_id in stale)

    def _interrupt(self, job_id: str) -> bool:
        try:
            with self._tx() as s:
                job = s.get(Job, job_id)
                if job is None or job.state not in ("queued", "running"):
                    return False
                before = _job_row(job)
                job.state, job.stage, job.finished_at = "interrupted", "interrupted", _wall()
                job.error = dict(zip(("zh", "en"), JOB_INTERRUPTED, strict=True))
                s.flush()
                self._audit(s, SYSTEM, "job.interrupted", "job", job.id, before, _job_row(job))
                return True
        except Conflict:  # its worker wrote at the same moment: it lives after all
            return False

    def verify_audit(
        self,
        bound: dt.timedelta = audit.UNSEALED_BOUND,
        checkpoint: dict[str, Any] | None = None,
    ) -> list[audit.Problem]:
        """``hukou audit verify``: reads one snapshot and changes nothing (it seals nothing).
        Named: rows not written by the service, records left unsealed longer than
        ``bound``, every sealed record that does not fit the chain recomputed with the
        audit key, and, given a ``checkpoint`` taken earlier (``audit.checkpoint``), a
        chain cut back, restored from an older backup or rewritten since."""
        key = self.keys.audit
        now = self.clock.now()
        with audit.reading(self.factory.kw["bind"]) as s:
            problems = audit.foreign(s, key) + audit.overdue(s, key, now, bound)
            problems += audit.verify(s, key)
            if checkpoint is not None:
                problems += audit.verify_checkpoint(s, checkpoint)
        return problems


# the states in which materials are still received or waived (before a decision)
MATERIAL_STATES = ("draft", "submitted", "under_review")
WAIVER_REASON_MAX = 1000


def _channel_materials(channel: ChannelResult) -> list[dict[str, Any]]:
    """A decided channel's materials, keyed as receipts name them (the Chinese wording)."""
    return [
        {"key": m.zh, "zh": m.zh, "en": m.en, "clause": m.clause, "if_applicable": m.if_applicable}
        for m in channel.materials
    ]


# ---- background jobs -------------------------------------------------------------------

# a running job's heartbeat is renewed every few seconds (``JOB_HEARTBEAT`` in the
# service); one not renewed for this long belongs to a process that is gone
JOB_STALE_AFTER = dt.timedelta(seconds=60)
JOB_INTERRUPTED = (
    "任务中断：执行它的服务进程已停止（例如重启）。请重新提交。",
    "interrupted: the service process running it stopped (a restart, say). Submit it again.",
)
_WORKER = f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


def this_worker() -> str:
    """This process, as a job's ``worker``: host, process id and a token of this run (a
    restarted container may get the same process id)."""
    return _WORKER


def _wall() -> dt.datetime:
    """Real time (a job's liveness is about the process, not the register's day)."""
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def _worker_gone(job: Job, now: dt.datetime) -> bool:
    """Whether the process a queued or running job belongs to has stopped: this process
    in an earlier run, a process of this host that no longer exists, or a heartbeat not
    renewed for ``JOB_STALE_AFTER``."""
    beat = job.heartbeat_at or job.created_at
    if now - _aware(beat) > JOB_STALE_AFTER:
        return True
    host, _, rest = (job.worker or "").partition(":")
    pid, _, _token = rest.partition(":")
    if host != socket.gethostname()[:30] or not pid.isdigit():
        return False  # another host's: its heartbeat says
    if int(pid) == os.getpid():
        return job.worker != _WORKER
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's): the heartbeat says
        return False
    return False


def _job_row(job: Job) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "state": job.state,
        "stage": job.stage,
        "progress": job.progress,
        "worker": job.worker,
    }


def nfc(value: Any) -> Any:
    """A JSON-like value with every string in it — dictionary keys too — in NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {nfc(k): nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nfc(v) for v in value]
    return value


def _check_password_rule(password: str) -> None:
    if len(password) < 10:
        raise RegistryError("密码至少10位", "a password has at least 10 characters", "password")


_OPEN_INDEX = "uq_applications_open_applicant"


class SecondOpenApplication(Conflict):
    """409: the applicant's ID number has an open application already (anywhere in the city)."""


def _second_open(field: str) -> SecondOpenApplication:
    """The refusal of a second open application: it names no reference, county or name of
    the first (an officer elsewhere, or anyone at the self-service page, learns nothing of
    someone else's case from it)."""
    return SecondOpenApplication(
        "该身份证号码已有一件未办结的落户申请（全市范围）；须待其办结或撤回后方可再次受理",
        "this ID number already has an open application in the city; another one is taken "
        "only once that one is decided or withdrawn",
        field,
    )


# an application taken in person supersedes a self-service one (``Registry._make_room``):
# the withdrawal's event note and the reason in its audit record (no number, no name)
SUPERSEDED_NOTE = (
    "被窗口当面受理（已核验身份证）的申请取代 / superseded by an application taken in person "
    "(ID card seen at a station)"
)
SUPERSEDED_REASON = "superseded_in_person"
# the states in which a self-service application may still be superseded: filed, or
# submitted online by the page itself; once an officer reviews it, it holds the number
_SUPERSEDABLE_STATES = ("draft", "submitted")


def _supersedable(s: Session, app: Application) -> bool:
    """A self-service application (no officer's user took it: ``created_by`` empty) that no
    officer has handled yet: a draft, or submitted by the page itself, with no step taken
    by an officer's user and no paper received against it."""
    if app.created_by is not None or app.state not in _SUPERSEDABLE_STATES:
        return False
    by_officer = (
        select(ApplicationEvent.id)
        .where(ApplicationEvent.application_id == app.id, ApplicationEvent.actor_id.is_not(None))
        .limit(1)
    )
    papers = select(DocumentReceived.id).where(DocumentReceived.application_id == app.id).limit(1)
    return s.execute(by_officer).first() is None and s.execute(papers).first() is None


def _integrity(exc: IntegrityError) -> RegistryError:
    text = str(exc.orig)
    if "uq_households_open_dwelling" in text or "households.dwelling_id" in text:
        return Conflict(
            "该住所已有一户（一房一户，§1.2）",
            "this dwelling already holds a household (one dwelling, one household, §1.2)",
            "dwelling_id",
        )
    if "uq_households_open_community" in text or "households.community_id" in text:
        return Conflict(
            "该社区（村）已有公共集体户（§4.1）",
            "this community already has its public collective household (§4.1)",
            "community_id",
        )
    if "uq_memberships_open_person" in text or "memberships.person_id" in text:
        return Conflict(
            "此人已在另一户登记", "this person is registered in another household", "person_id"
        )
    if "username" in text:
        return Conflict("用户名已存在", "that username exists", "username")
    return Conflict("与登记簿中现有记录冲突", "conflicts with an existing record in the register")


__all__ = ["SYSTEM", "Registry"]
