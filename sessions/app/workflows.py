"""Finding and loading the workflows a person names: a file, or a bundled or local workflow by name.

Every front end (the CLI, the Home screen, line mode) goes through here, so a name means the same thing
everywhere and a bad file gets the same one-line error everywhere.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from baton.core import paths
from baton.core.config import Config, ConfigInvalid, known_aliases, load_config
from baton.core.spec.load import Workflow, load_workflow
from baton.core.spec.problems import WorkflowInvalid
from baton.sessions.errors import InvalidInput
from baton.sessions.text import shown


def bundled_dir() -> Path:
    """Where the bundled workflows are installed."""
    return Path(str(resources.files("baton.flows")))


def bundled_flows() -> list[Path]:
    """The bundled workflow files."""
    return sorted(bundled_dir().glob("*.yaml"))


def local_flows(cwd: Path | None = None) -> list[Path]:
    """Workflow files in `./flows/` and the current directory."""
    base = cwd or Path.cwd()
    found = [*sorted((base / "flows").glob("*.yaml")), *sorted(base.glob("*.yaml"))]
    bundled = {p.resolve() for p in bundled_flows()}
    return [p for p in found if p.resolve() not in bundled]


def resolve_flow(name: str) -> Path:
    """A path, or the name of a bundled or local workflow (`demo`, `map`, ...). A path that exists but is
    not a regular file (a FIFO, a device) is refused before anything opens it: reading it could hang."""
    path = Path(name)
    if path.exists():
        if not path.is_dir():
            _regular(path)
        return path
    for candidate in (bundled_dir() / f"{name}.yaml", Path("flows") / f"{name}.yaml", Path(f"{name}.yaml")):
        if candidate.exists():
            _regular(candidate)
            return candidate
    names = ", ".join(p.stem for p in bundled_flows())
    raise InvalidInput(f"no workflow {shown(name)}: not a file, and not a bundled one ({names})")


class FileRefused(InvalidInput):
    """The path names something other than a regular file; the message starts with the path."""


def _regular(path: Path) -> None:
    try:
        paths.check_regular(path)
    except paths.NotRegularFile as exc:
        raise FileRefused(str(exc)) from None


def config() -> Config:
    """The config file, or `InvalidInput` naming its problem."""
    try:
        return load_config()
    except ConfigInvalid as exc:
        raise InvalidInput(str(exc)) from None


def config_or_empty() -> Config:
    """The config file, or an empty one when it is broken (a screen that already said so goes on)."""
    try:
        return load_config()
    except ConfigInvalid:
        return Config()


def load_flow(name: str, config: Config) -> Workflow:
    """Resolve and load a workflow, or raise `InvalidInput` with every problem (one per line)."""
    path = resolve_flow(name)
    try:
        return load_workflow(path, known_aliases(config))
    except WorkflowInvalid as exc:
        raise InvalidInput(str(exc)) from None
