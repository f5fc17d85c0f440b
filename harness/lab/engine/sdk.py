"""The engine through the Docker SDK: the local engine (``DOCKER_HOST`` or the default socket), or
any engine URL the SDK can reach (an existing lab's ``LAB_DOCKER_HOST``, ``ssh://`` included)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.base import timeouts
from harness.base.errors import LabError
from harness.base.waiting import scaled
from harness.lab.engine.base import Engine
from harness.lab.engine.model import PROJECT_LABEL

SDK_TIMEOUT = timeouts.base("inspect")


def docker_client(
    base_url: str | None = None, env: Mapping[str, str] | None = None, timeout: float = SDK_TIMEOUT
) -> Any:
    """A Docker SDK client with a (scaled) timeout on every API call.

    ``base_url`` wins over ``DOCKER_HOST`` in ``env``; ``ssh://`` URLs use the ssh binary (and the
    user's ssh config), not paramiko.
    """
    import os

    import docker
    from docker.errors import DockerException

    environment = dict(os.environ if env is None else env)
    url = base_url or environment.get("DOCKER_HOST")
    try:
        if url:
            return docker.DockerClient(
                base_url=url, timeout=int(scaled(timeout)), use_ssh_client=url.startswith("ssh://")
            )
        return docker.from_env(timeout=int(scaled(timeout)), environment=environment)
    except (DockerException, ValueError, OverflowError) as exc:
        raise LabError(f"Docker engine not reachable at {url or 'the default socket'}: {exc}") from None


class SdkEngine(Engine):
    """A compose project in an engine the Docker SDK reaches; the client is made on first use."""

    def __init__(
        self, project: str, client_factory: Callable[[], Any] | None = None, where: str = "the local engine"
    ):
        super().__init__(project, where)
        self._factory = client_factory or docker_client
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def _errors(self) -> tuple[type[BaseException], ...]:
        from docker.errors import DockerException

        return (DockerException, OSError)

    def ping(self) -> str:
        try:
            return str(self.client.version().get("Version", "?"))
        except self._errors() as exc:
            raise LabError(f"Docker engine at {self.where} does not answer: {exc}") from None

    def inspect_project(self) -> list[Mapping[str, Any]]:
        from docker.errors import NotFound

        try:
            containers = self.client.containers.list(
                all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"}
            )
        except self._errors() as exc:
            raise LabError(
                f"cannot list containers of project {self.project!r} at {self.where}: {exc}"
            ) from None
        out = []
        for container in containers:
            try:
                out.append(container.attrs)
            except NotFound:  # removed while we looked
                continue
        return out

    def _act(self, verb: str, container_id: str) -> None:
        try:
            getattr(self.client.containers.get(container_id), verb)()
        except self._errors() as exc:
            raise LabError(str(exc)) from None

    def _exec(self, container_id: str, command: Sequence[str], user: str | None) -> tuple[int, str]:
        kwargs: dict[str, Any] = {"demux": False}
        if user:
            kwargs["user"] = user
        try:
            code, output = self.client.containers.get(container_id).exec_run(list(command), **kwargs)
        except self._errors() as exc:
            raise LabError(f"exec in {container_id[:12]} at {self.where} failed: {exc}") from None
        return (int(code) if code is not None else -1), (output or b"").decode("utf-8", "replace")

    def _logs(self, container_id: str, tail: int) -> str:
        try:
            text = self.client.containers.get(container_id).logs(tail=tail, timestamps=True)
        except self._errors() as exc:
            raise LabError(f"cannot read the log of {container_id[:12]} at {self.where}: {exc}") from None
        return (text or b"").decode("utf-8", "replace")

    def remove_volumes(self) -> list[str]:
        from harness.base import evidence

        removed = []
        try:
            for volume in self.client.volumes.list(filters={"label": f"{PROJECT_LABEL}={self.project}"}):
                volume.remove(force=True)
                removed.append(volume.name)
        except self._errors() as exc:
            raise LabError(f"cannot remove the volumes of project {self.project!r}: {exc}") from None
        if removed:
            evidence.attach("docker", f"remove volumes of {self.project}", volumes=removed)
        return removed

    def image_ids(self) -> dict[str, str]:
        try:
            return {tag: image.id for image in self.client.images.list() for tag in image.tags}
        except self._errors() as exc:
            raise LabError(f"cannot list the images at {self.where}: {exc}") from None

    def registry_answers(self, image: str, timeout: float = 10.0) -> tuple[bool, str]:
        """Whether the engine's registry answers for ``image`` (a manifest lookup, nothing pulled),
        within ``timeout`` seconds whatever the network does; and what it said."""
        import threading

        outcome: list[tuple[bool, str]] = []

        def ask() -> None:
            try:
                self.client.api.inspect_distribution(image)
                outcome.append((True, f"{image.split('/')[0]} answered"))
            except Exception as exc:  # any failure means "no registry here"
                outcome.append((False, f"{image.split('/')[0]}: {' '.join(str(exc).split())[:200]}"))

        worker = threading.Thread(target=ask, daemon=True)
        worker.start()
        worker.join(timeout)
        return outcome[0] if outcome else (False, f"{image.split('/')[0]}: no answer within {timeout:.0f}s")

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
