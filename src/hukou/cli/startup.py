"""What the command line skips at start-up (启动), the same results for less work (issue 14:
``hukou check`` on one case and ``hukou --help`` in ≤ 0.3 s).

* **Pydantic's plugin discovery.** The command line runs with plugins disabled
  (``PYDANTIC_DISABLE_PLUGINS``, set in ``hukou.cli`` unless the operator set it), but
  pydantic still imports its plugin loader at the first model, and that module imports
  ``importlib.metadata`` (and ``email``, ``zipfile`` … with it): about 9 ms. While plugins
  are disabled the loader answers "no plugins" without looking; ``skip_plugin_scan``
  puts a stand-in with that answer where pydantic looks for the loader. If plugins are
  enabled by the time it is asked, the stand-in steps aside and the real loader answers.

* **Typer's converters.** Typer converts each option's text through a pydantic
  ``TypeAdapter`` built for it when the command runs (``typer._adapters``: a few ms, and
  pydantic's import before a command needs it). For the plain kinds the commands use —
  text, a flag, a path, a list of paths, with no parser of their own — ``light_params``
  gives the parameters a converter that does what the adapter does (``str(value)``;
  ``Path(value)`` then Typer's own path checks, ``coerce_cli_path``); any other value
  (or kind) goes to Typer's own converter. This reads Typer's internals
  (``_TyperParameter._runtime_param``), which is why Typer is pinned (``pyproject.toml``);
  ``tests/cli/test_startup.py`` checks that it still holds.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._click.core import Command, Context
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_path

_LOADER = "pydantic.plugin._loader"
_DISABLED = ("__all__", "1", "true")  # the values pydantic's loader reads as "none"


def _plugins_disabled() -> bool:
    return os.environ.get("PYDANTIC_DISABLE_PLUGINS") in _DISABLED


def skip_plugin_scan() -> None:
    """While ``PYDANTIC_DISABLE_PLUGINS`` disables plugins, pydantic finds a loader that
    says "none" without importing ``importlib.metadata`` (module doc)."""
    if _LOADER in sys.modules or not _plugins_disabled():
        return
    stand_in = types.ModuleType(_LOADER, "hukou.cli.startup's stand-in (plugins disabled)")

    def get_plugins() -> Any:
        if _plugins_disabled():
            return ()
        if sys.modules.get(_LOADER) is stand_in:  # plugins enabled since: the real loader
            del sys.modules[_LOADER]
        return importlib.import_module(_LOADER).get_plugins()

    stand_in.get_plugins = get_plugins  # type: ignore[attr-defined]
    sys.modules[_LOADER] = stand_in


@dataclass(frozen=True)
class _Plain(RuntimeParam):
    """Text, a flag, a path or a list of paths, converted as Typer's adapter would."""

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        kind = self.annotation
        if kind is str and isinstance(value, str):
            return str(value)
        if kind is bool and isinstance(value, bool):
            return value
        if kind is Path and isinstance(value, str):
            return self._path(value, param, ctx)
        if (
            kind == list[Path]
            and isinstance(value, (list, tuple))
            and all(isinstance(v, str) for v in value)
        ):
            return [self._path(v, param, ctx) for v in value]
        return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)

    def _path(self, value: str, param: Any, ctx: Context) -> Any:
        return coerce_cli_path(
            Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx
        )


def _plain(descriptor: TypeDescriptor) -> bool:
    kind: Any = descriptor.annotation
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None:
        return False
    if kind is str or kind is bool:
        return True
    if kind is Path or (get_origin(kind) is list and get_args(kind) == (Path,)):
        return getattr(info, "path_type", None) is None
    return False


def light_params(cmd: Command, ctx: Context | None = None) -> None:
    """Plain converters (module doc) for ``cmd``'s parameters and its sub-commands';
    with ``ctx`` (the context ``cmd`` is parsed in, or its parent's), for its ``--help``
    option too (made on demand, from the context's option names)."""
    params = list(cmd.params)
    if ctx is not None:
        help_option = cmd.get_help_option(ctx)
        if help_option is not None:
            params.append(help_option)
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (
            descriptor is not None
            and getattr(param, "_runtime_param", "") is None
            and _plain(descriptor)
        ):
            param._runtime_param = _Plain(  # type: ignore[attr-defined]
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
            )
    for sub in getattr(cmd, "commands", {}).values():
        light_params(sub)
