"""Discover task cards (the built-in `tasks/` folder plus `--include_path` folders)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from harness.cards import TaskCard, load_card
from harness.errors import CardErrors, ConfigError, TransferBenchError, UnknownNameError
from harness.registry import did_you_mean

SKIP_DIRS = {"suites", "generators", "__pycache__"}


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


def load_cards(paths: Iterable[Path]) -> tuple[dict[str, TaskCard], list[str]]:
    """Load every card under `paths`; return cards by name and all problems found."""
    cards: dict[str, TaskCard] = {}
    problems: list[str] = []
    for root in paths:
        try:
            files = card_files(Path(root))
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        for file in files:
            try:
                card = load_card(file)
            except CardErrors as exc:
                problems.extend(exc.problems)
                continue
            except TransferBenchError as exc:
                problems.append(str(exc))
                continue
            if card.name in cards:
                problems.append(
                    f"{file}: field 'name': task '{card.name}' is already defined in {cards[card.name].path}"
                )
                continue
            cards[card.name] = card
    return cards, problems


class TaskRegistry:
    """The tasks a command can see: built-in cards plus any `--include_path` folders."""

    def __init__(self, include_paths: Iterable[str | Path] | str = ()):
        """`include_paths`: folders, each of which may itself be an os.pathsep-separated list
        (`--include_path a:b`, as `--data_dir` takes)."""
        if isinstance(include_paths, (str, Path)):
            include_paths = [include_paths]
        folders = [Path(part) for p in include_paths for part in str(p).split(os.pathsep) if part]
        self.paths = [builtin_tasks_dir(), *folders]
        self.cards, problems = load_cards(self.paths)
        if problems:
            raise CardErrors(problems)

    def names(self, tag: str | None = None) -> list[str]:
        return sorted(
            n for n, c in self.cards.items() if tag is None or tag in c.tags or tag == c.modality
        )

    def get(self, name: str) -> TaskCard:
        if name not in self.cards:
            raise UnknownNameError(
                f"unknown task '{name}'.{did_you_mean(name, sorted(self.cards))} See `transferbench list tasks`."
            )
        return self.cards[name]

    def __contains__(self, name: object) -> bool:
        return name in self.cards
