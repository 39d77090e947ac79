"""The `publishkit` command: the Typer app, its one error boundary, and the exit.

Commands live in their groups (release, stages, consume, tools) as plain functions; they are
registered here, in the order `--help` lists them. Only `publishkit.cli` imports typer and rich,
prints, exits, or reads the environment.
"""

from __future__ import annotations

import errno
import gc
import inspect
import logging
import os
import sys
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from publishkit import __version__
from publishkit.cli import consume, dandiset, reading, release, render, site, stages, tools
from publishkit.cli.render import err, out
from publishkit.cli.signals import SIGNALS
from publishkit.errors import Interrupted, PublishkitError
from publishkit.inspection.report import workflow_command
from publishkit.writable import write_error

log = logging.getLogger("publishkit")
INVOKED = "publishkit.invoked"  # ctx.meta: the subcommand and its arguments, for `_asked_format`
WHILE_RUNNING = "while it ran; the step under way stopped and no step after it started"


class _Group(typer.core.TyperGroup):
    """Turns every PublishkitError into its message, its hint and its exit code: here only;
    in the format the command was asked for (`--format json`: a JSON object on stdout)."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta[INVOKED] = (name, command, list(rest))
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
        render.print_json({"error": error, "hint": hint, "exit_code": exit_code})
    elif asked == "github":
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


app = typer.Typer(
    cls=_Group,
    help="Publish neurophysiology data: versioned S3 releases pinned by manifests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


manifest_app = typer.Typer(cls=_Group, help="Work with manifest files.", no_args_is_help=True)


templates_app = typer.Typer(cls=_Group, help="NWB conversion templates.", no_args_is_help=True)


export_app = typer.Typer(cls=_Group, help="Tables for data consumers.", no_args_is_help=True)


dandi_app = typer.Typer(cls=_Group, help="The DANDI dandiset's own metadata.", no_args_is_help=True)


dandi_metadata_app = typer.Typer(
    cls=_Group, help="dandiset.yaml: the dandiset's metadata.", no_args_is_help=True
)


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


app.command()(release.release)
app.command()(consume.notes)
app.command()(site.site)
app.command()(consume.verify)
app.command()(consume.fetch)
app.command("ls")(reading.ls)
app.command("show")(reading.show)
manifest_app.command("validate")(consume.manifest_validate)
app.add_typer(manifest_app, name="manifest")
app.command("schema")(tools.schema_command)
app.command()(tools.sandbox)
app.command("inspect")(stages.inspect_command)
templates_app.command("list")(tools.templates_list)
templates_app.command("show")(tools.templates_show)
app.add_typer(templates_app, name="templates")
app.command()(tools.init)
app.command()(stages.convert)
app.command()(stages.organize)
app.command()(stages.upload)
dandi_metadata_app.command("check")(dandiset.metadata_check)
dandi_app.add_typer(dandi_metadata_app, name="metadata")
app.add_typer(dandi_app, name="dandi")
export_app.command("file-manifest")(consume.export_file_manifest_command)
app.add_typer(export_app, name="export")
app.command()(release.demo)
app.command()(release.status)


def _reflow_help(*apps: typer.Typer) -> None:
    """Commands' help as paragraphs that the terminal wraps: a docstring's own line breaks
    would otherwise show, and wrap mid-sentence in any width but the source's."""
    for each in apps:
        for info in each.registered_commands:
            text = info.help or inspect.getdoc(info.callback) or ""
            paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
            info.help = "\n\n".join(p for p in paragraphs if p)


_reflow_help(app, manifest_app, templates_app, export_app, dandi_metadata_app)


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
