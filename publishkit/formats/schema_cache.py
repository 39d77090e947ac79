"""fastjsonschema's validators kept compiled between runs, as Python keeps a module's bytecode.

Generating a validator's code and compiling it is ~0.01-0.05 s a schema, paid by every run that
validates with it (a release validates its config, manifest and summaries: ~0.07 s of CPU). The
compiled code is kept in a folder of the user's own in the temporary folder, one file per
schema, named by a hash of what the code depends on: the schema as compiled, the options, the
format names, fastjsonschema's version and the interpreter's bytecode tag. A file is read only
from a folder owned by this user that no one else can write to (like jinja2's bytecode cache),
and used only when its own hash says it is whole; anything else (a damaged, truncated or
foreign file, a folder that cannot be made or written) means compiling again, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from functools import partial, update_wrapper
from pathlib import Path
from typing import Any

import fastjsonschema

from publishkit.local_files import write_atomic

Validator = Callable[[Any], Any]
_ENTRY = "validate"  # the generated function for a schema without $id (publishkit drops $id)


def compiled_validator(
    schema: dict[str, Any],
    *,
    formats: Mapping[str, Callable[[str], bool]],
    use_formats: bool,
) -> Validator:
    """fastjsonschema's validator of `schema` (as `fastjsonschema.compile(schema, formats=...,
    use_default=False, use_formats=...)` builds it), its code read from the cache when there."""
    key = _key(schema, sorted(formats), use_formats)
    folder = cache_folder()
    path = folder / f"{key}.pyc" if folder is not None else None
    code = _load(path) if path is not None else None
    if code is None:
        source = fastjsonschema.compile_to_code(
            schema, formats=dict(formats), use_default=False, use_formats=use_formats
        )
        code = compile(source, f"<fastjsonschema {key[:12]}>", "exec")
        if path is not None:
            _keep(path, code)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the code fastjsonschema generated (or its cached bytecode)
    check = namespace[_ENTRY]
    if formats:
        return update_wrapper(partial(check, custom_formats=dict(formats)), check)
    return check


def cache_folder() -> Path | None:
    """The cache's folder (made when absent), or None when it is not this user's alone: not a
    folder, a symlink, someone else's, or writable by others."""
    if not hasattr(os, "getuid"):  # no owners to check (Windows): no cache
        return None
    folder = Path(tempfile.gettempdir()) / f"publishkit-schemas-{os.getuid()}"
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700)
    try:
        found = folder.lstat()
    except OSError:
        return None
    mine = stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid()
    return folder if mine and not found.st_mode & 0o077 else None


def _key(schema: dict[str, Any], formats: list[str], use_formats: bool) -> str:
    what = [schema, formats, use_formats, fastjsonschema.VERSION, sys.implementation.cache_tag]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _load(path: Path) -> Any:
    """The code object kept at `path`, or None: absent, unreadable, or not whole."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, payload = data[:32], data[32:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    try:
        return marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None


def _keep(path: Path, code: Any) -> None:
    """Keep `code` at `path` (its hash first); a cache that cannot be written is left alone."""
    payload = marshal.dumps(code)
    with contextlib.suppress(OSError):
        write_atomic(path, hashlib.sha256(payload).digest() + payload, durable=False)
