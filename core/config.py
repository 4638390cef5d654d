"""The user's configuration file: model aliases, UI preferences, key bindings, approval rules.

`$XDG_CONFIG_HOME/baton/config.toml` (or `BATON_CONFIG`). Keys never live here: a model that needs a
key reads it from the environment (the provider's usual variable, or `api_key_env`).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from baton.core import paths
from baton.core.policy.rules import Rule
from baton.core.spec.model import ModelSpec, WorkflowSpec
from baton.core.spec.model_checks import provider_problem
from baton.core.spec.model_refs import workflow_aliases

BUILTIN_MODELS: dict[str, ModelSpec] = {
    "fast": ModelSpec(model="mock/fast"),
    "strong": ModelSpec(model="mock/strong"),
}
"""Aliases every workflow may use; the bundled offline model, so anything runs with no key."""


class ConfigInvalid(Exception):
    """The config file has a problem; the message is `file:line:col: message`."""


@dataclass
class Config:
    """What the config file says (every part optional)."""

    path: Path | None = None
    models: dict[str, ModelSpec] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    """Accepted approval rules (`[rules.ID]`), applied to the sessions that start from now on."""
    dismissed: list[str] = field(default_factory=list)
    """Ids of proposed rules a person dismissed (`[policy] dismissed`): never proposed again."""


def config_path() -> Path:
    """`BATON_CONFIG`, else `$XDG_CONFIG_HOME/baton/config.toml`."""
    env = os.environ.get("BATON_CONFIG")
    return Path(env) if env else paths.config_dir() / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file is an empty config."""
    path = path or config_path()
    if not path.exists():
        return Config(path=path)
    try:
        text = _read(path)
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigInvalid(f"{path}:1:1: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, col = (match.group(1), match.group(2)) if match else ("1", "1")
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigInvalid(f"{path}:{line}:{col}: {message}") from None
    models: dict[str, ModelSpec] = {}
    for alias, value in (data.get("models") or {}).items():
        raw = {"model": value} if isinstance(value, str) else value
        line = _line_of(text, alias)
        if isinstance(raw, dict) and any(k in raw for k in ("api_key", "key", "secret")):
            raise ConfigInvalid(
                f"{path}:{line}:1: [models.{alias}] has a key: keys come from the environment (use api_key_env)"
            )
        try:
            models[alias] = ModelSpec.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigInvalid(f"{path}:{line}:1: [models.{alias}] {where}: {first['msg']}") from None
        problem = provider_problem(alias, models[alias].model, [*BUILTIN_MODELS, *(data.get("models") or {})])
        if problem:
            raise ConfigInvalid(f"{path}:{line}:1: [models] {problem}")
    ui = data.get("ui") or {}
    keys = {str(k): str(v) for k, v in (data.get("keys") or {}).items()}
    rules, dismissed = _policy_part(path, text, data)
    return Config(path=path, models=models, ui=dict(ui), keys=keys, rules=rules, dismissed=dismissed)


def _line_of(text: str, alias: str) -> int:
    """The line that defines a model alias (`alias = …` or `[models.alias]`), 1 when not found."""
    name = re.escape(alias)
    pattern = re.compile(rf'^\s*(?:"{name}"|{name})\s*=|^\s*\[models\.(?:"{name}"|{name})\]', re.MULTILINE)
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def _read(path: Path) -> str:
    """The config file's text; a FIFO, a device or a folder is refused, never read (it could block)."""
    try:
        return paths.read_regular(path).decode("utf-8")
    except paths.NotRegularFile as exc:
        raise ConfigInvalid(str(exc)) from None
    except OSError as exc:
        raise ConfigInvalid(f"{path}: cannot read the config file: {exc.strerror or exc}") from None


def resolve_models(
    spec: WorkflowSpec, config: Config | None = None, overrides: dict[str, str] | None = None
) -> dict[str, ModelSpec]:
    """Aliases for a run: built-ins, then the workflow's, then the config file's, then `--model a=m`.

    The config wins over the workflow so that a user can point a bundled workflow at a real model
    without editing it. An override keeps the alias's other settings but drops offline-model scripting.
    """
    merged = dict(BUILTIN_MODELS)
    merged.update(spec.models)
    if config is not None:
        merged.update(config.models)
    for alias, model in (overrides or {}).items():
        base = merged.get(alias)
        merged[alias] = (
            base.model_copy(update={"model": model, "mock": base.mock if model.startswith("mock/") else None})
            if base
            else ModelSpec(model=model)
        )
    return merged


def known_aliases(config: Config | None = None) -> list[str]:
    """Alias names a workflow may use without declaring them."""
    return sorted(set(BUILTIN_MODELS) | set(config.models if config else {}))


def save_ui_setting(key: str, value: str, path: Path | None = None) -> None:
    """Remember a UI preference (the theme) in the config file, keeping everything else as written."""
    path = path or config_path()
    paths.private_dir(path.parent)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = _set_key(text, "ui", re.escape(key), f'{key} = "{value}"', header="ui")
    path.write_text(text, encoding="utf-8")


# --- approval rules ---------------------------------------------------------------------------------


def _policy_part(path: Path, text: str, data: dict[str, Any]) -> tuple[list[Rule], list[str]]:
    """The `[rules.ID]` tables and `[policy] dismissed`, checked."""
    rules = []
    tables = data.get("rules") or {}
    if not isinstance(tables, dict):
        raise ConfigInvalid(f"{path}:1:1: [rules] holds one table per rule ([rules.ID])")
    for rule_id, table in tables.items():
        line = _line_of_table(text, f"rules.{rule_id}")
        if not isinstance(table, dict):
            raise ConfigInvalid(f"{path}:{line}:1: [rules.{rule_id}] must be a table")
        try:
            rules.append(Rule.from_record({**table, "id": rule_id}))
        except ValueError as exc:
            raise ConfigInvalid(f"{path}:{line}:1: [rules.{rule_id}] {exc}") from None
    dismissed = (data.get("policy") or {}).get("dismissed") or []
    if not isinstance(dismissed, list) or not all(isinstance(d, str) for d in dismissed):
        raise ConfigInvalid(f"{path}:{_line_of_table(text, 'policy')}:1: [policy] dismissed is a list of ids")
    return rules, list(dismissed)


def _line_of_table(text: str, name: str) -> int:
    found = re.search(rf"^\[{re.escape(name)}\]\s*$", text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def save_rule(rule: Rule, path: Path | None = None) -> None:
    """Add an accepted rule as its own `[rules.ID]` table (replacing one with the same id), keeping the
    rest of the file as written."""
    path = path or config_path()
    text = _without_table(_text_of(path), f"rules.{rule.id}")
    lines = [f"[rules.{rule.id}]", f"tool = {_toml(rule.tool)}"]
    if rule.origin:
        lines.append(f"origin = {_toml(rule.origin)}")
    pattern = ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in rule.pattern.items())
    lines.append(f"pattern = {{{pattern}}}" if pattern else "pattern = {}")
    for key in ("evidence", "accepted_by", "accepted_at"):
        value = getattr(rule, key)
        if value:
            lines.append(f"{key} = {_toml(value)}")
    _write_checked(path, (text.rstrip() + "\n\n" if text.strip() else "") + "\n".join(lines) + "\n")


def remove_rule(rule_id: str, path: Path | None = None) -> bool:
    """Take a rule out of the config file; False when it has no `[rules.ID]` table there."""
    path = path or config_path()
    text = _text_of(path)
    kept = _without_table(text, f"rules.{rule_id}")
    if kept == text:
        return False
    _write_checked(path, kept)
    return True


def save_dismissed(ids: list[str], path: Path | None = None) -> None:
    """Remember dismissed proposals (`[policy] dismissed = [...]`), keeping the rest of the file."""
    path = path or config_path()
    text = _text_of(path)
    line = f"dismissed = [{', '.join(_toml(i) for i in ids)}]"
    text = _set_key(text, "policy", "dismissed", line, header="policy")
    _write_checked(path, text)


def _set_key(text: str, table: str, key: str, line: str, header: str = "") -> str:
    """`text` with `line` as the `key = …` line of its `[table]` table (`table` and `key` are patterns),
    replacing the key's line or adding it first; a missing table is added at the end as `[header]`."""
    section = re.search(rf"^\[{table}\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if section is None:
        return (text.rstrip() + "\n\n" if text.strip() else "") + f"[{header}]\n{line}\n"
    body = section.group(1)
    if re.search(rf"^{key}\s*=", body, re.M):
        body = re.sub(rf"^{key}\s*=.*$", lambda _: line, body, count=1, flags=re.M)
    else:
        body = "\n" + line + body
    return text[: section.start(1)] + body + text[section.end(1) :]


def _text_of(path: Path) -> str:
    return _read(path) if path.exists() else ""


def _without_table(text: str, name: str) -> str:
    """`text` less the `[name]` table (its header up to the next header)."""
    found = re.search(rf"^\[{re.escape(name)}\]\s*$.*?(?=^\[|\Z)", text, re.M | re.S)
    if found is None:
        return text
    return (text[: found.start()].rstrip() + "\n\n" + text[found.end() :].lstrip()).strip() + "\n"


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _write_checked(path: Path, text: str) -> None:
    """Write the config file whole or not at all, and only when what is written still reads."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(f"{path}: the change would not be valid TOML ({exc}); nothing was written") from None
    paths.private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


# --- model aliases chosen from decisions ----------------------------------------------------------------


def save_model_alias(alias: str, model: str, path: Path | None = None) -> None:
    """Point the alias at `model` in the config file (`[models] alias = "model"`, or the `model` key of its
    `[models.alias]` table), keeping the rest of the file as written."""
    path = path or config_path()
    text = _text_of(path)
    key = re.escape(alias)
    name = rf'(?:"{key}"|{key})'
    if re.search(rf"^\[models\.{name}\]\s*$", text, re.M):
        text = _set_key(text, rf"models\.{name}", "model", f"model = {_toml(model)}")
    else:
        text = _set_key(text, "models", name, f"{_toml(alias)} = {_toml(model)}", header="models")
    _write_checked(path, text)


OFFLINE_NAMES = ("fast", "strong", "tiny", "long")
"""Offline models with a price (`mock/fast`, …)."""

KeyCheck = Callable[[ModelSpec], list[str]]
"""The credential variables a model needs that are not set (the gateway's `missing_keys`)."""


@dataclass(frozen=True)
class MissingKey:
    """A model a run would call whose key variable is not set."""

    aliases: tuple[str, ...]
    model: str
    variables: tuple[str, ...]

    def __str__(self) -> str:
        names = ", ".join(f"'{a}'" for a in self.aliases)
        needs = " or ".join(self.variables)
        first = self.aliases[0]
        offline = f"mock/{first}" if first in OFFLINE_NAMES else "mock/fast"
        return (
            f"model {names} ({self.model}) needs {needs}, which is not set: export {self.variables[0]}=… "
            f"(keys come from the environment), or run it offline with --model {first}={offline}"
        )


def real_models(spec: WorkflowSpec, models: Mapping[str, ModelSpec]) -> dict[str, ModelSpec]:
    """The models (not the offline one) a run of `spec` may call, by alias, fallbacks included."""
    out: dict[str, ModelSpec] = {}
    for alias in workflow_aliases(spec):
        model = models.get(alias) or (ModelSpec(model=alias) if "/" in alias else None)
        if model is not None and not model.model.startswith("mock/"):
            out[alias] = model
    return out


def missing_keys(models: Mapping[str, ModelSpec], check: KeyCheck) -> list[MissingKey]:
    """Every model in `models` whose key is not set, one entry per model (its aliases together)."""
    found: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for alias, model in models.items():
        variables = tuple(check(model))
        if variables:
            found.setdefault((model.model, variables), []).append(alias)
    return [MissingKey(tuple(aliases), model, variables) for (model, variables), aliases in found.items()]


def keys_missing(spec: WorkflowSpec, models: Mapping[str, ModelSpec]) -> list[MissingKey]:
    """The models a run of `spec` would call whose key is not set, checked before its first call. litellm
    (slow to import) is loaded only when a real, not offline, model is in use."""
    real = real_models(spec, models)
    if not real:
        return []
    from baton.core.llm.gateway import LiteLLMGateway

    llm = LiteLLMGateway()
    return missing_keys(real, lambda m: llm.missing_keys(m.model, m.api_key_env, m.api_base))


def keys_message(missing: list[MissingKey]) -> str:
    """What a run prints instead of starting."""
    lines = [str(problem) for problem in missing]
    lines.append("nothing was run; `baton doctor` checks the keys of every configured model")
    return "\n".join(lines)
