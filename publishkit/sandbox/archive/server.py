"""The local archive served on loopback, in a background thread."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler

from publishkit.sandbox.archive.app import DandiApp
from publishkit.sandbox.archive.blobs import BlobStorage
from publishkit.sandbox.archive.documents import Site
from publishkit.sandbox.archive.store import DandiStore
from publishkit.sandbox.archive.tasks import ArchiveTasks
from publishkit.sandbox.s3 import LoopbackServer

logger = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to this module's logger at DEBUG, never to stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("%s - " + message, self.address_string(), *args)


class DandiSandbox:
    """The local archive served on 127.0.0.1 in a background thread; a context manager."""

    def __init__(
        self,
        s3_endpoint: str,
        bucket: str,
        region: str,
        db_path: Path,
        port: int = 0,
        task_interval: float = 0.2,
    ) -> None:
        self.store = DandiStore(db_path)
        storage = BlobStorage(s3_endpoint, bucket, region)
        self.app = DandiApp(self.store, storage)
        self.tasks = ArchiveTasks(self.store, storage, self._site, task_interval)
        self._loopback = LoopbackServer("DANDI", port)

    @property
    def api_key(self) -> str:
        return self.store.api_key()

    @property
    def api_url(self) -> str:
        return f"{self._loopback.url}/api"

    def _site(self) -> Site:
        api = self.api_url
        return Site(api=api, web=api.removesuffix("/api"))

    @property
    def api_key_env_var(self) -> str:
        """Where dandi-cli looks for the key: its instance name (the API's host:port) + _API_KEY."""
        host = urlsplit(self.api_url).netloc
        return f"{host.upper().replace('-', '_')}_API_KEY"

    def environment(self) -> dict[str, str]:
        """What a shell needs for `dandi upload` etc. to use this archive without `-i`."""
        return {"DANDI_INSTANCE": self.api_url, self.api_key_env_var: self.api_key}

    def start(self) -> str:
        if not self._loopback.running:
            self._loopback.start(self.app, _QuietHandler)
            self.tasks.start()
            logger.info("DANDI sandbox serving %s", self.api_url)
        return self.api_url

    def create_dandiset(self, name: str) -> str:
        """An empty dandiset with a draft version; its 6-digit identifier."""
        return self.store.create_dandiset(name).identifier

    def stop(self) -> None:
        self.tasks.stop()
        self._loopback.stop()
        self.store.close()

    def __enter__(self) -> DandiSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
