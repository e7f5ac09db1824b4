"""Issue 11, structurally: ``Registry`` loads the objects a request names only through
``scope.Named`` (loaded, then authorised against the actor's jurisdiction, in the write's
transaction). A direct ``session.get(Model, id)`` of a named kind is allowed only where it
follows an object already resolved through ``Named`` — the household of a membership whose
person was resolved, the dwelling of a resolved procedure — and each such place is listed
below, with the reason it is safe.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hukou.registry.permits as permits_module
import hukou.registry.service as service_module

SERVICE = Path(service_module.__file__)
PERMITS = Path(permits_module.__file__)  # the residence operations mixed into Registry
SOURCES = (SERVICE, PERMITS)
CLASSES = ("Registry", "ResidenceOffice")

# the kinds ``scope.Named`` resolves -> its function for each
NAMED_KINDS = {
    "Application": "application",
    "Community": "community",
    "Dwelling": "dwelling",
    "Household": "household",
    "MoveInPermit": "permit",
    "MoveOutProcedure": "procedure",
    "Person": "person",
    "ResidencePermit": "residence_permit",
    "ResidenceRegistration": "residence_registration",
    "StationNotice": "notice",
}

# (Registry method, model) -> why the direct load is legitimate
ALLOWED: dict[tuple[str, str], str] = {
    ("_move", "Household"): (
        "the household of the person's open membership (the person was resolved by the "
        "caller: Named.person, a resolved procedure, or a registration's identity check); "
        "it only tells the sending county, and a move out of another county without a "
        "registration is refused there through Named.authorise"
    ),
    ("attach_to_community", "Household"): (
        "the household of the open membership of the person resolved by Named.person: the "
        "person's county *is* this household's county, already authorised"
    ),
    ("attach_to_community", "Dwelling"): (
        "the dwelling of that (authorised) household; a family household is established on "
        "a dwelling of its own county"
    ),
    ("_move_to_community_collective", "Dwelling"): (
        "the dwelling of the procedure resolved by Named.procedure in move_out_step "
        "(the procedure's county is its dwelling's county, set at request_move_out)"
    ),
    ("_move_to_community_collective", "Person"): (
        "the person of that resolved procedure; _move refuses (Named.authorise) a person "
        "whose hukou has since moved to another county"
    ),
    ("apply_on_registration", "Person"): (
        "permits.py: the person of the registration resolved by Named.residence_registration "
        "(authorised, its person held) in the same transaction"
    ),
    ("_person_of", "Person"): (
        "permits.py: the person of a residence permit resolved by Named.residence_permit, "
        "read only (the case the rules decide at review)"
    ),
    ("permit_case", "Dwelling"): (
        "permits.py: the dwelling of the person's open residence registration in the "
        "permit's county (resolved by Named.dwelling when it was registered), read only"
    ),
}


def _model_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # models.Household
        return node.attr
    return None


def direct_loads(source: str) -> dict[tuple[str, str], list[int]]:
    """(function, model) -> the lines of ``<anything>.get(Model, ...)`` with ``Model`` a named
    kind: in each method of ``Registry`` (nested functions count as their method's) and in
    each module-level function."""
    tree = ast.parse(source)
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append(node)
        elif isinstance(node, ast.ClassDef) and node.name in CLASSES:
            functions += [
                f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
    found: dict[tuple[str, str], list[int]] = {}
    for function in functions:
        for call in ast.walk(function):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "get"
                and call.args
            ):
                continue
            model = _model_name(call.args[0])
            if model in NAMED_KINDS:
                found.setdefault((function.name, model), []).append(call.lineno)
    return found


def test_the_scanner_finds_a_direct_load() -> None:
    """The scanner itself: a method loading a named kind directly is found, under its name."""
    source = (
        "class Registry:\n"
        "    def register(self, s, household_id):\n"
        "        def inner():\n"
        "            return s.get(models.Household, household_id)\n"
        "        return s.get(Dwelling, 1), s.get(User, 2), {}.get('x')\n"
    )
    assert direct_loads(source) == {
        ("register", "Household"): [4],
        ("register", "Dwelling"): [5],
    }


def _found() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for source in SOURCES:
        found.update(direct_loads(source.read_text(encoding="utf-8")))
    return found


def test_named_objects_are_loaded_only_through_scope_named() -> None:
    found = _found()
    unlisted = sorted(set(found) - set(ALLOWED))
    assert not unlisted, "\n".join(
        f"line {found[key][0]}: Registry.{key[0]} loads a {key[1]} directly "
        f"(session.get({key[1]}, …)). Resolve it through scope.Named "
        f"(Named(s, actor).{NAMED_KINDS[key[1]]}(row_id, field)) so that it is "
        "authorised in the write's transaction — or, if it follows an object already "
        "resolved through Named, add it to ALLOWED with the reason."
        for key in unlisted
    )


def test_the_allow_list_has_no_stale_entries() -> None:
    stale = sorted(set(ALLOWED) - set(_found()))
    assert not stale, f"no longer in {[p.name for p in SOURCES]}; remove from ALLOWED: {stale}"
