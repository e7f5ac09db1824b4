"""A decision's explanation and its family, as pages show them: explaining, not alarming.

* **The explanation tree** (``explanation``), from ``engine.report.trace_json``: one
  language (the page's); a node without a text of its own (the "one of the list" node
  of a rule over the relatives or the dwellings) is not shown empty: alone, its
  children take its place; among several, it is named ("亲属1", "relative 2"). An
  exception that did not fire is "不适用" / "not applicable" in a neutral colour, without
  the subtree of why (it changed nothing), unless its rule failed: then why it did not
  save the rule is part of the answer.
* **The family** (``relative_view``): the relative the applicant joins (the anchor, the
  adult child of §3.1 or the talent of §3.3) is shown as the person joined, not as a
  relative who "may not come"; a route whose relation test fails (§3.1 "a parent joins
  the applicant" for a spouse or a child) cannot apply to that relative and is not listed.
"""

from __future__ import annotations

from typing import Any

from hukou.engine.decide import ChannelResult, Decision, RelativeResult
from hukou.engine.evaluate import Trace, truth
from hukou.policy.facts import field_label
from hukou.service.web import i18n

# the nodes of a route that test the relative's relation alone: false, the route cannot
# apply to this relative (policy/rules/s3_relatives.py)
RELATION_TESTS = ("is_parent", "joiner_relation")


def explanation(root: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The trace (``trace_json``) as view nodes: mark, css, clause, text, notes, children."""
    return _nodes([root], lang, None)


def _nodes(nodes: list[dict[str, Any]], lang: str, parent: bool | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in nodes:
        text = n.get("text") or {}
        said = (text.get("zh") if lang == "zh" else text.get("en") or text.get("zh")) or ""
        if not said:
            children = n.get("children") or []
            if len(nodes) == 1 or not n.get("key"):
                out += _nodes(children, lang, parent)  # alone: its children take its place
                continue
            said = field_label(str(n["key"]), lang)
        out.append(_node(n, said, lang, parent))
    return out


def _node(n: dict[str, Any], said: str, lang: str, parent: bool | None) -> dict[str, Any]:
    value = n.get("value")
    children = n.get("children") or []
    view: dict[str, Any] = {
        "clause": n.get("clause") or "",
        "text": said,
        "notes": [],
        "children": [],
    }
    if n.get("kind") == "exception":
        if value is False:
            # did not fire: it changed nothing (its rule held, or failed on its own)
            view.update(css="t-na", mark="–", status=i18n.t("explain.na", lang))
            if parent is not False:
                return view
        elif value is True:
            view.update(css="t-true", mark="✔", status=i18n.t("explain.applies", lang))
        else:
            view.update(css="t-null", mark="?", status=i18n.t("status.undetermined", lang))
    else:
        css, mark = (
            ("t-true", "✔")
            if value is True
            else ("t-false", "✘")
            if value is False
            else ("t-null", "?")
        )
        view.update(css=css, mark=mark, status="")
    if n.get("earliest_date"):
        view["notes"].append(i18n.t("result.from", lang, date=n["earliest_date"]))
    if n.get("until"):
        view["notes"].append(i18n.t("result.until", lang, date=n["until"]))
    view["children"] = _nodes(children, lang, value)
    return view


def route_applies(route: ChannelResult) -> bool:
    """False when the route's relation test fails: it cannot apply to this relative."""
    stack = [route.explanation]
    while stack:
        node = stack.pop()
        if node.key in RELATION_TESTS and node.kind == "condition":
            yes, no = node.sets
            return bool(yes) or not no  # never true, and false: not this relation
        stack.extend(node.children)
    return True


def is_anchor(r: RelativeResult, d: Decision) -> bool:
    """The relative the applicant joins, or may join while no channel is eligible and the
    one that joins a relative is still open (and who does not come along themselves)."""
    if r.status == "eligible":
        return False
    if r.anchor_of:
        return True
    if d.status == "eligible":  # the applicant settles by the first eligible channel
        return False
    path = f"relatives[{r.index}]"
    day = d.decision_date.toordinal()
    for c in d.channels:
        place = c.registration_place
        if c.status == "undetermined" and place is not None and place.kind == "anchor_household":
            detail = place.detail or ""
            if detail == path or detail.startswith((path + ".", path + "[")):
                return True
            if not detail and _may_hold_for(c.explanation, path, day):
                return True  # the channel's "one of the relatives" is open for this one
    return False


def _may_hold_for(trace: Trace, path: str, day: int) -> bool:
    """The rule's item for the relative at ``path`` is not false on the decision day."""
    stack = [trace]
    while stack:
        node = stack.pop()
        if node.kind == "item" and node.key == path:
            return truth(node.sets, day) is not False
        stack.extend(node.children)
    return False
