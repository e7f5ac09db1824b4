"""YAML data files (参数与数据文件) read with libyaml's safe loader when PyYAML was built
with it — the same documents give the same values, about ten times faster, which the
command line's start-up feels — else with the pure-Python safe loader."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, through libyaml when available."""
    return yaml.load(text, Loader=_LOADER)
