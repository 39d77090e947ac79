"""publishkit: publish neurophysiology data as versioned, manifest-pinned releases.

The public API is the stage verbs and what they take and return; each is loaded on first use,
so `import publishkit` stays light (the command line starts fast).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"  # the one place it is written (pyproject.toml reads it from here)

_API = {
    "load_settings": "publishkit.workspace.config",
    "Settings": "publishkit.workspace.config",
    "run_release": "publishkit.release.pipeline",
    "plan_release": "publishkit.release.plan",
    "workspace_status": "publishkit.release.status",
    "convert_sessions": "publishkit.nwb.convert",
    "start_inspection": "publishkit.inspection.inspect_files",
    "organize_files": "publishkit.dandi.organize",
    "check_dandi_access": "publishkit.dandi.access",
    "upload_to_dandi": "publishkit.dandi.upload",
    "upload_to_s3": "publishkit.release.s3_upload",
    "verify_release": "publishkit.consume.verify",
    "fetch_release": "publishkit.consume.fetch",
    "export_file_manifest": "publishkit.consume.export",
    "compare_manifests": "publishkit.formats.comparison",
    "open_release": "publishkit.reading.release",
    "Release": "publishkit.reading.release",
    "PublishedFile": "publishkit.reading.release",
    "PublishkitError": "publishkit.errors",
}
__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    """The public API, imported from its module on first use."""
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'publishkit' has no attribute {name!r}")
