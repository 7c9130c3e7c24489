"""The importer and exporter plugins, by format name; built-in ones register like any other."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from .records import ExportStatement, FileError, Importer

ImporterFactory = Callable[[], Importer]
Writer = Callable[[Iterable[ExportStatement], TextIO, str], None]

_IMPORTERS: dict[str, ImporterFactory] = {}
_EXPORTERS: dict[str, tuple[Writer, str]] = {}  # name -> (writer, file extension)


def register_importer(name: str, factory: ImporterFactory) -> None:
    _IMPORTERS[name] = factory


def register_exporter(name: str, writer: Writer, extension: str) -> None:
    _EXPORTERS[name] = (writer, extension)


def importer(name: str) -> Importer:
    if name not in _IMPORTERS:
        for builtin, module, attribute in BUILTIN_IMPORTERS:
            if builtin == name:
                register_importer(name, _attribute(module, attribute))
    try:
        return _IMPORTERS[name]()
    except KeyError:
        known = sorted({*_IMPORTERS, *(b[0] for b in BUILTIN_IMPORTERS)})
        raise FileError(f"unknown format {name!r}; known: {', '.join(known)}") from None


def exporter(name: str) -> tuple[Writer, str]:
    if name not in _EXPORTERS:
        for builtin, module, attribute, extension in BUILTIN_EXPORTERS:
            if builtin == name:
                register_exporter(name, _attribute(module, attribute), extension)
    try:
        return _EXPORTERS[name]
    except KeyError:
        known = sorted({*_EXPORTERS, *(b[0] for b in BUILTIN_EXPORTERS)})
        raise FileError(f"unknown format {name!r}; known: {', '.join(known)}") from None


def load_mapping(path: Path) -> dict[str, str]:
    """A CSV column mapping file (see ``interop/tabular.py``)."""
    load: Callable[[Path], dict[str, str]] = _attribute(
        "cyberatlas.interop.tabular", "load_mapping"
    )
    return load(path)


def guess_format(path: Path, head: bytes) -> str:
    """The format of a file from its name and first bytes, when the command does not say."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".txt", ".md", ".html", ".htm"):
        return "text"
    text = head.lstrip()[:4096].decode("utf-8", "replace")
    if text.startswith(("{", "[")):
        if '"type": "bundle"' in text or '"type":"bundle"' in text or '"spec_version"' in text:
            return "stix"
        if '"Event"' in text or '"response"' in text:
            return "misp"
        if '"values"' in text and ('"uuid"' in text or '"authors"' in text):
            return "misp-galaxy"
        return "stix"
    return "text"


def sniff(path: Path) -> str:
    with path.open("rb") as stream:
        head: bytes = stream.read(4096)
    return guess_format(path, head)


# Built-in plugins, loaded by name like any third-party one: (format, module, attribute).
BUILTIN_IMPORTERS = (
    ("stix", "cyberatlas.interop.stix", "StixImporter"),
    ("misp", "cyberatlas.interop.misp", "MispImporter"),
    ("misp-galaxy", "cyberatlas.interop.misp", "MispGalaxyImporter"),
    ("csv", "cyberatlas.interop.tabular", "CsvImporter"),
    ("text", "cyberatlas.interop.text", "TextImporter"),
)
BUILTIN_EXPORTERS = (
    ("stix", "cyberatlas.interop.stix", "write_stix", "json"),
    ("misp", "cyberatlas.interop.misp_export", "write_misp_event", "json"),
    ("csv", "cyberatlas.interop.tabular", "write_csv", "csv"),
)


def _attribute(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)
