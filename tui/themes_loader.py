"""Themes are data: TOML files validated into Textual themes, with baton's own colour variables.

Bundled themes live in `themes/`; a user adds more in `$XDG_CONFIG_HOME/baton/themes/*.toml`. A broken
user theme never stops the app: loading returns the good themes and a `file:line:col: message` per problem.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.notifications import SeverityLevel
from textual.theme import Theme

from baton.core import paths

DEFAULT_THEME = "baton-dark"
COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
APP_VARIABLES = (
    "agent-pending",
    "agent-running",
    "agent-awaiting",
    "agent-done",
    "agent-degraded",
    "agent-failed",
    "agent-skipped",
    "agent-cancelled",
    "diff-added",
    "diff-removed",
    "cost",
    "inbox",
)
"""Colours baton's stylesheets use beyond Textual's own; every theme may set them, none has to."""

_TOP_KEYS = {"name", "dark", "description", "colors", "variables", "luminosity_spread", "text_alpha"}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VAR_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_STYLE_WORDS = {"bold", "italic", "underline", "reverse", "strike", "dim", "none", "not"}


class ThemeInvalid(Exception):
    """A theme file has a problem; the message is `file:line:col: message`."""


@dataclass(frozen=True)
class ThemeProblem:
    """One theme file that could not be used."""

    path: Path
    message: str

    def __str__(self) -> str:
        return self.message


def variable_defaults(theme: Theme) -> dict[str, str]:
    """Values of baton's variables for a theme that does not set them, derived from its own colours."""
    fg = theme.foreground or ("#e0e0e0" if theme.dark else "#1e1e1e")
    muted = Color.parse(fg).blend(Color.parse(theme.background or ("#000000" if theme.dark else "#ffffff")), 0.45)
    success = theme.success or "#4ebf71"
    error = theme.error or "#ba3c5b"
    warning = theme.warning or "#ffa62b"
    return {
        "agent-pending": muted.hex,
        "agent-running": theme.primary,
        "agent-awaiting": warning,
        "agent-done": success,
        "agent-degraded": theme.accent or warning,
        "agent-failed": error,
        "agent-skipped": muted.hex,
        "agent-cancelled": theme.secondary or theme.primary,
        "diff-added": success,
        "diff-removed": error,
        "cost": theme.primary,
        "inbox": warning,
    }


def parse_theme(text: str, path: Path) -> Theme:
    """One theme file's text → a Textual theme, or `ThemeInvalid` naming the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, col = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ThemeInvalid(f"{path}:{line}:{col}: {message}") from None

    def fail(message: str, key: str = "", section: str = "") -> ThemeInvalid:
        line, col = _position(text, key, section)
        return ThemeInvalid(f"{path}:{line}:{col}: {message}")

    for key in data:
        if key not in _TOP_KEYS:
            raise fail(f"unknown key '{key}' (known: {', '.join(sorted(_TOP_KEYS))})", key)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise fail("'name' must be lowercase letters, digits, '-' or '_'", "name")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise fail("'dark' must be true or false", "dark")
    colors = data.get("colors", {})
    if not isinstance(colors, dict):
        raise fail("[colors] must be a table", "colors")
    for key, value in colors.items():
        if key not in COLOR_KEYS:
            raise fail(f"unknown colour '{key}' (known: {', '.join(COLOR_KEYS)})", key, "colors")
        _check_color(value, lambda m, k=key: fail(f"colour '{k}': {m}", k, "colors"))
    if "primary" not in colors:
        raise fail("[colors] needs at least 'primary'", "colors")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise fail("[variables] must be a table", "variables")
    for key, value in variables.items():
        if not _VAR_RE.match(key):
            raise fail(f"variable name '{key}' must be lowercase words joined by '-'", key, "variables")
        if key.endswith("text-style"):
            if not isinstance(value, str) or not set(value.split()) <= _STYLE_WORDS:
                raise fail(f"variable '{key}': a text style such as 'bold' or 'none'", key, "variables")
            continue
        _check_color(value, lambda m, k=key: fail(f"variable '{k}': {m}", k, "variables"))
    numbers: dict[str, float] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise fail(f"'{key}' must be a number from 0 to 1", key)
            numbers[key] = float(value)
    theme = Theme(name=name, primary=str(colors["primary"]), dark=dark)
    for key, value in colors.items():
        setattr(theme, key, str(value))
    for key, number in numbers.items():
        setattr(theme, key, number)
    theme.variables = {str(k): str(v) for k, v in variables.items()}
    return theme


def _check_color(value: Any, fail: Any) -> None:
    if not isinstance(value, str):
        raise fail('expected a colour string such as "#5fa8ff"')
    base, _, alpha = value.strip().partition(" ")
    try:
        Color.parse(base)
    except ColorParseError:
        raise fail(f"'{value}' is not a colour") from None
    if alpha and not re.fullmatch(r"\d{1,3}%", alpha.strip()):
        raise fail(f"'{value}': only a percentage may follow the colour")


def _position(text: str, key: str, section: str) -> tuple[int, int]:
    """Line and column of `key` (inside `[section]` when given); 1:1 when it cannot be found."""
    if not key:
        return 1, 1
    lines = text.splitlines()
    start = 0
    if section:
        for number, line in enumerate(lines):
            if re.match(rf"^\s*\[{re.escape(section)}\]\s*(#.*)?$", line):
                start = number + 1
                break
    for number in range(start, len(lines)):
        match = re.match(rf"^(\s*)(\[)?\"?{re.escape(key)}\"?\s*(=|\])", lines[number])
        if match:
            return number + 1, len(match.group(1)) + 1
    return 1, 1


def load_theme_file(path: Path) -> Theme:
    """Read and parse one theme file."""
    try:
        text = paths.read_regular(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ThemeInvalid(f"{path}:1:1: not valid UTF-8") from None
    except paths.NotRegularFile as exc:
        raise ThemeInvalid(str(exc)) from None
    except OSError as exc:
        raise ThemeInvalid(f"{path}:1:1: cannot read: {exc.strerror}") from None
    return parse_theme(text, path)


def bundled_dir() -> Path:
    """Where the bundled theme files are installed."""
    return Path(str(resources.files("baton.themes")))


def user_dir() -> Path:
    """`$XDG_CONFIG_HOME/baton/themes`."""
    return paths.config_dir() / "themes"


def load_themes(files: Iterable[Path]) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every file that parses, and a problem for every file that does not (a later name wins)."""
    themes: list[Theme] = []
    problems: list[ThemeProblem] = []
    for path in files:
        try:
            themes.append(load_theme_file(path))
        except ThemeInvalid as exc:
            problems.append(ThemeProblem(path, str(exc)))
    return themes, problems


def bundled_themes() -> list[Theme]:
    """baton's own themes (a broken bundled file is a bug, so it raises)."""
    themes, problems = load_themes(sorted(bundled_dir().glob("*.toml")))
    if problems:
        raise ThemeInvalid("; ".join(str(p) for p in problems))
    return themes


def user_themes(directory: Path | None = None) -> tuple[list[Theme], list[ThemeProblem]]:
    """The user's theme files (none when the directory does not exist)."""
    folder = directory or user_dir()
    if not folder.is_dir():
        return [], []
    return load_themes(sorted(folder.glob("*.toml")))


def install_themes(app: App[Any], wanted: str) -> tuple[list[str], list[tuple[str, SeverityLevel]]]:
    """Register baton's themes and the user's on `app` and choose `wanted` (the default when it is not
    known). Returns the theme names in cycling order and a (message, severity) per problem (none is
    fatal: the app says them once it is up)."""
    names = []
    for theme in bundled_themes():
        app.register_theme(theme)
        names.append(theme.name)
    themes, problems = user_themes()
    for theme in themes:
        app.register_theme(theme)
        if theme.name not in names:
            names.append(theme.name)
    messages: list[tuple[str, SeverityLevel]] = []
    if problems:
        listing = "\n".join(str(p) for p in problems)
        messages.append((f"theme file{'s' if len(problems) > 1 else ''} skipped:\n{listing}", "error"))
    if app.get_theme(wanted) is None:
        messages.append((f"theme '{wanted}' is not known; using {DEFAULT_THEME}", "warning"))
        wanted = DEFAULT_THEME
    app.theme = wanted
    return names, messages
