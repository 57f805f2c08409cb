"""Discover task cards (the built-in `tasks/` folder plus `--include_path` folders)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cards import TaskCard, card_from_dict, read_yaml, resolve_includes
from harness.errors import CardErrors, ConfigError, TransferBenchError, UnknownNameError
from harness.registry import did_you_mean

logger = logging.getLogger(__name__)
SKIP_DIRS = {"suites", "generators", "__pycache__"}
NAME_LINE = re.compile(
    r"""^name:[ \t]*["']?([A-Za-z0-9][A-Za-z0-9_.-]*)["']?[ \t]*(?:#.*)?$""", re.M
)


def builtin_tasks_dir() -> Path:
    """The `tasks/` folder shipped with the package."""
    import tasks

    return Path(tasks.__file__).parent


def card_files(root: Path) -> list[Path]:
    """Every `*.yaml` card under `root`, skipping suites and generator folders."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ConfigError(f"{root}: no such file or folder")
    files = []
    for path in sorted(root.rglob("*.y*ml")):
        if SKIP_DIRS.intersection(p.name for p in path.relative_to(root).parents):
            continue
        files.append(path)
    return files


@dataclass(frozen=True)
class InvalidCard:
    """A card file that could not be used: its problems, and what could be read of it (its task
    name, tags and modality, None / empty where the file does not parse)."""

    path: Path
    problems: tuple[str, ...]
    name: str | None = None
    tags: tuple[str, ...] = ()
    modality: str | None = None


@dataclass
class CardScan:
    """Every card under some folders: the valid ones by name, and the invalid ones."""

    cards: dict[str, TaskCard] = field(default_factory=dict)
    invalid: list[InvalidCard] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # folder problems and every card's
    missing: list[str] = field(default_factory=list)  # paths that are no file or folder


def _what_reads(file: Path, merged: dict[str, Any] | None) -> dict[str, Any]:
    """The name, tags and modality of a card that is invalid, as far as its file reads."""
    data = merged
    if data is None:
        try:
            data = read_yaml(file)
        except TransferBenchError:  # not YAML: a top-level `name:` line may still say it
            try:
                found = NAME_LINE.search(Path(file).read_text(encoding="utf-8", errors="replace"))
            except OSError:
                found = None
            return {"name": found[1]} if found else {}
    name, tags = data.get("name"), data.get("tags")
    return {
        "name": name if isinstance(name, str) else None,
        "tags": tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        "modality": data.get("modality") if isinstance(data.get("modality"), str) else None,
    }


def scan_cards(paths: Iterable[Path], shipped: dict[str, TaskCard] | None = None) -> CardScan:
    """Load every card under `paths`, each on its own: one invalid card does not hide the others.
    A name defined twice is a problem of the later card, naming both files; `shipped` (the
    built-in cards, for `validate`) are names a card must not take either, unless it is that
    very file."""
    scan = CardScan()
    shipped = shipped or {}
    seen: set[Path] = set()
    for root in paths:
        try:
            files = card_files(Path(root))
        except ConfigError as exc:
            scan.problems.append(str(exc))
            scan.missing.append(str(exc))
            continue
        for file in files:
            if file.resolve() in seen:  # the same file given twice (a folder and a file in it)
                continue
            seen.add(file.resolve())
            merged: dict[str, Any] | None = None
            try:
                merged = resolve_includes(file)
                card = card_from_dict(merged, file)
            except CardErrors as exc:
                problems = list(exc.problems)
            except TransferBenchError as exc:
                problems = [str(exc)]
            else:
                other = scan.cards.get(card.name) or shipped.get(card.name)
                if other is None or (other.path and other.path.resolve() == file.resolve()):
                    scan.cards[card.name] = card
                    continue
                where = (
                    " (a card shipped with TransferBench: rename this one)"
                    if other is shipped.get(card.name)
                    else ""
                )
                problems = [
                    f"{file}: field 'name': task '{card.name}' is already defined in "
                    f"{other.path}{where}"
                ]
            scan.problems.extend(problems)
            scan.invalid.append(InvalidCard(file, tuple(problems), **_what_reads(file, merged)))
    return scan


def load_cards(paths: Iterable[Path]) -> tuple[dict[str, TaskCard], list[str]]:
    """Load every card under `paths`; return cards by name and all problems found."""
    scan = scan_cards(paths)
    return scan.cards, scan.problems


def validate_card_paths(paths: Iterable[Path]) -> tuple[dict[str, TaskCard], list[str]]:
    """`transferbench validate`: every card under `paths` and every problem, including a name
    that a shipped card already has (which `run --include_path` would refuse)."""
    shipped = scan_cards([builtin_tasks_dir()]).cards
    scan = scan_cards(paths, shipped=shipped)
    return scan.cards, scan.problems


class TaskRegistry:
    """The tasks a command can see: built-in cards plus any `--include_path` folders.

    `strict` (the default): any invalid card is an error (CardErrors listing every problem).
    Not strict (`run`, `inspect`): invalid cards are logged and left out, and an error comes
    only when a command needs one: `get` of a task whose card is invalid (or whose name two
    cards take), `names` of a tag an invalid card carries, or an unknown name while some card
    could not be read far enough to tell its name."""

    def __init__(self, include_paths: Iterable[str | Path] | str = (), strict: bool = True):
        """`include_paths`: folders, each of which may itself be an os.pathsep-separated list
        (`--include_path a:b`, as `--data_dir` takes)."""
        if isinstance(include_paths, (str, Path)):
            include_paths = [include_paths]
        folders = [Path(part) for p in include_paths for part in str(p).split(os.pathsep) if part]
        self.paths = [builtin_tasks_dir(), *folders]
        scan = scan_cards(self.paths)
        self.problems, self.invalid = scan.problems, scan.invalid
        if (scan.problems and strict) or scan.missing:  # a mistyped --include_path: an error
            raise CardErrors(scan.problems if strict else scan.missing)
        bad_names = {c.name for c in scan.invalid if c.name}
        # a name two cards take is usable by neither: which one a suite means is unclear
        self.cards = {n: c for n, c in scan.cards.items() if n not in bad_names}
        if scan.problems:
            logger.warning(
                "%d problem(s) in task cards; left out %d invalid card(s) (an error only if the "
                "command needs one):\n  - %s",
                len(scan.problems),
                len(scan.invalid),
                "\n  - ".join(scan.problems),
            )

    def _invalid_error(self, bad: list[InvalidCard], why: str) -> CardErrors:
        return CardErrors([f"{why}, and its card is invalid: {p}" for c in bad for p in c.problems])

    def names(self, tag: str | None = None) -> list[str]:
        if tag is not None:
            bad = [c for c in self.invalid if tag in c.tags or tag == c.modality]
            if bad:
                raise self._invalid_error(
                    bad, f"tag '{tag}' selects task(s) {sorted({str(c.name) for c in bad})}"
                )
        return sorted(
            n for n, c in self.cards.items() if tag is None or tag in c.tags or tag == c.modality
        )

    def get(self, name: str) -> TaskCard:
        bad = [c for c in self.invalid if c.name == name]
        if bad:
            raise self._invalid_error(bad, f"task '{name}' is needed")
        if name not in self.cards:
            unread = [c for c in self.invalid if c.name is None]
            maybe = (
                f" {len(unread)} card file(s) that do not read may define it: "
                f"{'; '.join(p for c in unread for p in c.problems)}."
                if unread
                else ""
            )
            raise UnknownNameError(
                f"unknown task '{name}'.{did_you_mean(name, sorted(self.cards))} See `transferbench list tasks`.{maybe}"
            )
        return self.cards[name]

    def __contains__(self, name: object) -> bool:
        return name in self.cards
