"""`publishkit init`: a workspace made from a template's example, ready to convert."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from publishkit.errors import UsageError
from publishkit.nwb.templates import Template
from publishkit.resources import shipped
from publishkit.workspace.config import CONFIG_NAME

DANDISET_METADATA = "dandiset.yaml"  # a commented starting file of the dandiset's metadata


def init_workspace(*, dest: Path, template: Template) -> Path:
    """Copy the template's example sessions and source data into `dest` with a publishkit.yaml
    and a starting dandiset.yaml."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(
            f"{dest}: already exists and is not an empty folder; nothing was changed",
            hint="choose a new folder",
        )
    if not (template.example / "sessions.csv").is_file():
        raise UsageError(f"template {template.name!r} has no example/sessions.csv to start from")
    shutil.copytree(template.example, dest, dirs_exist_ok=True)
    project = re.sub(r"[^A-Za-z0-9._-]+", "-", dest.resolve().name).strip("-.") or "project"
    (dest / CONFIG_NAME).write_text(
        f"# Made by `publishkit init --template {template.name}`; see the README for each key.\n"
        f"project: {project}\n"
        "conversion:\n"
        f"  template: {template.name}          # {template.description}\n"
        "  sessions: sessions.csv        # one row per NWB file to make\n"
        "  output_dir: nwb               # where `publishkit convert` writes them\n"
        "# dandi:                        # publish to DANDI (see `Publishing a dandiset`)\n"
        "#   instance: dandi-sandbox     # or dandi, or the API URL of `publishkit sandbox`\n"
        '#   dandiset: "000000"          # the dandiset made on the instance\n'
        "#   metadata: dandiset.yaml     # its metadata; `publishkit dandi metadata check`\n"
        "#   publish: true               # a release also publishes a DANDI version\n",
        encoding="utf-8",
    )
    shutil.copyfile(shipped("templates") / DANDISET_METADATA, dest / DANDISET_METADATA)
    return dest
