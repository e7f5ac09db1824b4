"""Charts (图表) of reforms and §7 indicators: PNG (matplotlib) and self-contained HTML (plotly).

A chart is a list of panels, each a grouped bar chart over one breakdown. Labels are
bilingual; the PNG uses Noto Sans CJK when the font is there and falls back to the
English labels alone when it is not (matplotlib draws no glyph it has no font for).
The HTML carries plotly.js inline: the machines it is read on may be offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from hukou.analytics.reform import ReformReport

CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)

GAIN = "#2a9d8f"
LOSS = "#e76f51"
PALETTE = ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#8ab17d", "#6d597a", "#b56576")


@dataclass(frozen=True)
class Series:
    zh: str
    en: str
    values: tuple[float, ...]
    color: str | None = None


@dataclass(frozen=True)
class Panel:
    zh: str
    en: str
    categories_zh: tuple[str, ...]
    categories_en: tuple[str, ...]
    series: tuple[Series, ...]


@cache
def cjk_font() -> str | None:
    """Register a CJK font with matplotlib; its family name, or None if there is none."""
    from matplotlib import font_manager

    for path in CJK_FONTS:
        if path.exists():
            try:
                font_manager.fontManager.addfont(str(path))
                return str(font_manager.FontProperties(fname=str(path)).get_name())
            except (OSError, RuntimeError, ValueError):
                continue
    return None


def _label(zh: str, en: str, cjk: bool, wrap: int = 40) -> str:
    if not cjk or not zh or zh == en:
        return en
    # two lines rather than a label wider than the bars it names
    return f"{zh}\n{en}" if len(zh) * 2 + len(en) > wrap else f"{zh} {en}"


DPI = 110


def _lines(text: str) -> int:
    return text.count("\n") + 1


def write_png(panels: Sequence[Panel], title_zh: str, title_en: str, path: Path) -> Path:
    """Grouped horizontal bars, one panel under the other.

    The layout is computed here from the widths of the labels (no layout engine: the
    constrained layout drew the whole figure twice, ~40 % of the time), and the figure
    is drawn once, by the Agg canvas directly (no pyplot)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    family = cjk_font()
    cjk = family is not None
    rc: dict[str, Any] = {"axes.unicode_minus": False}
    if family:
        rc["font.family"] = [family, "DejaVu Sans"]
    heights = [max(2.2, 0.32 * len(p.categories_en) * max(1, len(p.series)) + 1.2) for p in panels]
    categories = [
        [_label(zh, en, cjk) for zh, en in zip(p.categories_zh, p.categories_en, strict=True)]
        for p in panels
    ]
    title = _label(title_zh, title_en, cjk, wrap=0)
    top = 0.2 + 0.25 * _lines(title)  # inches above the first panel: the title
    width = 10.0
    height = sum(heights) + top + 0.1
    with matplotlib.rc_context(cast(Any, rc)):
        fig = Figure(figsize=(width, height), dpi=DPI)
        renderer = cast(Any, FigureCanvasAgg(fig)).get_renderer()
        prop = FontProperties(size=9)
        widest = max(
            (
                renderer.get_text_width_height_descent(line, prop, ismath=False)[0]
                for cats in categories
                for cat in cats
                for line in cat.split("\n")
            ),
            default=0.0,
        )
        left = widest / DPI + 0.25  # the category labels, the ticks and a gap (inches)
        right = 0.3
        y = height - top
        for panel, cats, h in zip(panels, categories, heights, strict=True):
            panel_title = _label(panel.zh, panel.en, cjk)
            axes_top = y - (0.12 + 0.2 * _lines(panel_title))
            axes_bottom = y - h + 0.45  # the x tick labels and the gap to the next panel
            ax = fig.add_axes(
                (
                    left / width,
                    axes_bottom / height,
                    (width - left - right) / width,
                    (axes_top - axes_bottom) / height,
                )
            )
            n = max(1, len(panel.series))
            bar = 0.8 / n
            for i, s in enumerate(panel.series):
                ys = [j + (i - (n - 1) / 2) * bar for j in range(len(cats))]
                color = s.color or PALETTE[i % len(PALETTE)]
                bars = ax.barh(ys, s.values, height=bar, color=color, label=_label(s.zh, s.en, cjk))
                ax.bar_label(bars, fmt="%g", padding=2, fontsize=8)
            ax.set_yticks(range(len(cats)), cats, fontsize=9)
            ax.invert_yaxis()
            ax.set_title(panel_title, fontsize=11, loc="left")
            ax.axvline(0, color="#444", linewidth=0.8)
            ax.grid(axis="x", alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
            y -= h
        fig.suptitle(title, fontsize=13, y=1 - 0.1 / height, va="top")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})  # fast; ~1.5x bigger
    return path


def write_html(panels: Sequence[Panel], title_zh: str, title_en: str, path: Path) -> Path:
    """The same panels as an interactive page, plotly.js inline (works offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=len(panels),
        cols=1,
        subplot_titles=[f"{p.zh} / {p.en}" for p in panels],
        vertical_spacing=0.35 / max(1, len(panels)),
    )
    for row, panel in enumerate(panels, start=1):
        cats = [
            f"{zh} {en}" if zh and zh != en else en
            for zh, en in zip(panel.categories_zh, panel.categories_en, strict=True)
        ]
        for i, s in enumerate(panel.series):
            fig.add_trace(
                go.Bar(
                    x=list(s.values),
                    y=cats,
                    orientation="h",
                    name=f"{s.zh} / {s.en}",
                    legendgroup=f"{s.zh}/{s.en}",
                    showlegend=row == 1 or len(panel.series) > 1,
                    marker_color=s.color or PALETTE[i % len(PALETTE)],
                    text=list(s.values),
                    textposition="auto",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(autorange="reversed", row=row, col=1)
    height = sum(max(260, 28 * len(p.categories_en) * max(1, len(p.series)) + 120) for p in panels)
    fig.update_layout(
        title=f"{title_zh} / {title_en}",
        barmode="group",
        height=height,
        template="plotly_white",
        font={"family": "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


# ---- reform charts -------------------------------------------------------------------


def reform_panels(report: ReformReport) -> list[Panel]:
    """Gains and losses per channel, county, age band and sex; relatives per route."""

    def panel(zh: str, en: str, rows: list[dict[str, Any]], key: str) -> Panel:
        return Panel(
            zh,
            en,
            tuple(str(r["zh"]) for r in rows),
            tuple(str(r["en"] if r["en"] else r[key]) for r in rows),
            (
                Series("获益", "gain", tuple(float(r["gains"]) for r in rows), GAIN),
                Series("受损", "lose", tuple(-float(r["loses"]) for r in rows), LOSS),
            ),
        )

    t = report.tables
    channels = t["by_channel"].to_pylist()
    for r in channels:
        if r["clause"]:
            r["zh"], r["en"] = f"{r['clause']} {r['zh']}", f"{r['clause']} {r['en']}"
    relatives = [r for r in t["relatives"].to_pylist() if r["relation"] == "all"]
    for r in relatives:
        if r["clause"]:
            r["zh"], r["en"] = f"{r['clause']} {r['zh']}", f"{r['clause']} {r['en']}"
    return [
        panel("各落户渠道", "by channel", channels, "channel"),
        panel(
            "各县（市、区）（按居住地）",
            "by county (where they live)",
            t["by_county"].to_pylist(),
            "county",
        ),
        panel("年龄段", "by age band", t["by_age_band"].to_pylist(), "age_band"),
        panel("性别", "by sex", t["by_sex"].to_pylist(), "sex"),
        panel("随迁亲属（各途径）", "accompanying relatives (by route)", relatives, "route"),
    ]


def reform_charts(report: ReformReport, out: Path, stem: str = "reform") -> tuple[Path, Path]:
    panels = reform_panels(report)
    title_zh = f"{report.reform.name_zh}：获益与受损人数（{report.on}）"
    title_en = f"{report.reform.name_en}: who gains, who loses ({report.on})"
    return (
        write_png(panels, title_zh, title_en, out / f"{stem}.png"),
        write_html(panels, title_zh, title_en, out / f"{stem}.html"),
    )
