"""The `publishkit` command: the Typer app, its one error boundary, and the exit.

Commands live in their groups (release, stages, consume, tools) as plain functions; they are
registered here, in the order `--help` lists them. Only `publishkit.cli` imports typer and rich,
prints, exits, or reads the environment.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.exceptions import TyperException

from publishkit import __version__
from publishkit.cli import consume, release, stages, tools
from publishkit.cli.render import err, out
from publishkit.errors import PublishkitError

log = logging.getLogger("publishkit")


class _Group(typer.core.TyperGroup):
    """Turns every PublishkitError into its message, its hint and its exit code: here only."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except PublishkitError as exc:
            hint = f" (fix: {exc.hint})" if exc.hint else ""
            err.print(f"error: {escape(exc.message)}{escape(hint)}")
            raise typer.Exit(exc.exit_code) from None
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:  # a bug: say so in one line; --verbose logs the traceback
            log.debug("unexpected error", exc_info=True)
            err.print(
                f"internal error: {type(exc).__name__}: {escape(str(exc))} "
                "(please report it; --verbose shows the traceback)"
            )
            raise typer.Exit(1) from None


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
app.command()(consume.verify)
app.command()(consume.fetch)
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


_reflow_help(app, manifest_app, templates_app, export_app)


def main() -> None:
    try:
        app(prog_name="publishkit")
    except SystemExit as exit:
        _exit_now(exit.code)
    _exit_now(0)


def _exit_now(code: int | str | None) -> None:
    """Exit once every exit handler ran and the output is flushed, without the interpreter's
    module-by-module teardown: with pynwb, dandi and boto3 loaded that alone takes 0.3-0.5 s,
    a fifth of an incremental release. Nothing publishkit writes is left open by then."""
    import atexit
    import threading

    if isinstance(code, str):
        err.print(code)
        code = 1
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or debugger writes its results after main() returns
    threading_shutdown = getattr(threading, "_shutdown", None)
    if threading_shutdown is not None:
        threading_shutdown()  # joins running threads, as the interpreter's own exit would
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
