"""A decision as text for a person (zh-CN first, English on request), with Rich."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from hukou.engine.decide import ChannelResult, Decision, Place, day_to_date
from hukou.engine.evaluate import POS, Trace, first_from, last_of_run, truth
from hukou.engine.report import materials_channels
from hukou.engine.scopes import display_value
from hukou.policy.calendar import age_on
from hukou.policy.facts import field_label
from hukou.policy.rules import CLAUSE_TEXTS, REGISTRATION_PLACE
from hukou.privacy import mask_id, mask_name

WORDS = {
    "zh": {
        "title": "嘉兴市落户审查结论（嘉政办发〔2020〕28号）",
        "date": "决定日期",
        "version": "规则版本",
        "applicant": "申请人",
        "eligible": "符合",
        "not_eligible": "不符合",
        "undetermined": "待定",
        "not_in_force": "不适用：本通知自2020年8月1日起施行，此前的决定不按本通知审查",
        "overall_eligible": "可以落户",
        "overall_not_eligible": "暂不符合落户条件",
        "overall_undetermined": "尚需补充信息",
        "via": "依据",
        "place": "户口登记地",
        "from": "最早可于",
        "until": "有效至",
        "missing": "需补充",
        "materials": "所需材料",
        "relatives": "家属",
        "channels": "各落户渠道",
        "why": "理由",
        "if_applicable": "（如适用）",
        "if_under": "如按{channel}落户",
        "priority": "重点群体（§4.2）",
        "reporting": "统计标记（§5.1）",
        "explanation": "审查说明",
        "male": "男",
        "female": "女",
        "age": "周岁",
        "self_only": "仅限本人",
        "spouse": "配偶",
        "child": "子女",
        "parent": "父母",
        "may_come": "可随迁/投靠",
        "may_not": "不可随迁/投靠",
        "open": "待定",
        "open_place": "待定",
        "exception": "例外",
        "applies": "适用",
        "not_applies": "不适用",
        "ongoing": "至今",
        "col_clause": "条款",
        "col_channel": "渠道",
        "col_result": "结论",
        "col_notes": "说明",
        "col_person": "亲属",
        "anchor": "被投靠人",
        "general": "通用",
        "col_routes": "途径",
    },
    "en": {
        "title": "Jiaxing settlement decision (Jiaxing notice 〔2020〕28)",
        "date": "Decision date",
        "version": "Rule version",
        "applicant": "Applicant",
        "eligible": "eligible",
        "not_eligible": "not eligible",
        "undetermined": "undetermined",
        "not_in_force": "Not applicable: the notice applies from 2020-08-01; decisions dated earlier "
        "are not made under it",
        "overall_eligible": "May settle",
        "overall_not_eligible": "Does not qualify yet",
        "overall_undetermined": "More information needed",
        "via": "under",
        "place": "Hukou registered at",
        "from": "earliest on",
        "until": "until",
        "missing": "Still needed",
        "materials": "Materials to bring",
        "relatives": "Family",
        "channels": "Channels",
        "why": "why",
        "if_applicable": " (if applicable)",
        "if_under": "if you settle under {channel}",
        "priority": "Priority groups (§4.2)",
        "reporting": "Reporting flags (§5.1)",
        "explanation": "Explanation",
        "male": "male",
        "female": "female",
        "age": "years old",
        "self_only": "self only",
        "spouse": "spouse",
        "child": "child",
        "parent": "parent",
        "may_come": "may come",
        "may_not": "may not come",
        "open": "open",
        "open_place": "open",
        "exception": "exception ",
        "applies": "applies",
        "not_applies": "does not apply",
        "ongoing": "ongoing",
        "col_clause": "clause",
        "col_channel": "channel",
        "col_result": "result",
        "col_notes": "notes",
        "col_person": "relative",
        "anchor": "joined by the applicant",
        "general": "general",
        "col_routes": "routes",
    },
}

MARK = {"eligible": "[green]✔[/]", "not_eligible": "[red]✘[/]", "undetermined": "[yellow]?[/]"}
ANCHOR_MARK = "[cyan]◎[/]"


def _label(zh: str, en: str, lang: str) -> str:
    return zh if lang == "zh" else en


def _trace_line(t: Trace, day: int, lang: str) -> Text:
    value = truth(t.sets, day)
    mark = {True: "✔", False: "✘", None: "?"}[value]
    style = {True: "green", False: "red", None: "yellow"}[value]
    text = Text()
    if t.kind == "exception":  # an exception applies, or does not
        mark = {True: "⚑", False: "·", None: "?"}[value]
        style = {True: "blue", False: "dim", None: "yellow"}[value]
        text.append(f"{mark} ", style=style)
        text.append(f"{t.clause} ", style="cyan")
        text.append(
            WORDS[lang]["exception"]
            + {
                True: WORDS[lang]["applies"],
                False: WORDS[lang]["not_applies"],
                None: WORDS[lang]["open"],
            }[value]
            + ": "
        )
        text.append(_label(t.zh, t.en, lang))
        _append_facts(text, t, lang)
        return text
    text.append(f"{mark} ", style=style)
    if t.kind == "item":
        text.append(t.key, style="bold")
        return text
    if t.kind == "option":
        text.append("→ ")
    if t.clause:
        text.append(f"{t.clause} ", style="cyan")
    text.append(_label(t.zh, t.en, lang))
    if value is True:
        end = last_of_run(t.sets[0], day)
        if end is not None and end < POS:
            text.append(f"  ({WORDS[lang]['until']} {day_to_date(end)})", style="dim")
    else:
        nxt = first_from(t.sets[0], day + 1)
        if nxt is not None and nxt < POS:
            text.append(f"  ({WORDS[lang]['from']} {day_to_date(nxt)})", style="magenta")
    _append_facts(text, t, lang)
    return text


def _append_facts(text: Text, t: Trace, lang: str) -> None:
    if t.facts:
        shown = ", ".join(
            f"{k.split('.')[-1]}={_shown(k.split('.')[-1], v, lang)}" for k, v in t.facts.items()
        )
        text.append(f"  [{shown}]", style="dim")


def _shown(name: str, value: object, lang: str) -> str:
    if value is None:
        return "?"
    shown = display_value(name, value)
    return WORDS[lang]["ongoing"] if shown is None else str(shown)


def trace_tree(t: Trace, day: int, lang: str, tree: Tree | None = None) -> Tree:
    node = Tree(_trace_line(t, day, lang)) if tree is None else tree.add(_trace_line(t, day, lang))
    for child in t.children:
        trace_tree(child, day, lang, node)
    return node


# what each registration place is called, for an open place's candidates
PLACE_LABELS: dict[str, tuple[str, str]] = {
    **{o.value: (o.zh, o.en) for o in REGISTRATION_PLACE.options},
    "anchor_household": ("被投靠人户口登记处", "the registration place of the relative joined"),
}


def _place(p: Place | None, lang: str) -> str:
    if p is None:
        return ""
    if p.kind is None:
        names = [_label(*PLACE_LABELS.get(c, (c, c)), lang) for c in p.candidates]
        sep = "、" if lang == "zh" else ", "
        return f"{_label(p.zh, p.en, lang)} ({sep.join(names)})"
    where = p.where_zh if lang == "zh" else p.where_en
    detail = f"：{where}" if where and lang == "zh" else f": {where}" if where else ""
    return f"{p.clause} {_label(p.zh, p.en, lang)}{detail}"


def _channel_row(c: ChannelResult, lang: str) -> list[Text]:
    w = WORDS[lang]
    notes = []
    if c.status == "eligible" and c.eligible_until:
        notes.append(f"{w['until']} {c.eligible_until}")
    if c.earliest_date:
        notes.append(f"{w['from']} {c.earliest_date}")
    if c.missing_facts:
        notes.append(f"{w['missing']}: " + "; ".join(field_label(f, lang) for f in c.missing_facts))
    if c.registration_place and c.status == "eligible":
        notes.append(f"{w['place']}: {_place(c.registration_place, lang)}")
    # the marks are our markup; the notes are plain Text: a note may quote the case (an
    # address), which must print as typed
    return [
        Text.from_markup(f"{MARK[c.status]} {c.clause}"),
        Text(_label(c.zh, c.en, lang) + (f" ({w['self_only']})" if c.self_only else "")),
        Text(w[c.status]),
        Text("\n".join(notes)),
    ]


def render(d: Decision, lang: str = "zh", full: bool = False) -> Group:
    w = WORDS[lang]
    day = d.decision_date.toordinal()
    a = d.case.applicant
    who = [mask_name(a.name) or "", mask_id(a.id_number) or ""]
    if a.sex:
        who.append(w[a.sex.value])
    if a.birth_date:
        who.append(
            f"{age_on(a.birth_date, d.decision_date)}{w['age']}"
            if lang == "zh"
            else f"{age_on(a.birth_date, d.decision_date)} {w['age']}"
        )
    head = Text()
    head.append(f"{w['date']}: {d.decision_date}   ")
    v = d.rule_version
    head.append(
        f"{w['version']}: {v.ruleset} · {v.code} · params {v.parameters_as_of} · {v.digest}\n",
        style="dim",
    )
    head.append(f"{w['applicant']}: {' '.join(x for x in who if x)}")
    parts: list[object] = [Panel(head, title=w["title"])]

    if d.status == "not_in_force":
        parts.append(Text(f"✘ §8 {w['not_in_force']}", style="bold red"))
        parts.append(trace_tree(d.in_force_trace, day, lang))
        return Group(*parts)  # type: ignore[arg-type]

    best = d.best
    verdict = Text(style="bold")
    verdict.append(w[f"overall_{d.status}"])
    if best:
        verdict.append(f" — {w['via']} {best.clause} {_label(best.zh, best.en, lang)}")
        verdict.append(f"\n{w['place']}: {_place(best.registration_place, lang)}")
    elif d.earliest_date:
        verdict.append(f" — {w['from']} {d.earliest_date}")
    parts.append(verdict)

    table = Table(title=w["channels"], show_lines=False, expand=False)
    for col in ("col_clause", "col_channel", "col_result", "col_notes"):
        table.add_column(w[col])
    for c in d.channels:
        table.add_row(*_channel_row(c, lang))
    parts.append(table)

    if d.relatives:
        rel = Table(title=w["relatives"])
        for col in ("col_person", "col_result", "col_routes"):
            rel.add_column(w[col])
        for r in d.relatives:
            name = mask_name(r.name) or f"#{r.index}"
            routes = []
            for x in r.routes:
                line = f"{MARK[x.status]} {x.clause} {_label(x.zh, x.en, lang)}"
                if x.earliest_date:
                    line += f" ({w['from']} {x.earliest_date})"
                if x.status == "eligible" and x.eligible_until:
                    line += f" ({w['until']} {x.eligible_until})"
                if x.missing_facts:
                    line += (
                        f" ({w['missing']}: "
                        + "; ".join(field_label(f, lang) for f in x.missing_facts)
                        + ")"
                    )
                routes.append(line)
            for zh, en in r.notes:
                routes.append(_label(zh, en, lang))
            verdict_word = {
                "eligible": w["may_come"],
                "not_eligible": w["may_not"],
                "undetermined": w["open"],
            }[r.status]
            mark = MARK[r.status]
            if r.anchor_of:
                # the applicant joins this relative: their own routes to move do not matter
                verdict_word, mark = w["anchor"], ANCHOR_MARK
                if r.status == "not_eligible":
                    routes = [_label(zh, en, lang) for zh, en in r.notes]
            rel.add_row(
                Text(f"{w[r.relation]} {name}"),  # a name: as typed (masked)
                Text.from_markup(f"{mark} {verdict_word}"),
                Text.from_markup("\n".join(routes)),  # the rules' own words and marks
            )
        parts.append(rel)

    # the papers of the channel that applies; while none does, each open channel's own list,
    # headed by the channel it is for ("--full" adds the other eligible ones, so headed too)
    shown = materials_channels(d)
    if full:
        shown += [c for c in d.channels if c.status == "eligible" and c not in shown]
    for c in shown:
        if c.materials:
            title = f"{c.clause} {_label(c.zh, c.en, lang)}"
            heading = (
                f"{w['materials']} — {w['via']} {title}"
                if c is best
                else f"{w['materials']} — {w['if_under'].format(channel=title)}"
            )
            m = Tree(Text(heading, style="bold"))
            for item in c.materials:
                m.add(
                    f"☐ {_label(item.zh, item.en, lang)}"
                    f"{w['if_applicable'] if item.if_applicable else ''}  "
                    f"[dim]{w['general'] if item.clause == 'general' else item.clause}[/]"
                )
            parts.append(m)

    flags = [p for p in d.priority_groups if p.status == "eligible"]
    if flags:
        parts.append(
            Text(f"{w['priority']}: " + "; ".join(_label(p.zh, p.en, lang) for p in flags))
        )
    marked = [f for f in d.reporting_flags if f.status == "eligible"]
    if marked and best is not None:  # counted with a settlement, so shown with one
        parts.append(
            Text(f"{w['reporting']}: " + "; ".join(_label(f.zh, f.en, lang) for f in marked))
        )

    parts.append(Text(w["explanation"], style="bold underline"))
    for c in d.channels if full else ([best] if best else d.channels):
        tree = trace_tree(c.explanation, day, lang)
        if c.clause in CLAUSE_TEXTS and full:
            tree.add(Text(CLAUSE_TEXTS[c.clause], style="italic dim"))
        parts.append(tree)
    return Group(*parts)  # type: ignore[arg-type]


def print_decision(
    d: Decision, lang: str = "zh", full: bool = False, console: Console | None = None
) -> None:
    (console or Console(emoji=False)).print(render(d, lang, full))
