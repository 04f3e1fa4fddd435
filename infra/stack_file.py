"""Parsing one ``Pulumi.<stack>.yaml`` the way Pulumi reads it, refusing what Pulumi refuses.

PyYAML's ``safe_load`` is more lenient than Pulumi's Go parser, and its leniency hides
mistakes: the last of two duplicate keys silently wins (a whole service or policy section can
vanish), unquoted dates become ``datetime.date`` objects, several documents or a top-level
list pass through, and tags construct values no config key can hold. This module composes
the YAML node tree and builds plain values itself, so every such problem becomes a
:class:`StackFileProblem` naming the key path (and line) it was found at.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml

# Keys Pulumi itself writes next to ``config`` (secrets provider state, ESC environments).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
# YAML core-schema tags a config value may carry (implicitly or as ``!!str`` etc.).
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}": t for t in ("str", "int", "float", "bool", "null", "map", "seq")}


class StackFileProblem(ValueError):
    """The stack file cannot be read as Pulumi would read it."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class _PlainLoader(yaml.SafeLoader):
    """Safe loader without the timestamp resolver: ``2026-11-01`` stays a string, as in Pulumi."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _where(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


# Aliases expand: ten levels of ten aliases are 10^10 nodes ("billion laughs"). Go's yaml.v3 stops
# such documents too; a real stack file has a few thousand nodes (10,000 adapters: about 80,000).
MAX_NODES = 200_000


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES

    def spend(self, node: yaml.Node, path: str) -> None:
        self.left -= 1
        if self.left < 0:
            top = ".".join(path.split(".")[:2])  # the config key it happens under, not the alias chain
            raise StackFileProblem(top or "(document)", f"expands to more than {MAX_NODES} values (YAML aliases, "
                                                        f"{_where(node)}); write the values out")


def _plain(node: yaml.Node, path: str, loader: _PlainLoader, budget: _Budget) -> Any:
    """The plain value of ``node`` (dict/list/str/int/float/bool/None), refusing the rest."""
    budget.spend(node, path)
    if node.tag not in _PLAIN_TAGS:
        raise StackFileProblem(path or "(document)", f"YAML tag {node.tag!r} ({_where(node)}) is not allowed; "
                                                     "stack files hold plain mappings, lists, strings, numbers and booleans")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise StackFileProblem(path or "(document)", f"YAML merge keys ('<<', {_where(key_node)}) are not allowed; "
                                                             "write the keys out")
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                raise StackFileProblem(path or "(document)", f"key at {_where(key_node)} must be a plain string, "
                                                             f"not {_PLAIN_TAGS.get(key_node.tag, key_node.tag)}")
            key = key_node.value
            child = f"{path}.{key}" if path else key
            if key in out:
                raise StackFileProblem(child, f"duplicate key ({_where(key_node)}); Pulumi refuses duplicate keys, "
                                              "keep exactly one")
            out[key] = _plain(value_node, child, loader, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, f"{path}[{i}]", loader, budget) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_stack_yaml(data: bytes) -> dict[str, Any]:
    """The mapping of a stack file's bytes; raises StackFileProblem."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StackFileProblem("(file)", f"is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = _PlainLoader(text)
    try:
        documents = []
        while loader.check_node():
            documents.append(loader.get_node())
        if len(documents) > 1:
            raise StackFileProblem("(file)", f"holds {len(documents)} YAML documents ('---'); a stack file is one mapping")
        if not documents:
            return {}
        doc = _plain(documents[0], "", loader, _Budget())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise StackFileProblem("(file)", f"is not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise StackFileProblem("(file)", f"must be a mapping with a 'config' key, not a {type(doc).__name__}")
    unknown = [k for k in doc if k not in STACK_FILE_KEYS]
    if unknown:
        raise StackFileProblem(unknown[0], f"unknown top-level key; allowed: {', '.join(STACK_FILE_KEYS)}")
    config = doc.get("config")
    if config is not None and not isinstance(config, dict):
        raise StackFileProblem("config", f"must be a mapping of '<namespace>:<key>' to values, not a {type(config).__name__}")
    return doc


@dataclass(frozen=True)
class SplitConfig:
    """A stack file's ``config`` split by namespace."""

    project: dict[str, Any]
    """Keys of the project's own namespace, without the ``<project>:`` prefix."""
    others: dict[str, Any]
    """Every other namespace's keys (``aws:region``, ``kubernetes:context`` ...), as written."""


def split_config(config: dict[str, Any], project: str, known_namespaces: tuple[str, ...]) -> SplitConfig:
    """Split ``config`` keys by namespace; refuse keys without one and near-misses of ``project``."""
    own: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for key, value in config.items():
        namespace, sep, name = key.partition(":")
        if not sep or not namespace or not name:
            raise StackFileProblem(f"config.{key}", f"configuration keys must be '<namespace>:<name>' (Pulumi refuses "
                                                    f"others); this project's keys are '{project}:<section>'")
        if namespace == project:
            own[name] = value
            continue
        if namespace not in known_namespaces and difflib.get_close_matches(namespace, [project], n=1, cutoff=0.75):
            raise StackFileProblem(f"config.{key}", f"namespace {namespace!r} is not this project's; did you mean "
                                                    f"'{project}:{name}'?")
        others[key] = value
    return SplitConfig(own, others)
