"""The analyst page's figures: the §7 indicators per county and period, and reform runs.

Everything here is an aggregate: counts per county, period, channel, age band or sex,
never a person (the analyst role's rule, README *Roles*).

* **Where the data comes from.** Settlements by channel from the register (its
  registered applications, ``analytics.indicators.settlements``); residence permits
  issued and, apart, their endorsements from the register's ``residence_permits`` and
  ``residence_permit_endorsements`` when it holds any in the window, else permits from
  the demo population's ``persons.parquet``; migrants eligible but not yet settled from the
  batch results of that population (``hukou batch --out <population>/results``). The
  population directory is ``HUKOU_POPULATION_DIR``, by default ``population`` beside
  the SQLite register (``make run`` writes it with ``hukou synth`` and ``hukou batch``).
  When a source is missing the page says which indicator is unavailable and why.
* **Small-count suppression (小数抑制).** A count from 1 to ``threshold - 1`` is shown
  as ``<threshold`` (``<5`` by default; ``HUKOU_SUPPRESS_BELOW`` changes it) in every
  table, chart label and download of the analyst page, and is ``null`` in the JSON of
  ``/api/indicators``; 0 is shown as 0. Charts draw a suppressed bar at zero length.
  This is primary suppression only: a suppressed cell can sometimes be worked out from
  a total and the other cells of its row (no secondary suppression is done).
* **Reform runs** use the compiled population query (``reform.batch_evaluator``) on
  the demo population, as a background job (``start_reform_job``): a row of the
  register's ``jobs`` table under a random id (no reform parameter is put in a URL),
  with its stage and progress while it runs and its report once done, so that a
  restart loses no finished result; a job whose process died is shown as interrupted
  (``Registry.job``). One run at a time; the others wait, queued. The last
  ``KEEP_RUNS`` reports read are kept in memory with their charts and downloads.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from hukou.policy.yamlfile import load_yaml
from hukou.registry.service import Registry

if TYPE_CHECKING:
    import pyarrow as pa

    from hukou.analytics.reform import Reform, ReformReport

log = logging.getLogger(__name__)

# ---- the generic panel slot (kept for other panels) ----------------------------------


@dataclass
class Panel:
    title: str
    note: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str | int | float]] = field(default_factory=list)


PanelFn = Callable[[Registry, str], Panel]
PANELS: list[PanelFn] = []


def register_panel(fn: PanelFn) -> PanelFn:
    """Add a panel to the analyst page (usable as a decorator)."""
    PANELS.append(fn)
    return fn


# ---- configuration ----------------------------------------------------------------------

SUPPRESS_BELOW = 5
KEEP_RUNS = 16
PERIODS = ("month", "quarter", "year")
DEFAULT_PERIOD = "year"
DEFAULT_FROM = dt.date(2020, 8, 1)  # the notice in force (§8)
Problem = dict[str, str]


def population_dir(state: Any, registry: Registry) -> Path:
    """``app.state.population_dir``, else ``HUKOU_POPULATION_DIR``, else ``population``
    beside the SQLite register (or in the working directory for another database)."""
    found = getattr(state, "population_dir", None)
    if found:
        return Path(found)
    env = os.environ.get("HUKOU_POPULATION_DIR")
    if env:
        return Path(env)
    bind = registry.factory.kw.get("bind")
    url = getattr(bind, "url", None)
    if url is not None and url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent / "population"
    return Path("population").resolve()


def suppress_below(state: Any) -> int:
    found = getattr(state, "suppress_below", None)
    if isinstance(found, int):
        return found
    try:
        return max(1, int(os.environ.get("HUKOU_SUPPRESS_BELOW", SUPPRESS_BELOW)))
    except ValueError:
        return SUPPRESS_BELOW


def suppressed(n: int, k: int) -> bool:
    return 0 < n < k


def shown(n: int | None, k: int) -> str:
    """A count as the page shows it: ``<5`` for 1..4, else the number."""
    if n is None:
        return "—"
    return f"<{k}" if suppressed(n, k) else f"{n:,}"


def _problem(fieldname: str, zh: str, en: str) -> Problem:
    return {"field": fieldname, "zh": zh, "en": en}


def parse_query(
    period: str | None, start: str | None, end: str | None, today: dt.date
) -> tuple[str, dt.date | None, dt.date | None, list[Problem]]:
    """The period form (GET): month | quarter | year, and optional from/to dates."""
    problems: list[Problem] = []
    p = period or DEFAULT_PERIOD
    if p not in PERIODS:
        problems.append(
            _problem(
                "period",
                f"期间须为 month（月）、quarter（季度）或 year（年），实为 {p!r}",
                f"period must be month, quarter or year, got {p!r}",
            )
        )
        p = DEFAULT_PERIOD
    dates: list[dt.date | None] = []
    for name, raw, default in (("from", start, DEFAULT_FROM), ("to", end, today)):
        if raw is None or raw == "":
            dates.append(default)
            continue
        try:
            dates.append(dt.date.fromisoformat(raw))
        except ValueError:
            problems.append(
                _problem(
                    name,
                    f"日期格式须为 YYYY-MM-DD，实为 {raw[:20]!r}",
                    f"date must be YYYY-MM-DD, got {raw[:20]!r}",
                )
            )
            dates.append(default)
    since, until = dates
    if since and until and since > until:
        problems.append(
            _problem("to", "截止日期不能早于起始日期", "the end date must not be before the start")
        )
    return p, since, until, problems


# ---- §7 indicators -------------------------------------------------------------------------

_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Any] = {}


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    with _lock:
        if key in _cache:
            return _cache[key]
    value = make()
    with _lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = value
    return value


@dataclass
class Indicators:
    period: str
    start: dt.date | None
    end: dt.date | None
    population: Path
    summary: list[dict[str, Any]]
    settlements: list[dict[str, Any]]
    permits: list[dict[str, Any]]
    eligible: list[dict[str, Any]] | None  # None: unavailable
    permits_source: str = ""
    unavailable: list[str] = field(default_factory=list)  # i18n keys of the reasons

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        out = {
            "summary": self.summary,
            "settlements": self.settlements,
            "permits": self.permits,
        }
        if self.eligible is not None:
            out["eligible"] = self.eligible
        return out


def _period_bounds(period: str, start: dt.date | None, end: dt.date | None) -> tuple[str, str]:
    from hukou.analytics.indicators import period_of

    return (
        period_of(start, period) if start else "",
        period_of(end, period) if end else "\uffff",
    )


def _permits_population(
    pop: Path, period: str, start: dt.date | None, end: dt.date | None
) -> list[dict[str, Any]]:
    """Permits from the population's ``persons.parquet``, counted by county and issue day
    once per results version (kept on disk beside the results), then per period."""
    from hukou.analytics.indicators import permit_count_rows

    version = results_version(pop)

    def read() -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        columns = ["permit_held", "permit_county", "permit_issued_on"]
        persons = pq.read_table(pop / "persons.parquet", columns=columns)
        held, counties, days = (persons.column(c).to_pylist() for c in columns)
        counted: dict[tuple[Any, str], int] = {}
        for h, c, d in zip(held, counties, days, strict=True):
            if h is not False and d is not None:  # as ``permits_from_population``
                counted[(c, d.isoformat())] = counted.get((c, d.isoformat()), 0) + 1
        return [{"county": c, "day": d, "n": n} for (c, d), n in sorted(counted.items(), key=str)]

    days = _cached(
        ("permit-days", str(pop), version),
        lambda: _disk_cached(pop, "permit-days", version, read),
    )
    return permit_count_rows(
        ((r["county"], dt.date.fromisoformat(r["day"]), int(r["n"])) for r in days),
        period,
        start,
        end,
        "population.persons",
    )


def results_version(pop: Path) -> str:
    """The version of a population's batch results: the size and modification time of
    ``results/results.parquet`` and ``persons.parquet`` (a new ``hukou batch`` or
    ``hukou synth`` changes it)."""
    import hashlib

    parts = []
    for path in (pop / "results" / "results.parquet", pop / "persons.parquet"):
        try:
            st = path.stat()
        except OSError:
            parts.append("-")
        else:
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


CACHE_DIR = ".analyst-cache"  # in the results folder: the indicator tables per version


def _disk_cached(
    pop: Path, name: str, version: str, make: Callable[[], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Rows computed once per results version and kept as JSON beside the results, so that
    a restarted service shows the page without opening DuckDB (seconds of imports and
    reading). An unwritable folder only means computing them again next start."""
    import json

    folder = pop / "results" / CACHE_DIR
    path = folder / f"{name}-{version}.json"
    try:
        rows = json.loads(path.read_text("utf-8"))
        if isinstance(rows, list):
            return rows
    except (OSError, ValueError):
        pass
    rows = make()
    try:
        folder.mkdir(exist_ok=True)
        for old in folder.glob(f"{name}-*.json"):  # an older version's
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)
    except OSError:
        log.info("indicator cache not written in %s", folder)
    return rows


def _eligible(pop: Path, period: str) -> list[dict[str, Any]]:
    """Eligible, not yet settled, per county, period and channel: per results version."""
    from hukou.analytics.indicators import eligible_not_settled, results_tables

    version = results_version(pop)

    def make() -> list[dict[str, Any]]:
        res, persons = results_tables(pop / "results", pop)
        rows: list[dict[str, Any]] = eligible_not_settled(res, persons, period).to_pylist()
        return rows

    return cast(
        "list[dict[str, Any]]",
        _cached(
            ("eligible", str(pop), version, period),
            lambda: _disk_cached(pop, f"eligible-{period}", version, make),
        ),
    )


def register_version(registry: Registry) -> tuple[Any, ...]:
    """What the register's indicator tables depend on, in cheap queries: the application
    events (a registration is one) by count and last id; the residence permits by count,
    last id and the sum of their versions (an issue changes a row, adding none); the
    endorsements by count and last id."""
    from sqlalchemy import func, select

    from hukou.registry.models import (
        ApplicationEvent,
        ResidencePermit,
        ResidencePermitEndorsement,
    )

    def query(s: Any) -> tuple[Any, ...]:
        events = s.execute(
            select(func.count(ApplicationEvent.id), func.max(ApplicationEvent.id))
        ).one()
        permits = s.execute(
            select(
                func.count(ResidencePermit.id),
                func.max(ResidencePermit.id),
                func.sum(ResidencePermit.version),
            )
        ).one()
        endorsements = s.execute(
            select(
                func.count(ResidencePermitEndorsement.id),
                func.max(ResidencePermitEndorsement.id),
            )
        ).one()
        return (*events, *permits, *endorsements)

    return registry.read(query)


def indicators(
    registry: Registry,
    pop: Path,
    period: str,
    start: dt.date | None,
    end: dt.date | None,
) -> Indicators:
    """The three §7 figures per county and period, from the register and the population:
    cached per version of the register's tables and of the batch results (and the
    population-derived tables kept on disk per results version, ``_disk_cached``)."""
    key = (
        "indicators",
        id(registry),
        register_version(registry),
        str(pop),
        results_version(pop),
        (pop / "persons.parquet").is_file(),
        period,
        start,
        end,
    )
    return cast(Indicators, _cached(key, lambda: _indicators(registry, pop, period, start, end)))


def _indicators(
    registry: Registry,
    pop: Path,
    period: str,
    start: dt.date | None,
    end: dt.date | None,
) -> Indicators:
    # rows, not Arrow tables: building one makes pyarrow import pandas (seconds, cold)
    from hukou.analytics import indicators as ind

    unavailable: list[str] = []
    settled = registry.read(lambda s: ind.settlement_rows(s, period, start, end))
    permits = registry.read(lambda s: ind.permit_rows_registry(s, period, start, end))
    source = "registry"
    if not permits:
        source = "population"
        if (pop / "persons.parquet").is_file():
            permits = _permits_population(pop, period, start, end)
        else:
            unavailable.append("analyst.no_population")
            source = ""
    eligible: list[dict[str, Any]] | None = None
    if (
        not (pop / "results" / "results.parquet").is_file()
        or not (pop / "persons.parquet").is_file()
    ):
        unavailable.append("analyst.no_results")
    else:
        try:
            every = _eligible(pop, period)
        except Exception:  # a broken batch output: the page says the figure is unavailable
            unavailable.append("analyst.no_results")
        else:
            lo, hi = _period_bounds(period, start, end)
            eligible = [r for r in every if lo <= r["period"] <= hi]
    total = ind.summary_rows(settled, permits, eligible)
    return Indicators(
        period, start, end, pop, total, settled, permits, eligible, source, unavailable
    )


def per_county(rows: Sequence[Mapping[str, Any]], measure: str) -> list[tuple[str, int]]:
    """A measure summed over the selected periods, per county (Jiaxing's seven first)."""
    from hukou.policy.places import jiaxing_counties

    totals: dict[str, int] = dict.fromkeys(jiaxing_counties(), 0)
    for r in rows:
        totals[str(r["county"])] = totals.get(str(r["county"]), 0) + int(r[measure] or 0)
    return list(totals.items())


def api_tables(data: Indicators, k: int) -> dict[str, list[dict[str, Any]]]:
    """The tables with every count below ``k`` (and above 0) replaced by null: the count
    columns are the indicator module's own list, the one its files use."""
    from hukou.analytics.indicators import COUNT_COLUMNS as counts

    out: dict[str, list[dict[str, Any]]] = {}
    for name, rows in data.tables().items():
        out[name] = [
            {c: (None if c in counts and suppressed(int(v or 0), k) else v) for c, v in r.items()}
            for r in rows
        ]
    return out


# ---- charts: server-rendered SVG (no script; the table beside it is the text) ------------

GAIN = "#1d7a6f"
LOSS = "#b5452b"
BAR = "#264653"


@dataclass(frozen=True)
class Bars:
    label: str
    values: tuple[int, ...]
    color: str = BAR
    sign: int = 1  # -1: drawn to the left (losses)


def svg_chart(
    title: str, categories: Sequence[str], series: Sequence[Bars], k: int, xlabel: str = ""
) -> bytes:
    """Grouped horizontal bars as SVG (glyphs as paths: no font needed by the browser).
    Suppressed counts are drawn at zero length and labelled ``<k``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from hukou.analytics.charts import cjk_font

    family = cjk_font()
    rc: dict[str, Any] = {"axes.unicode_minus": False, "svg.fonttype": "path"}
    if family:
        rc["font.family"] = [family, "DejaVu Sans"]
    n = max(1, len(series))
    height = max(2.4, 0.34 * len(categories) * n + 1.4)
    with plt.rc_context(cast(Any, rc)):
        fig, ax = plt.subplots(figsize=(8, height), layout="constrained")
        width = 0.8 / n
        for i, s in enumerate(series):
            ys = [j + (i - (n - 1) / 2) * width for j in range(len(categories))]
            xs = [0 if suppressed(v, k) else s.sign * v for v in s.values]
            bars = ax.barh(ys, xs, height=width, color=s.color, label=s.label)
            ax.bar_label(bars, labels=[shown(v, k) for v in s.values], padding=3, fontsize=9)
        ax.set_yticks(range(len(categories)), list(categories), fontsize=10)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=12, loc="left")
        ax.axvline(0, color="#444", linewidth=0.8)
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not any(not suppressed(v, k) and v for s in series for v in s.values):
            ax.set_xlim(-1 if any(s.sign < 0 for s in series) else 0, 1)
        if xlabel:
            ax.set_xlabel(xlabel)
        if len(series) > 1:
            ax.legend(fontsize=9, loc="lower right")
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    return buf.getvalue()


def cached_svg(key: tuple[Any, ...], make: Callable[[], bytes]) -> bytes:
    return cast(bytes, _cached(("svg", *key), make))


# ---- reforms -------------------------------------------------------------------------------

# The parameters the form offers (and any other an example sets).
OFFERED = (
    "s1_urban.continuous_residence_years",
    "s3_relatives.parent_min_age_male",
    "s3_relatives.parent_min_age_female",
    "s2_talent.vocational_graduate_window_years",
)
REFORM_START = dt.date(2020, 8, 1)  # overrides apply from the notice's own start


def reforms_dir() -> Path | None:
    """``HUKOU_REFORMS_DIR``, else the checkout's ``examples/reforms``, else ./examples/reforms."""
    env = os.environ.get("HUKOU_REFORMS_DIR")
    candidates = [Path(env)] if env else []
    candidates += [
        Path(__file__).resolve().parents[4] / "examples" / "reforms",
        Path("examples/reforms").resolve(),
    ]
    return next((c for c in candidates if c.is_dir()), None)


def examples() -> dict[str, dict[str, Any]]:
    """stem -> the parsed YAML of each example reform."""
    folder = reforms_dir()
    out: dict[str, dict[str, Any]] = {}
    if folder is None:
        return out
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = load_yaml(path.read_text("utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            out[path.stem] = data
    return out


@dataclass
class ReformField:
    path: str
    kind: str  # int | bool | date | level | str
    clause: str
    zh: str
    en: str
    value: str  # as the form shows it
    baseline: str
    choices: list[str] = field(default_factory=list)


def _form_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return v.isoformat()
    return "" if v is None else str(v)


def reform_fields(on: dt.date, values: Mapping[str, str] | None = None) -> list[ReformField]:
    """The offered parameters (and the readings that are true/false), as form fields."""
    from hukou.policy.params import load
    from hukou.policy.scales import SCALES

    law = load()
    paths = list(OFFERED) + [
        p for p, spec in law.parameters.items() if p.startswith("readings.") and spec.type == "bool"
    ]
    paths += [p for p in (values or {}) if p in law.parameters and p not in paths]
    out = []
    for path in paths:
        spec = law.parameters[path]
        zh, _, en = " ".join(spec.description.split()).partition(" / ")
        zh = zh.removeprefix(spec.reference).strip()  # the clause is shown on its own
        try:
            base = _form_value(spec.at(on))
        except ValueError:
            base = ""
        choices = [m.value for m in SCALES[spec.scale]] if spec.scale in SCALES else []
        out.append(
            ReformField(
                path,
                spec.type,
                spec.reference,
                zh,
                en or zh,
                (values or {}).get(path, base),
                base,
                choices,
            )
        )
    return out


def example_values(data: Mapping[str, Any]) -> dict[str, str]:
    """An example's parameter values as the form shows them (the last dated value)."""
    out: dict[str, str] = {}
    params = data.get("parameters")
    if isinstance(params, dict):
        for path, dated in params.items():
            if isinstance(dated, dict) and dated:
                out[str(path)] = _form_value(list(dated.values())[-1])
    return out


def _typed(kind: str, raw: str) -> Any:
    """A form string as the reform file would have it (a wrong one stays a string, so that
    ``parse_reform`` names the field)."""
    text = raw.strip()
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "bool":
        return {"true": True, "false": False}.get(text, text)
    return text


def reform_from_form(form: Mapping[str, str], today: dt.date) -> Reform:
    """The reform the form describes: the parameters whose value differs from the law's on
    the decision date, each from the notice's start. Raises ``ReformError`` (each problem
    naming its field, zh and en)."""
    from hukou.analytics.reform import ReformError, parse_reform

    raw_date = form.get("dates", "").strip() or today.isoformat()
    try:
        on = dt.date.fromisoformat(raw_date)
    except ValueError:
        on = today
    parameters: dict[str, dict[str, Any]] = {}
    for f in reform_fields(on, {p: v for p, v in form.items() if "." in p}):
        raw = form.get(f.path)
        if raw is None:
            continue
        if raw.strip() != f.baseline:
            parameters[f.path] = {REFORM_START.isoformat(): _typed(f.kind, raw)}
    data = {
        "name": {
            "zh": form.get("name_zh", "").strip()[:200],
            "en": form.get("name_en", "").strip()[:200],
        },
        "dates": raw_date[:40],
        "parameters": parameters,
    }
    reform = parse_reform(data, source="web form")
    if on > today:
        raise ReformError(
            [
                _problem(
                    "dates", "决定日期不能晚于今天", "the decision date must not be in the future"
                )
            ]
        )
    return reform


@dataclass
class ReformRun:
    id: str
    report: ReformReport
    k: int
    created: dt.datetime
    files: dict[str, bytes] = field(default_factory=dict)


class ReformRuns:
    """The last ``KEEP_RUNS`` finished reports read, by their job's id (a cache: the
    register's ``jobs`` table keeps them all)."""

    def __init__(self) -> None:
        self._runs: OrderedDict[str, ReformRun] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, run: ReformRun) -> ReformRun:
        with self._lock:
            self._runs[run.id] = run
            self._runs.move_to_end(run.id)
            while len(self._runs) > KEEP_RUNS:
                self._runs.popitem(last=False)
        return run

    def get(self, run_id: str) -> ReformRun | None:
        with self._lock:
            found = self._runs.get(run_id)
            if found is not None:
                self._runs.move_to_end(run_id)
            return found


def runs_of(state: Any) -> ReformRuns:
    found = getattr(state, "reform_runs", None)
    if not isinstance(found, ReformRuns):
        found = state.reform_runs = ReformRuns()
    return found


class ReformUnavailable(Exception):
    """The demo population or the compiled evaluator is not there: ``key`` says which."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


_one_run_at_a_time = threading.Lock()  # a run takes both cores of a small server for seconds


def run_reform(
    pop: Path, reform: Reform, progress: Callable[[str, int], None] | None = None
) -> ReformReport:
    """Baseline and reform on the demo population, with the compiled query (one run at a
    time; a second request waits for the first)."""
    with _one_run_at_a_time:
        return _run_reform(pop, reform, progress)


def check_reform_available(pop: Path) -> None:
    """Raise ``ReformUnavailable`` now if a run on ``pop`` could not start (no compiled
    evaluator, no population), rather than in the background."""
    from hukou.analytics.layout import TABLES

    try:
        from hukou.analytics.reform import batch_evaluator

        batch_evaluator()
    except ImportError:
        raise ReformUnavailable("analyst.no_evaluator") from None
    if not all((pop / f"{name}.parquet").is_file() for name in TABLES):
        raise ReformUnavailable("analyst.no_population")


def _run_reform(
    pop: Path, reform: Reform, progress: Callable[[str, int], None] | None = None
) -> ReformReport:
    import ibis  # type: ignore[import-untyped, unused-ignore]

    from hukou.analytics.reform import batch_evaluator, population_tables, run_reform

    try:
        evaluate = batch_evaluator()
    except ImportError:
        raise ReformUnavailable("analyst.no_evaluator") from None
    con = ibis.duckdb.connect()
    try:
        try:
            tables = population_tables(pop, con)
        except FileNotFoundError:
            raise ReformUnavailable("analyst.no_population") from None
        [report] = run_reform(
            tables, reform, list(reform.dates)[:1] or None, evaluate, progress=progress
        )
    finally:
        con.disconnect()
    return report


# ---- reform runs as background jobs ---------------------------------------------------------

JOB_HEARTBEAT = 2.0  # seconds between a job's progress reports (its heartbeat)
# the share of the progress bar at the start of each stage; the stage fills the rest up to
# the next, in proportion to the time the last run's stage took
STAGE_START = {"queued": 0, "loading": 3, "compiling": 5, "evaluating": 15, "tabulating": 95}
_last_seconds: dict[str, float] = {"compiling": 1.0, "evaluating": 12.0, "tabulating": 0.5}


class _JobReporter:
    """A job's progress, reported to the register every ``JOB_HEARTBEAT`` seconds by a
    thread of its own (which is also the job's heartbeat) and at each new stage."""

    def __init__(self, registry: Registry, job_id: str) -> None:
        self.registry, self.job_id = registry, job_id
        self.stage, self.since = "queued", time.monotonic()
        self.running = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._beat, name=f"hukou-job-{job_id}", daemon=True)
        self.thread.start()

    def percent(self) -> int:
        stages = list(STAGE_START)
        start = STAGE_START[self.stage]
        i = stages.index(self.stage)
        end = STAGE_START[stages[i + 1]] if i + 1 < len(stages) else 99
        expected = _last_seconds.get(self.stage)
        if not expected or not self.running:
            return start
        share = min(0.95, (time.monotonic() - self.since) / expected)
        return min(99, int(start + (end - start) * share))

    def enter(self, stage: str, _index: int = 0) -> None:
        with self._lock:
            if self.running and self.stage in _last_seconds:
                _last_seconds[self.stage] = max(0.1, time.monotonic() - self.since)
            self.stage, self.since = stage, time.monotonic()
            first = not self.running
            self.running = True
            self._report("running" if first else None)

    def _report(self, state: str | None = None) -> None:
        try:
            self.registry.job_progress(self.job_id, self.percent(), self.stage, state=state)
        except Exception:  # a lost report is not a lost run: the next beat tries again
            log.warning("job progress not recorded", exc_info=True)

    def _beat(self) -> None:
        while not self._stop.wait(JOB_HEARTBEAT):
            with self._lock:
                self._report()

    def stop(self) -> None:
        with self._lock:
            if self.running and self.stage in _last_seconds:
                _last_seconds[self.stage] = max(0.1, time.monotonic() - self.since)
        self._stop.set()
        self.thread.join(timeout=10)


def start_reform_job(registry: Registry, actor: Any, pop: Path, reform: Reform, k: int) -> str:
    """Queue the reform as a job of the register and run it in a thread of this process:
    the job's id, at once. The result page follows it (``Registry.job``)."""
    from hukou.analytics.reform import reform_as_json

    params = {"reform": reform_as_json(reform), "k": k, "population": str(pop)}
    job_id = registry.create_job(actor, "reform", params)
    threading.Thread(
        target=_work, args=(registry, job_id, pop, reform), name="hukou-reform", daemon=True
    ).start()
    return job_id


def _work(registry: Registry, job_id: str, pop: Path, reform: Reform) -> None:
    from hukou.analytics.reform import report_as_dict
    from hukou.service.web import i18n

    reporter = _JobReporter(registry, job_id)
    try:
        with _one_run_at_a_time:  # queued (with a heartbeat) while another run goes
            reporter.enter("loading")
            report = _run_reform(pop, reform, reporter.enter)
        reporter.stop()
        registry.finish_job(job_id, result=report_as_dict(report))
    except ReformUnavailable as exc:
        reporter.stop()
        _fail(
            registry,
            job_id,
            (i18n.t(exc.key, "zh", dir=str(pop)), i18n.t(exc.key, "en", dir=str(pop))),
        )
    except Exception:
        reporter.stop()
        log.exception("reform job %s failed", job_id)
        _fail(
            registry,
            job_id,
            (
                "改革模拟运行失败（服务器错误，已记入日志）。请稍后重试。",
                "the reform run failed (a server error, logged). Try again later.",
            ),
        )


def _fail(registry: Registry, job_id: str, error: tuple[str, str]) -> None:
    try:
        registry.finish_job(job_id, error=error)
    except Exception:  # the register is unreachable: the job will read as interrupted
        log.exception("reform job %s: the failure was not recorded", job_id)


def job_seconds(job: Any) -> int:
    """Seconds from a job's creation to its end (or now, while it runs)."""

    def aware(t: dt.datetime) -> dt.datetime:
        return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)  # SQLite's

    end = job.finished_at or dt.datetime.now(dt.UTC)
    return max(0, int((aware(end) - aware(job.created_at)).total_seconds()))


def reform_run(
    registry: Registry, actor: Any, job_id: str, cache: ReformRuns
) -> tuple[Any, ReformRun | None]:
    """The job ``job_id`` (``Registry.job``: a dead worker's job reads as interrupted),
    and, once done, its ``ReformRun`` (from the cache, else rebuilt from the register)."""
    from hukou.analytics.reform import report_from_dict

    found = cache.get(job_id)
    if found is not None:
        return None, found
    job = registry.job(actor, job_id)
    if job.state != "done" or not job.result:
        return job, None
    run = ReformRun(
        job.id,
        report_from_dict(job.result),
        int(job.params.get("k") or SUPPRESS_BELOW),
        job.finished_at or job.created_at,
    )
    return job, cache.put(run)


REFORM_TABLES = ("by_channel", "by_county", "by_age_band", "by_sex", "by_county_channel")
COUNT_COLUMNS = (
    "persons",
    "relatives",
    "eligible_before",
    "eligible_after",
    "gains",
    "loses",
    "earlier",
    "later",
)


def suppressed_tables(report: ReformReport, k: int) -> dict[str, pa.Table]:
    """The report's tables with the small counts (and ``net`` / ``days_earlier`` where a
    count behind them is suppressed) set to null, for the downloads."""
    import pyarrow as pa

    out = {}
    for name, table in report.tables.items():
        rows = table.to_pylist()
        for r in rows:
            hidden = False
            for c in COUNT_COLUMNS:
                if c in r and r[c] is not None and suppressed(int(r[c]), k):
                    r[c] = None
                    hidden = hidden or c in ("gains", "loses", "earlier")
            if hidden:
                for c in ("net", "days_earlier"):
                    if c in r:
                        r[c] = None
        out[name] = pa.Table.from_pylist(rows, schema=table.schema)
    return out


def reform_workbook(run: ReformRun) -> bytes:
    """The Excel workbook (analytics.workbook), small counts left empty (README says so)."""
    import tempfile

    from hukou.analytics.workbook import REFORM_SHEETS, reform_readme, write_workbook

    tables = suppressed_tables(run.report, run.k)
    readme = [
        *reform_readme(run.report),
        (
            "小数抑制 suppression",
            f"1 至 {run.k - 1} 的计数留空 / counts from 1 to {run.k - 1} are left empty",
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reform.xlsx"
        write_workbook(
            path, readme, {REFORM_SHEETS[k]: t for k, t in tables.items() if k in REFORM_SHEETS}
        )
        return path.read_bytes()


def reform_html(run: ReformRun, lang: str) -> bytes:
    """The interactive chart (plotly, self-contained: a download, not a page of this site)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    k = run.k
    report = run.report
    zh = lang == "zh"
    groups = reform_breakdowns(report, lang)
    fig = make_subplots(rows=len(groups), cols=1, subplot_titles=[title for title, _ in groups])
    for row, (_title, rows) in enumerate(groups, start=1):
        cats = [label for label, _r in rows]
        for name, key, sign, color in (
            ("获益" if zh else "gains", "gains", 1, GAIN),
            ("受损" if zh else "losses", "loses", -1, LOSS),
        ):
            values = [int(r[key]) for _l, r in rows]
            fig.add_trace(
                go.Bar(
                    x=[0 if suppressed(v, k) else sign * v for v in values],
                    y=cats,
                    orientation="h",
                    name=name,
                    legendgroup=key,
                    showlegend=row == 1,
                    marker_color=color,
                    text=[shown(v, k) for v in values],
                    textposition="outside",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(autorange="reversed", row=row, col=1)
    name = report.reform.name_zh if zh else report.reform.name_en
    fig.update_layout(
        title=f"{name} — {report.on}",
        barmode="group",
        height=sum(max(260, 34 * len(rows) + 120) for _t, rows in groups),
        template="plotly_white",
        font={"family": "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"},
    )
    return cast(str, fig.to_html(include_plotlyjs=True, full_html=True)).encode()


def reform_breakdowns(
    report: ReformReport, lang: str
) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """(title, [(label, row)]) for channel, county, age band and sex."""
    zh = lang == "zh"
    t = report.tables

    def label(r: Mapping[str, Any]) -> str:
        text = str(r["zh"] if zh else r["en"] or r["zh"])
        if r.get("age_band") == "unknown":  # the analytics label it in English only
            from hukou.service.web.i18n import t as tr

            text = tr("reform.age_unknown", lang)
        clause = r.get("clause") or ""
        return f"{clause} {text}".strip()

    return [
        (
            "各落户渠道" if zh else "By channel",
            [(label(r), r) for r in t["by_channel"].to_pylist()],
        ),
        (
            "各县（市、区）（按居住地）" if zh else "By county (where they live)",
            [(label(r), r) for r in t["by_county"].to_pylist()],
        ),
        ("年龄段" if zh else "By age band", [(label(r), r) for r in t["by_age_band"].to_pylist()]),
        ("性别" if zh else "By sex", [(label(r), r) for r in t["by_sex"].to_pylist()]),
    ]
