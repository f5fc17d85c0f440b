"""Edits a fault makes to a throwaway copy of the lab's files: structured, and loud when stale.

A fault is only worth something while it still applies to today's files. Every edit therefore
checks what it changes: a YAML edit names the key path it expects to find (and, where it matters,
the value it expects there), a text edit the exact text it replaces and how often it occurs. When
a config file changes so that an edit no longer finds its target, :meth:`Edit.apply` raises
:class:`StaleEdit` saying which file, which key or text, and what is there instead —
``tests/harness/test_faults_catalogue.py`` applies every fault to the repository's files, so such a
change fails a unit test instead of quietly testing nothing.

YAML files are read and written with PyYAML: comments and anchors do not survive in the copy
(merge keys are expanded), which changes nothing compose, the collector or Prometheus read.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.base.errors import LabError

Key = str | int  # a mapping key or a list index
MISSING = object()


class StaleEdit(LabError):
    """The file no longer has what the edit changes (the fault must be brought up to date)."""


def _where(path: tuple[Key, ...]) -> str:
    return ".".join(str(k) for k in path) or "(top)"


def _dig(doc: Any, path: tuple[Key, ...], file: str, *, create: bool = False) -> Any:
    """The node at ``path`` (mappings made on the way when ``create``); StaleEdit when absent."""
    node = doc
    for depth, key in enumerate(path):
        here = _where(path[: depth + 1])
        if isinstance(node, dict):
            if key not in node:
                if not create:
                    keys = ", ".join(map(str, node)) or "none"
                    raise StaleEdit(f"{file}: no key {here} (keys there: {keys})")
                node[key] = {}
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int):
            if not -len(node) <= key < len(node):
                raise StaleEdit(f"{file}: {here} is out of range (the list has {len(node)} items)")
            node = node[key]
        else:
            raise StaleEdit(f"{file}: {_where(path[:depth])} is a {type(node).__name__}, not a mapping")
    return node


@dataclass(frozen=True)
class Edit(abc.ABC):
    """One change to one file of the copy (``file`` is relative to the repository root)."""

    file: str

    @abc.abstractmethod
    def change(self, text: str) -> str:
        """The file's new text; StaleEdit when the text lacks what this edit changes."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for the catalogue's documentation and the report."""

    def apply(self, root: Path) -> str:
        path = Path(root) / self.file
        if not path.is_file():
            raise StaleEdit(f"{self.file} does not exist (the fault edits it)")
        path.write_text(self.change(path.read_text(encoding="utf-8")), encoding="utf-8")
        return self.describe()


@dataclass(frozen=True)
class TextReplace(Edit):
    """Replace ``old`` by ``new``; ``old`` must occur exactly ``count`` times (for files that are not
    YAML: nginx configs, Prometheus rule expressions inside a block scalar)."""

    old: str
    new: str
    count: int = 1

    def change(self, text: str) -> str:
        found = text.count(self.old)
        if found != self.count:
            raise StaleEdit(
                f"{self.file}: expected {self.count} occurrence(s) of {self.old!r}, found {found}"
            )
        return text.replace(self.old, self.new)

    def describe(self) -> str:
        return f"{self.file}: {self.old.strip()!r} → {self.new.strip()!r}"


@dataclass(frozen=True)
class YamlEdit(Edit):
    """A structured change to a YAML document: ``mutate(doc)`` after the file is parsed."""

    path: tuple[Key, ...]

    def change(self, text: str) -> str:
        doc = yaml.safe_load(text)
        if not isinstance(doc, dict):
            raise StaleEdit(f"{self.file} is not a YAML mapping")
        self.mutate(doc)
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)

    @abc.abstractmethod
    def mutate(self, doc: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class YamlSet(YamlEdit):
    """Set the value at ``path``. ``expect`` (when given) is the value that must be there now, so a
    fault that says "60 s instead of 500 ms" stops applying when the 500 ms changes; ``new_key``
    allows the last key to be absent (the parents must exist)."""

    value: Any = None
    expect: Any = MISSING
    new_key: bool = False

    def mutate(self, doc: dict[str, Any]) -> None:
        parent = _dig(doc, self.path[:-1], self.file)
        key = self.path[-1]
        if not isinstance(parent, dict | list):
            raise StaleEdit(f"{self.file}: {_where(self.path[:-1])} holds no mapping")
        if isinstance(parent, dict) and key not in parent:
            if not self.new_key:
                raise StaleEdit(f"{self.file}: no key {_where(self.path)} "
                                f"(keys there: {', '.join(map(str, parent)) or 'none'})")
        elif self.expect is not MISSING:
            current = _dig(doc, self.path, self.file)
            if current != self.expect:
                raise StaleEdit(f"{self.file}: {_where(self.path)} is {current!r}, the fault expects "
                                f"{self.expect!r}")
        parent[key] = self.value  # type: ignore[index]

    def describe(self) -> str:
        return f"{self.file}: {_where(self.path)} = {self.value!r}"


@dataclass(frozen=True)
class YamlDelete(YamlEdit):
    """Remove the key (or list item) at ``path``; it must be there."""

    def mutate(self, doc: dict[str, Any]) -> None:
        parent = _dig(doc, self.path[:-1], self.file)
        _dig(doc, self.path, self.file)  # StaleEdit when absent
        del parent[self.path[-1]]

    def describe(self) -> str:
        return f"{self.file}: remove {_where(self.path)}"


@dataclass(frozen=True)
class YamlListItem(YamlEdit):
    """In the list at ``path``, the one item that ``match`` selects becomes ``replace`` (or is removed
    when ``replace`` is None); ``append`` adds an item instead (``match`` unused)."""

    match: str = ""  # an item equal to this, or (for strings) starting with it
    replace: Any = None
    append: Any = MISSING

    def _selects(self, item: Any) -> bool:
        return item == self.match or (isinstance(item, str) and item.startswith(self.match))

    def mutate(self, doc: dict[str, Any]) -> None:
        items = _dig(doc, self.path, self.file)
        if not isinstance(items, list):
            raise StaleEdit(f"{self.file}: {_where(self.path)} is a {type(items).__name__}, not a list")
        if self.append is not MISSING:
            items.append(self.append)
            return
        hits = [i for i, item in enumerate(items) if self._selects(item)]
        if len(hits) != 1:
            raise StaleEdit(f"{self.file}: {_where(self.path)} has {len(hits)} items matching "
                            f"{self.match!r} (expected 1): {items!r}")
        if self.replace is None:
            del items[hits[0]]
        else:
            items[hits[0]] = self.replace

    def describe(self) -> str:
        where = f"{self.file}: {_where(self.path)}"
        if self.append is not MISSING:
            return f"{where} += {self.append!r}"
        if self.replace is None:
            return f"{where} -= {self.match!r}"
        return f"{where}: {self.match!r} → {self.replace!r}"


@dataclass(frozen=True)
class YamlMutate(YamlEdit):
    """A change the other edits cannot say (checked by ``mutate_fn`` itself, raising StaleEdit)."""

    mutate_fn: Callable[[dict[str, Any]], None] = lambda doc: None
    text: str = ""

    def mutate(self, doc: dict[str, Any]) -> None:
        self.mutate_fn(doc)

    def describe(self) -> str:
        return f"{self.file}: {self.text}"
