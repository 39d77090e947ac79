"""Which checks inspection runs and how important each is: nwbinspector's config, merged.

nwbinspector's own `--config` replaces its defaults; here a base config (the built-in `dandi`, or
a YAML file in nwbinspector's format) is merged with the `inspection:` section of
publishkit.yaml: change a check's importance, skip a check, or suppress a check for a path glob
with a written reason.
"""

from __future__ import annotations

import fnmatch
import importlib.util
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec

from publishkit.errors import ConfigError
from publishkit.formats.yamlio import read_yaml

LEVELS = (
    "ERROR",
    "PYNWB_VALIDATION",
    "CRITICAL",
    "BEST_PRACTICE_VIOLATION",
    "BEST_PRACTICE_SUGGESTION",
)  # most important first, as nwbinspector ranks them
CONFIGURABLE = ("CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION")
BUILTIN_CONFIGS = ("dandi", "none")


def rank(level: str) -> int:
    """0 for ERROR ... 4 for BEST_PRACTICE_SUGGESTION: lower is more important."""
    return LEVELS.index(level)


class Suppression(msgspec.Struct, frozen=True):
    """Findings of one check set aside, for files matching a glob, with the reason."""

    check: str
    paths: str  # a glob, matched against the file's path relative to the workspace (or as given)
    reason: str

    def matches(self, check: str, path: str) -> bool:
        """The rule applies to this check's finding in this file."""
        return check == self.check and (
            fnmatch.fnmatch(path, self.paths) or fnmatch.fnmatch(Path(path).name, self.paths)
        )


class InspectionConfig(msgspec.Struct, frozen=True, dict=True):  # dict: for its cached_property
    """The effective configuration: a base plus the workspace's changes."""

    base: str = "dandi"  # "dandi", "none" (nwbinspector's defaults) or a YAML path
    importance: tuple[tuple[str, str], ...] = ()  # check -> CRITICAL|BEST_PRACTICE_...
    skip: tuple[str, ...] = ()
    suppress: tuple[Suppression, ...] = ()

    @cached_property
    def _levels(self) -> dict[str, str] | None:
        """check -> level or SKIP, base first, then the workspace's changes (None: defaults)."""
        base = _load_base(self.base)
        if base is None and not self.importance and not self.skip:
            return None
        merged = dict(base or {})
        merged.update(dict(self.importance))
        merged.update({check: "SKIP" for check in self.skip})
        return merged

    def nwbinspector_config(self) -> dict[str, list[str]] | None:
        """The merged config in nwbinspector's own format (None: its defaults, unchanged)."""
        if self._levels is None:
            return None
        config: dict[str, list[str]] = {}
        for check, level in sorted(self._levels.items()):
            config.setdefault(level, []).append(check)
        return config

    @property
    def is_dandi_unchanged(self) -> bool:
        """Whether nwbinspector runs exactly as DANDI runs it: the `dandi` config, as it is."""
        return self.base == "dandi" and not self.importance and not self.skip

    def suppression_for(self, check: str, path: str) -> Suppression | None:
        """The suppression that sets aside this check's finding in this file, if any."""
        return next((s for s in self.suppress if s.matches(check, path)), None)

    def level_of(self, check: str, default: str) -> str | None:
        """A check's configured level, None when skipped (for checks publishkit runs itself)."""
        level = (self._levels or {}).get(check, default)
        return None if level == "SKIP" else level


def from_section(section: dict[str, Any] | None, workspace: Path | None) -> InspectionConfig:
    """The `inspection:` section of publishkit.yaml (already schema-checked)."""
    section = section or {}
    base = str(section.get("config", "dandi"))
    if base not in BUILTIN_CONFIGS and workspace is not None:
        base = str(workspace / base)
    return InspectionConfig(
        base=base,
        importance=tuple(sorted(section.get("importance", {}).items())),
        skip=tuple(section.get("skip", ())),
        suppress=tuple(
            Suppression(s["check"], s["paths"], s["reason"]) for s in section.get("suppress", ())
        ),
    )


def _nwbinspector_dir() -> Path:
    spec = importlib.util.find_spec("nwbinspector")
    if spec is None or spec.origin is None:
        raise ConfigError("nwbinspector is not installed", hint="pip install publishkit again")
    return Path(spec.origin).parent


def _load_base(base: str) -> dict[str, str] | None:
    if base == "none":
        return None
    if base == "dandi":  # nwbinspector's own file, read without importing nwbinspector (1 s)
        path = _nwbinspector_dir() / "_internal_configs" / "dandi.inspector_config.yaml"
        document, _ = read_yaml(path)
    else:
        path = Path(base)
        if not path.is_file():
            raise ConfigError(
                f"inspection config {base}: no such file",
                hint="use 'dandi', 'none' or the path of an nwbinspector YAML config",
            )
        document = read_yaml(path, what=f"inspection config {base}")[0] or {}
    if not isinstance(document, dict) or not set(document) <= {*CONFIGURABLE, "SKIP"}:
        raise ConfigError(
            f"inspection config {base}: expected keys among {', '.join((*CONFIGURABLE, 'SKIP'))}",
            hint="see nwbinspector's config format",
        )
    return {check: level for level, checks in document.items() for check in checks or ()}
