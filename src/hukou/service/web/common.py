"""Rendering, language and the bilingual error page shared by every page."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hukou.policy.facts import field_label
from hukou.policy.rules import CHANNELS
from hukou.registry.access import Actor
from hukou.registry.service import Registry
from hukou.service.web import i18n
from hukou.service.web.security import LANG_COOKIE, csrf_secret, csrf_token, session_actor

HERE = Path(__file__).parent
env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def page_lang(request: Request) -> str:
    """zh-CN unless the ``lang`` query parameter or cookie says English."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    forced = getattr(request.state, "lang", None)
    lang = forced or asked
    return lang if lang in i18n.LANGS else "zh"


_KINDS = {c.key: (c.clause, c.zh, c.en) for c in CHANNELS}


def kind_label(kind: str, lang: str) -> str:
    """An application's kind as its clause and channel title."""
    found = _KINDS.get(kind)
    if found is None:
        return kind
    clause, zh, en = found
    return f"{clause} {zh if lang == 'zh' else en}"


def registry_of(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


# the staff's pages: their footer does not carry the self-check's disclaimer
STAFF_PATHS = ("/officer", "/keeper", "/analyst", "/login")


def is_staff_page(path: str) -> bool:
    return path.startswith(STAFF_PATHS)


_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def one_lang(text: str | None, lang: str) -> str:
    """A stored bilingual note ("中文 / English", as the register writes its own notes) in
    the page's language only; any other text as it is."""
    if not text:
        return ""
    zh, sep, en = text.rpartition(" / ")
    if not sep or not _CJK.search(zh) or _CJK.search(en):
        return text
    return zh if lang == "zh" else en


def render(
    request: Request,
    template: str,
    status: int = 200,
    lang: str | None = None,
    *,
    anonymous: bool = False,
    **context: Any,
) -> HTMLResponse:
    """``anonymous``: no look-up of the browser's session (the 500 page: the register may
    be what failed)."""
    lang = lang or page_lang(request)
    actor: Actor | None = context.pop("actor", None)
    if actor is None and not anonymous:
        actor = session_actor(request)
    path = request.url.path
    html = env.get_template(template).render(
        lang=lang,
        html_lang=i18n.HTML_LANG[lang],
        other_lang="en" if lang == "zh" else "zh",
        t=partial(i18n.t, lang=lang),
        county=partial(i18n.county, lang=lang),
        kind_label=partial(kind_label, lang=lang),
        one_lang=partial(one_lang, lang=lang),
        field_label=partial(field_label, lang=lang),
        csrf=csrf_token(request, csrf_secret(request)),
        actor=actor,
        path=path,
        staff_page=is_staff_page(path),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if lang != request.cookies.get(LANG_COOKIE, "zh"):
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", secure=True, httponly=True)
    return response


def error_page(
    request: Request,
    status: int,
    zh: str,
    en: str,
    *,
    heading: str = "error.heading",
    anonymous: bool = False,
) -> HTMLResponse:
    """A refusal in both languages (the page's language first); ``heading``: the i18n key
    of its title (404: "page not found", 422, 500)."""
    lang = page_lang(request)
    first, second = (zh, en) if lang == "zh" else (en, zh)
    return render(
        request,
        "error.html",
        status=status,
        anonymous=anonymous,
        message=first,
        other=second,
        heading=heading,
    )
