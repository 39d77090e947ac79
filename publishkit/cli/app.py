"""The `publishkit` command: the Typer app, its one error boundary, and the exit.

Commands live in their groups (release, stages, consume, tools) as plain functions; they are
registered here by name, in the order `--help` lists them, and each group's module is imported
only when one of its commands runs or is listed (`release` imports neither `consume` nor
`stages`, nor what they import). Only `publishkit.cli` imports typer and rich,
prints, exits, or reads the environment.
"""

from __future__ import annotations

import errno
import gc
import inspect
import logging
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from publishkit import __version__
from publishkit.cli.consoles import err, out
from publishkit.cli.plain_values import plain_values
from publishkit.cli.signals import SIGNALS
from publishkit.cli.startup_gc import resume
from publishkit.errors import Interrupted, PublishkitError
from publishkit.writable import write_error

log = logging.getLogger("publishkit")
INVOKED = "publishkit.invoked"  # ctx.meta: the subcommand and its arguments, for `_asked_format`
WHILE_RUNNING = "while it ran; the step under way stopped and no step after it started"


class _Group(typer.core.TyperGroup):
    """Turns every PublishkitError into its message, its hint and its exit code: here only;
    in the format the command was asked for (`--format json`: a JSON object on stdout)."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)  # its module imported
        ctx.meta[INVOKED] = (name, command, list(rest))
        resume()  # the command line's start-up over: the collector runs again
        return name, command, rest

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as exc:
            raise _interrupted(ctx, exc) from None
        except PublishkitError as exc:
            if SIGNALS.received is not None:  # what failed, failed because of the signal
                raise _interrupted(ctx, SIGNALS.error(WHILE_RUNNING)) from None
            hint = f" (fix: {exc.hint})" if exc.hint else ""
            line = f"error: {exc.message}{hint}"
            raise _failed(ctx, exc.message, exc.hint, exc.exit_code, line) from None
        except TyperException as exc:  # the parser refused an argument: typer says why
            _for_scripts(ctx, exc.format_message(), "see the command's --help", exc.exit_code)
            raise
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            raise _interrupted(ctx, SIGNALS.error(WHILE_RUNNING)) from None
        except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except OSError as exc:
            if exc.errno not in _NO_ROOM:
                raise _internal(ctx, exc) from None
            known = write_error(exc, exc.filename or "", "files")  # a disk that takes nothing
            line = f"error: {known.message} (fix: {known.hint})"
            raise _failed(ctx, known.message, known.hint, known.exit_code, line) from None
        except Exception as exc:
            raise _internal(ctx, exc) from None


_NO_ROOM = {errno.EROFS, errno.ENOSPC, errno.EDQUOT}  # wherever met: the disk, not a bug


def _internal(ctx: Any, exc: Exception) -> typer.Exit:
    """A bug: said in one line (the exit to raise); --verbose logs the traceback; unless a
    signal cut a step short."""
    if SIGNALS.received is not None:
        return _interrupted(ctx, SIGNALS.error(WHILE_RUNNING))
    log.debug("unexpected error", exc_info=True)
    error = f"internal error: {type(exc).__name__}: {exc}"
    hint = "please report it; --verbose shows the traceback"
    return _failed(ctx, error, hint, 1, f"{error} ({hint})")


def _interrupted(ctx: Any, exc: Interrupted) -> typer.Exit:
    """The exit of a command stopped by SIGINT or SIGTERM (130 or 143), saying that a re-run
    resumes; a signal from now on is only recorded, not raised into the report."""
    SIGNALS.finished()
    SIGNALS.reported = True
    line = f"error: {exc.message} (fix: {exc.hint})"
    return _failed(ctx, exc.message, exc.hint, exc.exit_code, line)


def _failed(ctx: Any, error: str, hint: str | None, exit_code: int, line: str) -> typer.Exit:
    """Say why the command failed: `line` on stderr for people, and on stdout what the scripts
    and CI that asked for a format read (`_for_scripts`). The exit to raise."""
    _for_scripts(ctx, error, hint, exit_code)
    err.print(line, markup=False)
    return typer.Exit(exit_code)


def _for_scripts(ctx: Any, error: str, hint: str | None, exit_code: int) -> None:
    """With `--format json`, `{"error", "hint", "exit_code"}` on stdout; with `--format
    github`, an error annotation; nothing for the other formats."""
    asked = _asked_format(ctx)
    if asked == "json":
        from publishkit.cli import render

        render.print_json({"error": error, "hint": hint, "exit_code": exit_code})
    elif asked == "github":
        from publishkit.inspection.report import workflow_command

        text = f"{error} (fix: {hint})" if hint else error
        out.out(workflow_command("error", text, title="publishkit"), highlight=False)


def _asked_format(ctx: Any) -> str | None:
    """The --format the failed command was given, as its own parser reads its arguments
    again (None: it has no --format, or no subcommand was reached)."""
    name, command, args = ctx.meta.get(INVOKED, (None, None, []))
    option = next((p for p in getattr(command, "params", ()) if "--format" in p.opts), None)
    if command is None or option is None or option.name is None:
        return None
    try:
        parsed = command.make_context(name, list(args), parent=ctx, resilient_parsing=True)
    except Exception:  # arguments its parser refuses even when lenient: plain text then
        return None
    value = parsed.params.get(option.name)
    return None if value is None else str(value)


# Each command by name, in the order `--help` lists them: "module:function", imported only when
# the command runs or a help that lists it is shown (a `release` imports no other group).
ROOT = {
    "release": "release_commands:release",
    "notes": "consumer_commands:notes",
    "site": "site_command:site",
    "verify": "consumer_commands:verify",
    "fetch": "consumer_commands:fetch",
    "ls": "reading_commands:ls",
    "show": "reading_commands:show",
    "schema": "tool_commands:schema_command",
    "sandbox": "tool_commands:sandbox",
    "inspect": "stage_commands:inspect_command",
    "init": "tool_commands:init",
    "convert": "stage_commands:convert",
    "organize": "stage_commands:organize",
    "upload": "stage_commands:upload",
    "demo": "release_commands:demo",
    "status": "release_commands:status",
}
GROUPS = {
    "manifest": {"validate": "consumer_commands:manifest_validate"},
    "templates": {"list": "tool_commands:templates_list", "show": "tool_commands:templates_show"},
    "dandi metadata": {"check": "dandiset_commands:metadata_check"},
    "export": {"file-manifest": "consumer_commands:export_file_manifest_command"},
}


def _command(name: str, where: str, markup: Any) -> Any:
    """The click command `name`, from `where` ("module:function" in publishkit.cli), with its
    help as paragraphs that the terminal wraps: a docstring's own line breaks would otherwise
    show, and wrap mid-sentence in any width but the source's."""
    module, function = where.split(":")
    # the import statement's own path, which `python -X importtime` times (import_module's is not)
    callback = getattr(__import__(f"publishkit.cli.{module}", fromlist=[function]), function)
    text = inspect.getdoc(callback) or ""
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    info = typer.models.CommandInfo(
        name=name, callback=callback, help="\n\n".join(p for p in paragraphs if p)
    )
    command = typer.main.get_command_from_info(
        info, pretty_exceptions_short=True, rich_markup_mode=markup
    )
    return plain_values(command)  # pydantic imported only for a value typer must explain


class _Commands(MutableMapping[str, Any]):
    """A group's commands: each built from its module when first looked up; the names (and
    the groups added by typer) known without importing anything."""

    def __init__(self, lazy: dict[str, str], built: MutableMapping[str, Any], markup: Any):
        self._lazy = lazy
        self._built = dict(built)
        self._markup = markup

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in self._lazy:
                raise KeyError(name)
            self._built[name] = _command(name, self._lazy[name], self._markup)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._lazy = {k: v for k, v in self._lazy.items() if k != name}
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._lazy
        yield from (name for name in self._built if name not in self._lazy)

    def __len__(self) -> int:
        return len(set(self._lazy) | set(self._built))


def _lazy(commands: dict[str, str]) -> type[_Group]:
    """The group class whose commands are `commands`, each imported when looked up."""

    class Lazy(_Group):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            self.commands = _Commands(commands, self.commands, self.rich_markup_mode)
            plain_values(self)  # --verbose, --version

    return Lazy


app = typer.Typer(
    cls=_lazy(ROOT),
    help="Publish neurophysiology data: versioned S3 releases pinned by manifests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _group(commands: dict[str, str], help: str) -> typer.Typer:
    return typer.Typer(cls=_lazy(commands), help=help, no_args_is_help=True)


app.add_typer(_group(GROUPS["manifest"], "Work with manifest files."), name="manifest")
app.add_typer(_group(GROUPS["templates"], "NWB conversion templates."), name="templates")
dandi_app = _group({}, "The DANDI dandiset's own metadata.")
dandi_app.add_typer(
    _group(GROUPS["dandi metadata"], "dandiset.yaml: the dandiset's metadata."), name="metadata"
)
app.add_typer(dandi_app, name="dandi")
app.add_typer(_group(GROUPS["export"], "Tables for data consumers."), name="export")


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"publishkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    for handler in list(log.handlers):
        log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)  # botocore's loggers stay quiet


def main() -> None:
    """Run the command; exit with its code, or 130/143 when SIGINT/SIGTERM arrived meanwhile."""
    SIGNALS.install()
    code: int | str | None = 0
    where = "before the command started; nothing was written"  # during the imports
    try:
        if SIGNALS.received is None:
            where = "as the command ended"
            app(prog_name="publishkit")
    except SystemExit as exit:
        code = exit.code
        if code == 130 and SIGNALS.received is not None and not SIGNALS.reported:
            where = WHILE_RUNNING  # typer's own exit for a KeyboardInterrupt as it parsed
    except KeyboardInterrupt:  # a second signal while the first was being reported
        code = 1  # said below
    SIGNALS.finished()
    if isinstance(code, str):
        err.print(code, markup=False)
        code = 1
    if SIGNALS.received is not None and not SIGNALS.reported:  # cut short outside a command
        cut = SIGNALS.error(where)
        err.print(f"error: {cut.message} (fix: {cut.hint})", markup=False)
        code = cut.exit_code
    SIGNALS.ignore()
    _exit(code or 0)


def _exit(code: int) -> None:
    """Exit through the interpreter's own exit (threads joined, atexit handlers run, output
    flushed), without the cost of its teardown. With pynwb, dandi and boto3 loaded, what
    takes time there (0.3-1.5 s, up to a fifth of an incremental release) is the garbage
    collector walking every object at each step of the modules' teardown; `gc.freeze()` moves
    them out of its sight (0.1 s left). No public call skips the teardown itself, and the
    private ones (`atexit._run_exitfuncs`, `threading._shutdown`, then `os._exit`) are not
    needed: the objects frozen are released by the teardown all the same, as a refcount drops
    to zero; only cycles of garbage left at exit are not collected, and nothing publishkit
    writes is left open by then (tests/cli/test_exit.py).

    And without the interpreter's mark of a KeyboardInterrupt left unhandled: CPython sets it
    when one leaves an `exec` or `eval` of a string (how dataclasses and namedtuples build
    their methods, e.g. in a module imported as the signal came), even when the command then
    caught it, and `python -m` kills itself with SIGINT after an exit that finds the mark set
    (exit -2, not 130). Each such evaluation clears the mark as it starts; the signals are
    ignored by now, so nothing can set it again."""
    eval("None")  # a constant: what counts is that a string is evaluated
    gc.freeze()
    sys.exit(code)
