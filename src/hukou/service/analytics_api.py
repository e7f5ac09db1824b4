"""``GET /api/indicators``: the §7 indicators as JSON, for analysts (and admins).

The same figures as the analyst page (``service.web.panels``): per county and period,
settlements by channel from the register, residence permits issued, and migrants
eligible but not yet settled from the batch results of the demo population. Counts
from 1 to ``suppress_below - 1`` are ``null`` (small-count suppression, as on the
page). A bad ``period``, ``from`` or ``to`` is a 422 naming the field in Chinese and
English; any role other than analyst or admin gets 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hukou.registry.access import Actor
from hukou.registry.service import Registry
from hukou.service import tokens
from hukou.service.web import panels

router = APIRouter(tags=["analytics"])


def _analyst(request: Request) -> Actor:
    """The bearer token's user (the API's login), who must be an analyst or an admin."""
    actor = tokens.bearer_actor(request)
    actor.require_role("analyst", "admin")
    return actor


@router.get(
    "/api/indicators",
    summary="§7 考核指标 / the §7 indicators per county and period",
    responses={403: {"description": "not an analyst or admin"}, 422: {"description": "bad input"}},
)
async def indicators(
    request: Request,
    actor: Annotated[Actor, Depends(_analyst)],
    period: Annotated[str, Query(description="month | quarter | year", max_length=16)] = "year",
    start: Annotated[
        str | None, Query(alias="from", description="起始日期 / from (YYYY-MM-DD)", max_length=40)
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="截止日期 / to (YYYY-MM-DD)", max_length=40)
    ] = None,
) -> JSONResponse:
    registry: Registry = request.app.state.registry
    chosen, since, until, problems = panels.parse_query(period, start, end, registry.clock.today())
    if problems:
        return JSONResponse(status_code=422, content={"errors": problems})
    k = panels.suppress_below(request.app.state)
    pop = panels.population_dir(request.app.state, registry)
    data = await run_in_threadpool(panels.indicators, registry, pop, chosen, since, until)
    body: dict[str, Any] = {
        "period": chosen,
        "from": since.isoformat() if since else None,
        "to": until.isoformat() if until else None,
        "suppress_below": k,
        "note": {
            "zh": f"1 至 {k - 1} 的计数为 null（小数抑制）",
            "en": f"counts from 1 to {k - 1} are null (small-count suppression)",
        },
        "sources": {
            "settlements": "registry",
            "permits": data.permits_source or None,
            "eligible": "batch" if data.eligible is not None else None,
        },
        "unavailable": [
            {"key": key, "zh": panels_text(key, "zh", data), "en": panels_text(key, "en", data)}
            for key in data.unavailable
        ],
        "tables": panels.api_tables(data, k),
    }
    return JSONResponse(body)


def panels_text(key: str, lang: str, data: panels.Indicators) -> str:
    from hukou.service.web import i18n

    return i18n.t(key, lang, dir=str(data.population))
