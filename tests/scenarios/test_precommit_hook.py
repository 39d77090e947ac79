"""The `publishkit-inspect` pre-commit hook blocks real `git commit`s of NWB files.

These tests use the real `pre-commit` tool exactly as a user would: a temporary git
repository gets a `.pre-commit-config.yaml` naming this checkout as the hook repository,
`pre-commit install` puts the git hook in place, and then plain `git commit` runs it.

pre-commit only installs hooks from a committed `rev`, while this checkout usually has
uncommitted work (the hook manifest itself, while it is developed). `pre-commit try-repo`
does not help: its shadow commit takes modified and *staged* files only, so untracked files
(a new `.pre-commit-hooks.yaml` or module) are silently left out, and it never runs
`git commit`. So the module fixture copies the checkout's working tree -- tracked files as
they are on disk plus untracked files that are not ignored, i.e. what `git add -A` would
commit -- into a fresh repository under the test's temporary folder, commits it there, and
names that repository and commit in `repo:` and `rev:`. The checkout itself is never touched.

pre-commit then clones that snapshot and `pip install`s it with its dependencies into a new
virtualenv under a temporary PRE_COMMIT_HOME, once for the module (`pre-commit
install-hooks`, the slow part: about a minute with a warm pip cache). HOME, the XDG folders
(so publishkit's findings cache), PRE_COMMIT_HOME and git's global and system configuration
all point into temporary folders; pip keeps the developer's download cache (PIP_CACHE_DIR)
and user configuration file (PIP_CONFIG_FILE, e.g. an index mirror) so installs stay fast
and work where they normally work.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.nwbfactory import write_nwb

ROOT = Path(__file__).resolve().parents[2]
HOOK_ID = "publishkit-inspect"
HOOK_NAME = "inspect NWB files (nwbinspector + DANDI checks)"
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


def _without_git_vars(env: Mapping[str, str]) -> dict[str, str]:
    """`env` minus GIT_* (GIT_DIR, GIT_INDEX_FILE... leak in when tests run from a git hook)."""
    return {k: v for k, v in env.items() if not k.startswith("GIT_")}


def _run(
    args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def _ok(args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 300) -> str:
    done = _run(args, cwd, env, timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}"
    return done.stdout


def _pip_settings() -> dict[str, str]:
    """The developer's pip cache and user config file, which a temporary HOME would hide."""
    settings: dict[str, str] = {}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    env = _without_git_vars(os.environ)
    cache = subprocess.run([*pip, "cache", "dir"], capture_output=True, text=True, env=env)
    if cache.returncode == 0 and cache.stdout.strip():  # fails when the cache is disabled
        settings["PIP_CACHE_DIR"] = cache.stdout.strip()
    if "PIP_CONFIG_FILE" not in os.environ:
        debug = subprocess.run([*pip, "config", "debug"], capture_output=True, text=True, env=env)
        section, user_files = "", []
        for line in debug.stdout.splitlines():
            if not line.startswith(" "):
                section = line.rstrip(":")
            elif section == "user" and (m := re.fullmatch(r"  (.+), exists: True", line)):
                user_files.append(m[1])
        if user_files:  # the last one wins in pip, as PIP_CONFIG_FILE does
            settings["PIP_CONFIG_FILE"] = user_files[-1]
    return settings


def _snapshot_checkout(dest: Path, env: Mapping[str, str]) -> str:
    """Commit the checkout's working tree (as `git add -A` sees it) in a new repo at `dest`."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        env=_without_git_vars(os.environ),  # the developer's git config: safe.directory etc.
    )
    if listed.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {listed.stderr.decode(errors='replace')}")
    for name in sorted({os.fsdecode(n) for n in listed.stdout.split(b"\0") if n}):
        source = ROOT / name
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted in the working tree but not yet from the index
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    _ok(["git", "init", "-q", "-b", "main"], dest, env)
    _ok(["git", "add", "-A"], dest, env)
    _ok(["git", "commit", "-q", "--no-verify", "-m", "publishkit working tree"], dest, env)
    return _ok(["git", "rev-parse", "HEAD"], dest, env).strip()


@dataclass
class HookInstall:
    """A snapshot of the checkout as a hook repository, with its pre-commit env built."""

    repo: Path
    rev: str
    env: dict[str, str]

    def config(self) -> str:
        return (
            "repos:\n"
            f"  - repo: {json.dumps(str(self.repo))}\n"
            f"    rev: {self.rev}\n"
            "    hooks:\n"
            f"      - id: {HOOK_ID}\n"
        )


@pytest.fixture(scope="module")
def hook_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookInstall]:
    base = tmp_path_factory.mktemp("precommit-hook")
    home = base / "home"
    env = {
        k: v
        for k, v in _without_git_vars(os.environ).items()
        if not k.startswith(("AWS_", "PRE_COMMIT", "XDG_")) and k != "SKIP"  # SKIP=<hook ids>
    }
    env.update(_pip_settings())
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PRE_COMMIT_HOME=str(base / "pre-commit-home"),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Hook Tester",
        GIT_AUTHOR_EMAIL="hook.tester@example.org",
        GIT_COMMITTER_NAME="Hook Tester",
        GIT_COMMITTER_EMAIL="hook.tester@example.org",
    )
    home.mkdir()
    snapshot = base / "publishkit-snapshot"
    snapshot.mkdir()
    rev = _snapshot_checkout(snapshot, env)
    install = HookInstall(snapshot, rev, env)
    _ok([*PRE_COMMIT, "validate-manifest", str(snapshot / ".pre-commit-hooks.yaml")], base, env)
    # Build the hook's virtualenv once (clone, pip install publishkit and its dependencies).
    seed = base / "seed"
    seed.mkdir()
    _ok(["git", "init", "-q", "-b", "main"], seed, env)
    (seed / ".pre-commit-config.yaml").write_text(install.config())
    _ok([*PRE_COMMIT, "install-hooks"], seed, env, timeout=1800)
    yield install
    # The hook's virtualenv is ~800 MB; pytest keeps the last three runs' temporary folders.
    shutil.rmtree(env["PRE_COMMIT_HOME"], ignore_errors=True)


@dataclass
class UserRepo:
    """A user's data repository with the hook installed; its own publishkit cache."""

    root: Path
    env: dict[str, str]
    cache: Path

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(["git", *args], self.root, self.env)

    def commit(self, message: str) -> subprocess.CompletedProcess[str]:
        return self.git("commit", "-m", message)

    def commits(self) -> int:
        return int(self.git("rev-list", "--count", "HEAD").stdout)

    def committed_files(self) -> list[str]:
        return self.git("ls-tree", "-r", "--name-only", "HEAD").stdout.split()


@pytest.fixture
def user_repo(hook_install: HookInstall, tmp_path: Path) -> UserRepo:
    env = dict(hook_install.env, XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))
    repo = UserRepo(tmp_path / "data-repo", env, tmp_path / "xdg-cache" / "publishkit")
    repo.root.mkdir()
    _ok(["git", "init", "-q", "-b", "main"], repo.root, env)
    (repo.root / ".pre-commit-config.yaml").write_text(hook_install.config())
    _ok([*PRE_COMMIT, "install"], repo.root, env)
    assert repo.git("add", ".pre-commit-config.yaml").returncode == 0
    done = repo.commit("Add pre-commit configuration")
    assert done.returncode == 0, done.stdout
    return repo


def _hook_line(status: str) -> re.Pattern[str]:
    """pre-commit's `name.....status` line for the hook."""
    return re.compile(rf"^{re.escape(HOOK_NAME)}\.+{re.escape(status)}$", re.MULTILINE)


@pytest.mark.slow
def test_commit_with_a_critical_finding_is_blocked_and_the_rerun_is_cached(
    user_repo: UserRepo,
) -> None:
    write_nwb(user_repo.root / "sessions" / "bad.nwb", subject_id=None)
    assert user_repo.git("add", "sessions/bad.nwb").returncode == 0

    first = user_repo.commit("Add a session without a subject")
    assert first.returncode != 0, first.stdout
    out = first.stdout
    assert _hook_line("Failed").search(out), out
    assert f"- hook id: {HOOK_ID}" in out
    assert "sessions/bad.nwb: CRITICAL check_subject_exists at /: Subject is missing." in out
    assert "(1 file(s), 0 from cache)" in out
    assert user_repo.commits() == 1  # only the configuration commit

    # The same staged content again: the findings come from publishkit's cache.
    second = user_repo.commit("Add a session without a subject")
    assert second.returncode != 0, second.stdout
    assert "sessions/bad.nwb: CRITICAL check_subject_exists" in second.stdout
    assert "(1 file(s), 1 from cache)" in second.stdout, second.stdout
    assert user_repo.commits() == 1


@pytest.mark.slow
def test_commit_of_a_clean_nwb_file_passes(user_repo: UserRepo) -> None:
    write_nwb(user_repo.root / "sessions" / "good.nwb")
    # A bad file that is not staged is not the commit's business.
    write_nwb(user_repo.root / "sessions" / "draft.nwb", subject_id=None)
    assert user_repo.git("add", "sessions/good.nwb").returncode == 0

    done = user_repo.commit("Add a session")
    assert done.returncode == 0, done.stdout
    assert _hook_line("Passed").search(done.stdout), done.stdout
    assert user_repo.commits() == 2
    assert "sessions/good.nwb" in user_repo.committed_files()
    assert "sessions/draft.nwb" not in user_repo.committed_files()
    assert user_repo.cache.is_dir()  # publishkit ran


@pytest.mark.slow
def test_commit_without_nwb_files_skips_the_hook(user_repo: UserRepo) -> None:
    (user_repo.root / "notes.md").write_text("Recording notes.\n")
    assert user_repo.git("add", "notes.md").returncode == 0

    done = user_repo.commit("Add notes")
    assert done.returncode == 0, done.stdout
    assert _hook_line("(no files to check)Skipped").search(done.stdout), done.stdout
    assert user_repo.commits() == 2
    assert not user_repo.cache.exists()  # publishkit never started
