"""Configuration: config/default.yaml merged with a user file, validated with file:line errors.

Merging: mappings merge key by key, lists and scalars replace; a key written `name+` appends
its list to the default's `name` instead of replacing it (`drop_flags+: [-mfoo]`).
YAML is loaded with the safe loader only: tags such as `!!python/object` are refused.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

_SPEC = find_spec("kmeminit.config")
DEFAULT_CONFIG = Path(next(iter(_SPEC.submodule_search_locations or [])) if _SPEC else
                      Path(__file__).resolve().parent.parent / "config") / "default.yaml"


class ConfigError(Exception):
    """A configuration problem; str() is one line naming the file and line."""


# Schema: a dict maps keys to sub-schemas; "*" matches any key.  Leaves are Python types
# or tuples of allowed types; a list schema is [item_schema].
_STR_LIST = [str]
SCHEMA: dict[str, Any] = {
    "version": int,
    "compdb": {
        "drop_flags": _STR_LIST,
        "drop_prefixes": _STR_LIST,
        "drop_with_value": _STR_LIST,
        "add_flags": _STR_LIST,
        "per_arch": {"*": _STR_LIST},
        "per_arch_add": {"*": _STR_LIST},
        "target": str,
        "targets": {"*": {"arch": str, "name": str, "bits": int,
                          "endian": frozenset({"little", "big"}), "cpus": _STR_LIST}},
        "implied_by_target": _STR_LIST,
        "exclude": _STR_LIST,
    },
    "frontend": {"macros": _STR_LIST, "section_markers": _STR_LIST},
    "index": {"tu_timeout": (int, float)},
    "rule_workers": {"memory_mib": int},
    "kbuild": {"sparse_flags": _STR_LIST, "sparse_prefixes": _STR_LIST},
    "prefilter": {"min_tus": int, "max_rounds": int, "max_fanout": int, "symbols": _STR_LIST,
                  "ignore": _STR_LIST, "walkers": _STR_LIST},
    "aliases": {"*": _STR_LIST},
    "events": {"*": _STR_LIST},
    "event_stores": {"*": _STR_LIST},
    "entries": {"*": _STR_LIST},
    "services": _STR_LIST,
    "dispatch": _STR_LIST,
    "callbacks": {"functions": {"*": int}, "tables": {"*": int}},
    "origins": {"*": {"allocators": _STR_LIST, "embedded_helpers": {"*": str}}},
    "altmap": {"pointer": str, "container": str, "member": str,
               "recovery_macros": _STR_LIST, "offset_macros": _STR_LIST},
    "pfn": {"*": _STR_LIST},
    "reserved": {"*": _STR_LIST},
    # Checker-specific keys are validated by the checker loader against each checker's
    # declared config keys; here only the common ones are typed.
    "rules": {"*": {"enabled": bool, "level": frozenset({"note", "warning", "error"}),
                    "*": object}},
}


_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool",
                                                   "null", "timestamp")}


@dataclass
class Config:
    data: dict[str, Any]
    origins: dict[tuple[str, ...], str] = field(default_factory=dict)

    def get(self, *path: str, default: Any = None) -> Any:
        node: Any = self.data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    def names(self, names: list[str] | tuple[str, ...]) -> frozenset[str]:
        """The names plus their aliases from the `aliases` section (both directions)."""
        aliases: dict[str, list[str]] = self.get("aliases", default={}) or {}
        out = set(names)
        for canonical, others in aliases.items():
            group = {canonical, *others}
            if out & group:
                out |= group
        return frozenset(out)

    def name_sets(self, section: str) -> dict[str, frozenset[str]]:
        """A mapping section of name lists (events, entries), aliases expanded."""
        return {key: self.names(value) for key, value in
                (self.get(section, default={}) or {}).items()}

    def where(self, *path: str) -> str:
        """`file:line` of the setting at path (or of its nearest configured parent)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.origins:
                return self.origins[path[:n]]
        return str(DEFAULT_CONFIG)


def _mark(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _construct(path: Path, node: yaml.Node, key_path: tuple[str, ...],
               origins: dict[tuple[str, ...], str]) -> Any:
    import yaml

    origins[key_path] = _mark(path, node)
    if node.tag not in _PLAIN_TAGS:
        raise ConfigError(f"{_mark(path, node)}: YAML tag '{node.tag}' is not allowed")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(path, key_node, key_path, {})
            if not isinstance(key, str):
                raise ConfigError(f"{_mark(path, key_node)}: keys must be strings, got {key!r}")
            if key in out:
                raise ConfigError(f"{_mark(path, key_node)}: duplicate key '{key}'")
            out[key] = _construct(path, value_node, key_path + (key,), origins)
        return out
    if isinstance(node, yaml.SequenceNode):
        # Items are recorded as `[index]` keys, so a list of mappings (suppression entries)
        # can name the line of the entry at fault.
        return [_construct(path, item, key_path + (f"[{i}]",), origins)
                for i, item in enumerate(node.value)]
    try:
        return yaml.SafeLoader(" ").construct_object(node)  # scalars: int, str, bool, null...
    except (ValueError, OverflowError) as exc:  # a timestamp such as 2031-13-45
        what = "date" if node.tag.endswith(":timestamp") else "value"
        raise ConfigError(f"{_mark(path, node)}: '{node.value}' is not a valid {what}: {exc}"
                          ) from None


# Hostile YAML: aliases expand exponentially ("billion laughs"), nesting recurses.
MAX_NODES = 1_000_000
MAX_NESTING = 100


def _check_size(path: Path, root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past MAX_NODES nodes, or that nests deeper
    than MAX_NESTING, before anything walks it recursively (iterative, memoised by node)."""
    import yaml

    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_NESTING:
            raise ConfigError(f"{_mark(path, node)}: YAML nested deeper than {MAX_NESTING} "
                              "levels")
        kids = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            size[id(node)] = 1 + sum(size[id(k)] for k in kids)
            if size[id(node)] > MAX_NODES:
                raise ConfigError(f"{_mark(path, node)}: YAML expands to more than "
                                  f"{MAX_NODES} nodes (aliases?)")
        elif id(node) not in size:
            stack.append((node, depth, True))
            stack.extend((k, depth + 1, False) for k in kids if id(k) not in size)


def load_yaml(path: Path) -> tuple[Any, dict[tuple[str, ...], str]]:
    import yaml  # on first use: a cached config needs no YAML parser (see load_config)

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config is not UTF-8 text") from None
    try:
        # libyaml's composer when PyYAML has it: 30x faster, the same nodes and marks
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own limit
            raise ConfigError(f"{path}{line}: YAML nested too deeply") from None
        context = ""
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise ConfigError(f"{path}{line}: YAML error: {exc.problem or exc.context}{context}"
                          ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise ConfigError(f"{path}: YAML nested too deeply") from None
    if node is None:
        return {}, {}
    _check_size(path, node)
    origins: dict[tuple[str, ...], str] = {}
    try:
        data = _construct(path, node, (), origins)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: unsupported YAML: {exc.problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{_mark(path, node)}: the config must be a mapping")
    return data, origins


def _type_name(spec: Any) -> str:
    if isinstance(spec, tuple):
        return " or ".join(_type_name(s) for s in spec)
    if isinstance(spec, list):
        return f"list of {_type_name(spec[0])}"
    if isinstance(spec, dict):
        return "mapping"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(spec, "value")


def _validate(value: Any, spec: Any, key_path: tuple[str, ...], where: Config) -> None:
    if spec is object:
        return
    shown = ".".join(key_path) or "top level"
    if isinstance(spec, frozenset):  # one of these strings
        if value not in spec:
            raise ConfigError(f"{where.where(*key_path)}: '{shown}' must be one of "
                              f"{', '.join(sorted(spec))}, got {value!r}")
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where.where(*key_path)}: '{shown}' must be a mapping")
        for key, sub in value.items():
            bare = key[:-1] if key.endswith("+") else key
            if bare in spec:
                sub_spec = spec[bare]
            elif "*" in spec:
                sub_spec = spec["*"]
            else:
                allowed = ", ".join(k for k in spec if k != "*")
                raise ConfigError(f"{where.where(*key_path, key)}: unknown key '{key}' in "
                                  f"'{shown}' (expected one of: {allowed})")
            _validate(sub, sub_spec, key_path + (key,), where)
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise ConfigError(f"{where.where(*key_path)}: '{shown}' must be a {_type_name(spec)}")
        for item in value:
            _validate(item, spec[0], key_path, where)
        return
    types = spec if isinstance(spec, tuple) else (spec,)
    # bool is an int in Python; a YAML `true` where a number is expected is a mistake.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ConfigError(f"{where.where(*key_path)}: '{shown}' must be of type "
                          f"{_type_name(spec)}, got {value!r}")


def _merge(base: dict[str, Any], over: dict[str, Any], base_origins: dict, over_origins: dict,
           prefix: tuple[str, ...] = ()) -> None:
    for key, value in over.items():
        if key.endswith("+"):
            bare = key[:-1]
            current = base.get(bare, [])
            base[bare] = list(current) + list(value)
            base_origins[prefix + (bare,)] = over_origins.get(prefix + (key,), "")
            continue
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, base_origins, over_origins, prefix + (key,))
            base_origins.setdefault(prefix + (key,), over_origins.get(prefix + (key,), ""))
            continue
        base[key] = value
        for path, origin in over_origins.items():
            if path[: len(prefix) + 1] == prefix + (key,):
                base_origins[path] = origin


def load_config(user: Path | None = None, default: Path = DEFAULT_CONFIG) -> Config:
    """The default config merged with `user`'s, validated.  The result is cached by the
    content of both files (and of this module): kmeminit-cc starts once per TU of a kernel
    build, and parsing YAML would be a third of its start-up."""
    key = _cache_key(default, user)
    cached = _cache_read(key) if key else None
    if cached is not None:
        return cached
    config = _load_config(user, default)
    if key:
        _cache_write(key, config)
    return config


def cache_dir() -> Path:
    """Where kmeminit keeps what it can recompute: $KMEMINIT_CACHE, else
    $XDG_CACHE_HOME/kmeminit, else ~/.cache/kmeminit."""
    if os.environ.get("KMEMINIT_CACHE"):
        return Path(os.environ["KMEMINIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmeminit"


def _cache_key(default: Path, user: Path | None) -> str | None:
    digest = hashlib.blake2b(sys.version.encode(), digest_size=16)
    try:
        for path in (Path(__file__), default, user):
            if path is not None:
                digest.update(f"\0{path}\0".encode(errors="surrogateescape"))
                digest.update(path.read_bytes())
    except OSError:
        return None  # unreadable: _load_config says so in one line
    return digest.hexdigest()


def _cache_read(key: str) -> Config | None:
    try:
        data, origins = json.loads((cache_dir() / f"config-{key}.json").read_bytes())
        return Config(data, {tuple(k): v for k, v in origins})
    except (OSError, ValueError, TypeError):
        return None  # absent or damaged: parse again


def _cache_write(key: str, config: Config) -> None:
    try:
        text = json.dumps([config.data, [[list(k), v] for k, v in config.origins.items()]])
    except (TypeError, ValueError):
        return  # a value JSON cannot hold (a YAML date under a checker's key): not cached
    target = cache_dir() / f"config-{key}.json"
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, target)
    except OSError:  # a read-only home: every start parses, nothing breaks
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _load_config(user: Path | None, default: Path) -> Config:
    data, origins = load_yaml(default)
    config = Config(data, origins)
    _validate(data, SCHEMA, (), config)
    if user is not None:
        over, over_origins = load_yaml(user)
        _validate(over, SCHEMA, (), Config(over, over_origins))
        merged = copy.deepcopy(data)
        merged_origins = dict(origins)
        _merge(merged, over, merged_origins, over_origins)
        config = Config(merged, merged_origins)
    return config
