"""A lexical call index of C sources written in kernel style, for the whole-tree prefilter.

No preprocessing and no parsing: comments and literals are blanked, and function bodies are
found the way kernel style (checkpatch) writes them — a definition's opening brace alone at
column 0, its closing brace alone at column 0.  Object-like and function-like macros count as
functions too (`#define FOO(x) bar(x)` calls bar), so a call hidden behind a local macro is
still seen.  The result over-approximates calls (both arms of an #ifdef, every function of a
name) and is cheap: tens of megabytes of C in a few seconds.

What it answers, by name: who calls a function (directly, or through a struct field it is
stored into: `.page_free = f` and `->page_free(`), what a function calls, which files define
or mention a name, and whether a definition is `__init` or takes a `struct page *`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from kmeminit.analyzer.blobs import pack, unpack

if TYPE_CHECKING:
    from kmeminit.analyzer.calltrace import CallTrace

# The version of scan_text's output: stored scans are keyed by it, so bump it whenever a
# change to the scanner changes what it finds.
SCANNER = "2"

_BLANK = re.compile(rb'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
_BODY = re.compile(rb"^\{[ \t]*\n(.*?)^\}", re.M | re.S)
_CALL = re.compile(rb"(->|\.)?[ \t]*\b([A-Za-z_]\w*)[ \t]*\(")
_IDENT = re.compile(rb"\b[A-Za-z_]\w*\b")
_NAME = re.compile(rb"\b([A-Za-z_]\w*)\s*\(")
_DEFINE = re.compile(rb"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(.*(?:\\\n.*)*)", re.M)
_FIELD_STORE = re.compile(rb"(?:^|[,{\s])\.[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*&?[ \t]*([A-Za-z_]\w*)"
                          rb"[ \t]*[,}\n]|->[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*&?[ \t]*"
                          rb"([A-Za-z_]\w*)[ \t]*;")
_VAR_STORE = re.compile(rb"(?:(?<![\w.>])([A-Za-z_]\w*)|\([ \t]*\*[ \t]*([A-Za-z_]\w*)[ \t]*\)"
                        rb"[ \t]*\([^()]*\))[ \t]*=[ \t]*&?[ \t]*([A-Za-z_]\w*)[ \t]*;")
_GLOBAL_DECL = re.compile(rb"^(?![ \t]|#|typedef\b|struct\s+\w+\s*\{|return\b)[A-Za-z_][^(;{}=\n]*?"
                          rb"(?:\b([A-Za-z_]\w*)|\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\([^()]*\))"
                          rb"\s*(?:=|;)", re.M)
_ASSIGNED = re.compile(rb"(?:->|\.)[ \t]*\w+[ \t]*(?:\[[^\]]*\][ \t]*)?[|]?=(?!=)([^;]*)")
_STORED = re.compile(rb"(?<![~\w])[A-Za-z_]\w*")
_KEYWORDS = frozenset(b"if for while switch return sizeof typeof __typeof__ do case else "
                      b"defined __attribute__ __builtin_expect likely unlikely asm "
                      b"__asm__ volatile alignof _Alignof".split())
_INIT = re.compile(rb"\b__init\b|\.init\.text")
_ALIAS = re.compile(rb"\(?[ \t]*([A-Za-z_]\w*)[ \t]*\)?")  # an object-like macro naming one thing


class LexFunction(NamedTuple):
    """One definition (or function-like macro) found in a file.  A named tuple: the
    prefilter builds hundreds of thousands of them from stored scans."""

    name: str
    file: str
    line: int
    static: bool
    init: bool  # marked __init: runs at boot only
    page_param: bool  # takes a struct page * (or folio) parameter
    signature: frozenset[str]  # identifiers of the declaration (types, attributes)
    calls: frozenset[str]  # names called directly
    fields_called: frozenset[str]  # `->f(` / `.f(`: calls through struct fields
    mentions: frozenset[str]  # every identifier of the body (address-taking, constants)
    stores: frozenset[str] = frozenset()  # stored into a field (`p->f |= X`, not `~X`)
    macro: bool = False


@dataclass(frozen=True)
class LexFile:
    path: str
    functions: tuple[LexFunction, ...]
    idents: frozenset[str]
    fp_stores: tuple[tuple[str, str], ...]  # (field, function name)
    var_stores: tuple[tuple[str, str], ...] = ()  # (variable, name): `cb = f;`
    globals: frozenset[str] = frozenset()  # variables declared at file scope


def _blank(match: re.Match[bytes]) -> bytes:
    text = match.group(0)
    return b"\n" * text.count(b"\n") if text.count(b"\n") else b" "


def _header(text: bytes, start: int) -> bytes:
    """The declaration lines right above a body's opening brace (of the last 12 lines;
    only those are sliced out, so a large file costs no quadratic copying)."""
    end = start
    while end and text[end - 1] == 10:  # b"\n"
        end -= 1
    first = end
    for _ in range(12):
        first = text.rfind(b"\n", 0, first)
        if first < 0:
            break
    lines = text[first + 1:end].split(b"\n")
    out: list[bytes] = []
    for line in reversed(lines):
        stripped = line.strip()
        if not stripped or stripped.endswith((b";", b"}")) or stripped.startswith(b"#"):
            break
        out.append(line)
    return b"\n".join(reversed(out))


def _calls(body: bytes) -> tuple[set[str], set[str]]:
    direct: set[str] = set()
    fields: set[str] = set()
    for m in _CALL.finditer(body):
        name = m.group(2)
        if name in _KEYWORDS:
            continue
        (fields if m.group(1) else direct).add(name.decode("latin-1"))
    return direct, fields


class _LineCounter:
    """Newlines before increasing offsets of one text, counted incrementally."""

    def __init__(self, text: bytes) -> None:
        self.text, self.pos, self.count = text, 0, 0

    def at(self, offset: int) -> int:
        self.count += self.text.count(b"\n", self.pos, offset)
        self.pos = offset
        return self.count


def scan_text(path: str, data: bytes) -> LexFile:
    """The lexical facts of one file's text."""
    text = _BLANK.sub(_blank, data)
    functions: list[LexFunction] = []
    line = _LineCounter(text)
    for m in _BODY.finditer(text):
        head = _header(text, m.start())
        names = _NAME.findall(head)
        names = [n for n in names if n not in _KEYWORDS]
        if not names or b"=" in head.split(names[0])[0]:
            continue
        body = m.group(1)
        direct, fields = _calls(body)
        words = head.split()
        stored = {w.decode("latin-1") for rhs in _ASSIGNED.findall(body)
                  for w in _STORED.findall(rhs)}
        functions.append(LexFunction(
            names[0].decode("latin-1"), path, line.at(m.start()),
            b"static" in words, _INIT.search(head) is not None,
            b"struct page" in head or b"struct folio" in head,
            frozenset(w.decode("latin-1") for w in _IDENT.findall(head)),
            frozenset(direct), frozenset(fields),
            frozenset(w.decode("latin-1") for w in _IDENT.findall(body)), frozenset(stored)))
    line = _LineCounter(text)
    for m in _DEFINE.finditer(text):
        body = m.group(2)
        direct, fields = _calls(body)
        alias = _ALIAS.fullmatch(body.strip())
        if alias and alias.group(1) not in _KEYWORDS:
            # `#define native_pagetable_init paging_init`: stored in an ops table by the
            # first name, it calls the second
            direct.add(alias.group(1).decode("latin-1"))
        functions.append(LexFunction(
            m.group(1).decode("latin-1"), path, line.at(m.start()) + 1, False,
            False, False, frozenset(), frozenset(direct), frozenset(fields),
            frozenset(w.decode("latin-1") for w in _IDENT.findall(body)), macro=True))
    stores = []
    for m in _FIELD_STORE.finditer(text):
        field, value = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        stores.append((field.decode("latin-1"), value.decode("latin-1")))
    variables = {((m.group(1) or m.group(2)).decode("latin-1"), m.group(3).decode("latin-1"))
                 for m in _VAR_STORE.finditer(text)}
    declared = {(m.group(1) or m.group(2)).decode("latin-1")
                for m in _GLOBAL_DECL.finditer(text)}
    return LexFile(path, tuple(functions),
                   frozenset(w.decode("latin-1") for w in set(_IDENT.findall(text))),
                   tuple(sorted(set(stores))), tuple(sorted(variables)), frozenset(declared))


def blanked(data: bytes) -> bytes:
    """The text with comments and literals blanked (line numbers kept), as scanned."""
    return _BLANK.sub(_blank, data)


def function_spans(text: bytes) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of each definition and macro of a blanked text, found
    as `scan_text` finds them (lines from 1; a definition starts at its declaration)."""
    spans = []
    line = _LineCounter(text)
    for m in _BODY.finditer(text):
        head = _header(text, m.start())
        names = [n for n in _NAME.findall(head) if n not in _KEYWORDS]
        if not names or b"=" in head.split(names[0])[0]:
            continue
        brace = line.at(m.start()) + 1
        spans.append((names[0].decode("latin-1"), brace - head.count(b"\n") - 1,
                      brace + m.group(0).count(b"\n")))
    line = _LineCounter(text)
    for m in _DEFINE.finditer(text):
        first = line.at(m.start()) + 1
        spans.append((m.group(1).decode("latin-1"), first, first + m.group(0).count(b"\n")))
    return spans


def encode_scan(lex: LexFile, vocabulary: frozenset[str] | None = None) -> bytes:
    """A scan as stored (compressed JSON, sets sorted).  With a `vocabulary`, identifiers,
    mentions, stores and signatures keep only its words: what the prefilter looks up."""
    def kept(words: frozenset[str]) -> list[str]:
        return sorted(words if vocabulary is None else words & vocabulary)

    # no line numbers: nothing reads them from a stored scan, and without them an edit
    # that only moves definitions leaves the scan, and the prefilter's demand, unchanged
    fns = [[f.name, f.file, 0, f.static, f.init, f.page_param, kept(f.signature),
            sorted(f.calls), sorted(f.fields_called), kept(f.mentions), kept(f.stores),
            f.macro] for f in lex.functions]
    data = [lex.path, fns, kept(lex.idents), lex.fp_stores, lex.var_stores,
            sorted(lex.globals)]
    return pack(json.dumps(data, separators=(",", ":")).encode())


# a stored scan as encode_scan writes it, for msgspec's typed decoder: the functions are
# arrays in LexFunction's field order, the sets lists
_Scan = tuple[str, tuple[LexFunction, ...], frozenset[str], tuple[tuple[str, str], ...],
              tuple[tuple[str, str], ...], frozenset[str]]
_scan_decoder: Any = None


def decode_scan(blob: bytes) -> LexFile:
    """A stored scan: msgspec builds the LexFunctions and their sets in C (a whole
    kernel's 227,000 definitions: 0.95 s with json.loads and Python's constructors);
    json.loads for a text it refuses (model.typed_json)."""
    global _scan_decoder
    if _scan_decoder is None:
        from kmeminit.analyzer.model import typed_json

        _scan_decoder = typed_json(_Scan, _decode_scan_plain)
    found = _scan_decoder(unpack(blob))
    return found if isinstance(found, LexFile) else LexFile(*found)


def _decode_scan_plain(text: str | bytes) -> LexFile:
    path, fns, idents, fp_stores, var_stores, declared = json.loads(text)
    return LexFile(path, tuple(
        LexFunction(name, file, line, static, init, page, frozenset(sig), frozenset(calls),
                    frozenset(fields), frozenset(mentions), frozenset(stores), macro)
        for name, file, line, static, init, page, sig, calls, fields, mentions, stores, macro
        in fns), frozenset(idents), tuple(tuple(s) for s in fp_stores),
        tuple(tuple(s) for s in var_stores), frozenset(declared))


def content_hash(data: bytes) -> str:
    """The content hash the fact store uses for a file (analyzer/store.py file_hash)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ScanCache(Protocol):
    """Where scans outlive a run (the fact store): by path and content hash."""

    def get(self, path: str, digest: str) -> LexFile | None: ...

    def put(self, path: str, digest: str, lex: LexFile) -> None: ...


def scan_file(path: str, data: bytes, cache: ScanCache | None = None,
              digest: str | None = None) -> LexFile:
    """scan_text, through the cache when there is one."""
    if cache is None:
        return scan_text(path, data)
    digest = digest or content_hash(data)
    lex = cache.get(path, digest)
    if lex is None:
        lex = scan_text(path, data)
        cache.put(path, digest, lex)
    return lex


def keys_of(path: str, lex: LexFile, owner: str | None, header: bool
            ) -> Callable[[str], str]:
    """How the index names what a file's scan names: a static function of a .c file is
    `name@file`, everything else its name."""
    local = {fn.name for fn in lex.functions if fn.static and not fn.macro} \
        if owner is None and not header else set()

    def key(name: str) -> str:
        return f"{name}@{path}" if name in local else name

    return key


class Item(NamedTuple):
    """One thing `LexIndex.add` puts into the index for a file: its kind, the keys, fields
    (`->name`) and variables it concerns, and the definition it records (kind "def")."""

    kind: str
    names: tuple[str, ...]
    fn: LexFunction | None = None


def contribution(path: str, lex: LexFile, owner: str | None = None,
                 header: bool = False) -> set[Item]:
    """What `LexIndex.add(path, …, owner, header)` records for this scan, item by item
    (mentions aside): two scans of a file whose items differ change the index only at the
    names of the differing items."""
    key = keys_of(path, lex, owner, header)
    items: set[Item] = set()
    for fn in lex.functions:
        k = key(fn.name)
        items.add(Item("def", (k,), fn))
        if not header:
            items.add(Item("owned" if owner else "defined", (k,)))
        items.update(Item("call", (k, key(c))) for c in fn.calls)
        items.update(Item("field-call", (k, f"->{f}")) for f in fn.fields_called)
    for field_name, target in lex.fp_stores:
        items.add(Item("store", (f"->{field_name}", key(target))))
        if not header:
            items.add(Item("stored-by", (key(target),)))
    for variable, target in lex.var_stores:
        items.add(Item("held", (key(target), variable)))
        if not header:
            items.add(Item("stored-by", (key(target),)))
    items.update(Item("global", (g,)) for g in lex.globals)
    return items


class LexIndex:
    """Call relations over many files (each text scanned once per content).  Nodes are
    names, except that a static function of a .c file is `name@file`, so same-named static
    helpers of different files stay apart."""

    def __init__(self, max_fanout: int | None = None,
                 leaves: frozenset[str] = frozenset(), scans: ScanCache | None = None,
                 vocabulary: frozenset[str] | None = None) -> None:
        self.scans = scans  # scans of earlier runs
        # the only names and words the seed maps hold (None: all); see _seeds
        self.vocabulary = vocabulary
        self.max_fanout = max_fanout  # field calls with more stored targets are not edges
        self.leaves = leaves  # services: outside the call relation (see Program)
        self.max_levels = 1 << 30  # call levels a closure follows
        self.deepest = 0  # the most levels a closure needed
        self.bounded = False  # a closure was cut short by max_levels
        self.files: dict[str, LexFile] = {}
        self._by_hash: dict[str, LexFile] = {}
        self.defs: dict[str, list[LexFunction]] = defaultdict(list)
        # key → the definitions of it the files scanned hold (the same text in two files
        # counts twice: `defs` keeps it once)
        self.definitions: dict[str, int] = defaultdict(int)
        self.callers: dict[str, set[str]] = defaultdict(set)
        self.calls: dict[str, set[str]] = defaultdict(set)
        self.field_callers: dict[str, set[str]] = defaultdict(set)  # field → caller keys
        self.fields_called: dict[str, set[str]] = defaultdict(set)  # key → fields
        self.stored_in: dict[str, set[str]] = defaultdict(set)  # key → fields
        self.field_targets: dict[str, set[str]] = defaultdict(set)  # field → keys
        self.held_in: dict[str, set[str]] = defaultdict(set)  # key → variables holding it
        self.stored_by: dict[str, set[str]] = defaultdict(set)  # key → TUs storing it
        self.globals: set[str] = set()  # file-scope variables of every file scanned
        self.mentioned_in: dict[str, set[str]] = defaultdict(set)  # identifier → TUs
        self.defined_in: dict[str, set[str]] = defaultdict(set)  # key → .c files
        # key → the first TU that owns a quoted header defining it (the one parsed for it)
        self.header_owner: dict[str, str] = {}
        # path → (scan, its functions' keys), for a file whose keys are its names
        self._named_keys: dict[str, tuple[LexFile, list[str]]] = {}
        # callers_of / callees_of, once the index is complete (the closures ask the same
        # keys many times: a third of the demand's time on a whole kernel); any addition
        # forgets them
        self._up: dict[str, frozenset[str]] = {}
        self._down: dict[str, frozenset[str]] = {}
        # base name → keys, and word → keys of definitions whose mentions, stores or
        # signature have it: built in one pass when first asked (see _seeds)
        self._named: dict[str, set[str]] | None = None
        self._worded: dict[str, set[str]] | None = None
        # when a set: every key, field (`->name`) and variable a question was asked about
        # or answered with (see `contribution`: an edit touching none of them cannot change
        # the answers)
        self.queried: set[str] | None = None
        # when set: what the answers took from the call relation (analyzer/calltrace.py:
        # whether a change of calls can change them)
        self.trace: CallTrace | None = None

    def add(self, path: str, data: bytes, owner: str | None = None,
            header: bool = False) -> LexFile:
        """Scan a file's text.  `owner` (a TU's .c file) is the file charged with what a
        quoted header it includes defines and mentions; a `header` (an angle-bracket
        include) is charged to no TU: its inline functions and macros only join the call
        relation, and come with any TU that includes it."""
        digest = content_hash(data)
        lex = self._by_hash.get(digest)
        if lex is None:
            lex = self._by_hash[digest] = scan_file(path, data, self.scans, digest)
        return self.add_scan(path, lex, owner, header)

    def add_scan(self, path: str, lex: LexFile, owner: str | None = None,
                 header: bool = False) -> LexFile:
        """`add` for a file already scanned (the stored scan of its text).  A header added
        again with the same scan (a private header of one more TU, or as a header) adds
        only its owner: its definitions are there."""
        self._up, self._down, self._named, self._worded = {}, {}, None, None  # stale
        tu = owner or path
        key = keys_of(path, lex, owner, header)
        named = owner is not None or header  # its functions' keys are their names
        again = self._named_keys.get(path) if named else None
        if again is not None and again[0] is lex:
            # a private header added for one more TU: only its ownership is new
            if not header:
                for k in again[1]:
                    self.header_owner.setdefault(k, tu)
            return self._add_rest(path, lex, tu, key, header)
        defs, calls, callers, definitions = self.defs, self.calls, self.callers, self.definitions
        for fn in lex.functions:
            k = key(fn.name)
            definitions[k] += 1
            if header:
                pass
            elif owner is None:
                self.defined_in[k].add(tu)
            else:
                self.header_owner.setdefault(k, tu)
            fns = defs[k]
            if fn not in fns:
                fns.append(fn)
                if fn.calls:  # its direct calls and calls through struct fields
                    callees = [key(c) for c in fn.calls]
                    calls[k].update(callees)
                    for callee in callees:
                        callers[callee].add(k)
                for field_name in fn.fields_called:
                    self.field_callers[field_name].add(k)
                    self.fields_called[k].add(field_name)
        if named:
            self._named_keys[path] = (lex, [fn.name for fn in lex.functions])
        return self._add_rest(path, lex, tu, key, header)

    def _add_rest(self, path: str, lex: LexFile, tu: str, key: Callable[[str], str],
                  header: bool) -> LexFile:
        """add_scan's part for what a file mentions and stores."""
        if not header:
            for name in lex.idents:
                self.mentioned_in[name].add(tu)
        for field_name, target in lex.fp_stores:
            self.stored_in[key(target)].add(field_name)
            self.field_targets[field_name].add(key(target))
            if not header:
                self.stored_by[key(target)].add(tu)
        self.globals |= lex.globals
        for variable, target in lex.var_stores:
            # `online_page_callback = generic_online_page;`: whoever calls the variable
            # calls the function (kept for file-scope variables only, see callers_of)
            self.held_in[key(target)].add(variable)
            if not header:
                self.stored_by[key(target)].add(tu)
        self.files.setdefault(path, lex)
        return lex

    def _dispatch(self, field_name: str) -> bool:
        """Whether calls through this field count: not a generic dispatch field (a driver
        core `probe`, a notifier, a file operation) with many implementations."""
        return self.max_fanout is None or \
            len(self.field_targets.get(field_name, ())) <= self.max_fanout

    def _leaf(self, key: str) -> bool:
        return key.split("@", 1)[0] in self.leaves

    def callers_of(self, key: str) -> frozenset[str]:
        """Every key calling `key` (directly, through a file-scope variable or a struct
        field it is stored in)."""
        if self.trace is not None:
            self.trace.whole[1].add(key)
        return self._callers(key)

    def callees_of(self, key: str) -> frozenset[str]:
        if self.trace is not None:
            self.trace.whole[0].add(key)
        return self._callees(key)

    def _callers(self, key: str) -> frozenset[str]:
        """callers_of for the walks (which record themselves in `trace`), kept."""
        found = self._up.get(key)
        return found if found is not None else self._answer(key, self._up, self._callers_of)

    def _callees(self, key: str) -> frozenset[str]:
        found = self._down.get(key)
        return found if found is not None else self._answer(key, self._down,
                                                            self._callees_of)

    def answers(self) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
        """The callees and the callers asked for so far, by key (kept: see _up, _down)."""
        return self._down, self._up

    def nearest_callee(self, key: str, levels: dict[str, tuple[int, str | None]]
                       ) -> str | None:
        """The callee of `key` that a walk's `levels` reach in the fewest levels (the least
        key of those), or None."""
        near = min(((levels[c][0], c) for c in self._callees(key) if c in levels),
                   default=None)
        found = near[1] if near is not None else None
        if self.trace is not None:
            self.trace.nearest.append((key, self.trace.walk_index(levels), found))
        return found

    def _answer(self, key: str, kept: dict[str, frozenset[str]],
                compute: Callable[[str], set[str]]) -> frozenset[str]:
        found = kept[key] = frozenset(compute(key))
        if self.queried is not None:
            self.queried.add(key)
            self.queried |= found
        return found

    def _callers_of(self, key: str) -> set[str]:
        if self._leaf(key):
            return set()  # a call to a service is not an edge
        out = set(self.callers.get(key, ()))
        queried = self.queried
        for variable in self.held_in.get(key, ()):
            if queried is not None:
                queried.add(variable)
            if self.trace is not None:
                self.trace.variables.add(variable)
            if variable in self.globals:
                out |= self.callers.get(variable, set())
        for field_name in self.stored_in.get(key, ()):
            if queried is not None:
                queried.add(f"->{field_name}")
            if self._dispatch(field_name):
                out |= self.field_callers.get(field_name, set())
        return {c for c in out if not self._leaf(c)}

    def _callees_of(self, key: str) -> set[str]:
        if self._leaf(key):
            return set()
        out = set(self.calls.get(key, ()))
        for field_name in self.fields_called.get(key, ()):
            if self.queried is not None:
                self.queried.add(f"->{field_name}")
            if self._dispatch(field_name):
                out |= self.field_targets.get(field_name, set())
        return {c for c in out if not self._leaf(c)}

    def is_macro(self, key: str) -> bool:
        """Whether every definition of `key` is a function-like or object-like macro."""
        if self.queried is not None:
            self.queried.add(key)
        fns = self.defs.get(key, ())
        return bool(fns) and all(fn.macro for fn in fns)

    def is_init(self, key: str) -> bool:
        if self.queried is not None:
            self.queried.add(key)
        fns = self.defs.get(key, ())
        return bool(fns) and all(fn.init for fn in fns)

    def _walk(self, keys: Iterable[str], up: bool,
              accept: Callable[[str], bool] | None = None,
              expand: Callable[[str], bool] | None = None, ordered: bool = False,
              limit: int | None = None, free: Callable[[str], bool] | None = None,
              use: str = "levels", predicate: str = "") -> dict[str, tuple[int, str | None]]:
        """Breadth-first from the keys along callers (`up`) or callees, at most
        `max_levels` levels (recorded in `deepest`, and `bounded` when the bound cut it
        short): every key met, with its level and the key before it on one shortest path
        (None for the keys themselves).
        A key `accept` refuses is not entered; one `expand` refuses is entered but not
        walked from.  `ordered` visits in sorted order: deterministic predecessors.  `use`
        tells the trace what the caller reads of the result, `predicate` which of its
        named predicates `accept` or `expand` is (analyzer/calltrace.py)."""
        step = self._callers if up else self._callees
        seen: dict[str, tuple[int, str | None]] = {k: (0, None) for k in keys}
        if self.queried is not None:
            self.queried |= seen.keys()
        frontier = [k for k in (sorted(seen) if ordered else seen)
                    if expand is None or expand(k)]
        level = 0
        while frontier:
            if limit is not None and level >= limit:
                break  # the caller's own bound, not the index's
            if level >= self.max_levels:
                self.bounded = True
                break
            level += 1
            nxt = []
            todo = list(frontier)
            i = 0
            while i < len(todo):
                k = todo[i]
                i += 1
                for other in sorted(step(k)) if ordered else step(k):
                    if other in seen or accept is not None and not accept(other):
                        continue
                    if free is not None and free(other):
                        # a macro is transparent: what the compiler sees is its user
                        # calling through it, at the same level
                        seen[other] = (seen[k][0], k)
                        if expand is None or expand(other):
                            todo.append(other)
                        continue
                    seen[other] = (level, k)
                    if expand is None or expand(other):
                        nxt.append(other)
            frontier = nxt
        self.deepest = max(self.deepest, level)
        if self.trace is not None:
            cap = self.max_levels if limit is None else min(limit, self.max_levels)
            self.trace.walked(up, seen, ordered, cap, level,
                              use="whole" if free is not None else use,
                              predicate="" if accept is None and expand is None else
                              predicate or "?")
        return seen

    def up(self, keys: Iterable[str], stop: Callable[[str], bool] | None = None,
           use: str = "set", predicate: str = "") -> set[str]:
        """The keys and every key with a call path to one; keys `stop` accepts are
        included but their callers are not followed.  `use`, `predicate` (stop's): see
        _walk."""
        return set(self._walk(keys, True, use=use, predicate=predicate,
                              expand=None if stop is None else lambda k: not stop(k)))

    def down(self, keys: Iterable[str], follow: Callable[[str], bool] | None = None,
             use: str = "set", predicate: str = "") -> set[str]:
        """The keys and every key they reach by calls (into keys `follow` accepts).
        `use`, `predicate` (follow's): see _walk."""
        return set(self._walk(keys, False, accept=follow, use=use, predicate=predicate))

    def page_param(self, key: str) -> bool:
        """Whether a definition of `key` takes a struct page (or folio) parameter, or `key`
        is a macro calling a function that does: a page handed to `__free_page(page)`
        reaches `__free_pages()`, which the macro expands to.  (A macro's parameters have
        no types.)  Asking it of a macro asks about its callees too (see `queried`)."""
        callees = self._page_through(key)
        if callees and self.queried is not None:
            self.queried |= callees
        return self.takes_page(key)

    def takes_page(self, key: str) -> bool:
        """page_param, asking nothing (the trace's flags)."""
        fns = self.defs.get(key, ())
        if any(fn.page_param for fn in fns):
            return True
        return any(fn.page_param for c in self._page_through(key)
                   for fn in self.defs.get(c, ()) if not fn.macro)

    def _page_through(self, key: str) -> frozenset[str] | set[str]:
        """The callees a page handed to `key` may reach when `key` is a macro (one level:
        a wrapper of a function), else nothing."""
        fns = self.defs.get(key, ())
        if not any(fn.macro for fn in fns):
            return frozenset()
        return self.calls.get(key, frozenset())

    def levels(self, keys: Iterable[str], up: bool = False, limit: int | None = None,
               paths: bool = True, use: str = "levels"
               ) -> dict[str, tuple[int, str | None]]:
        """Every key the keys reach by calls (up: every key with a call path to one of
        them), with its call levels from them and the key before it on one shortest path
        (None for the keys themselves); at most `limit` (else `max_levels`) levels.  With
        `limit`, a function-like macro costs no level: the compiler sees through it.
        Without `paths` the key before is any one (the levels are the same, and the walk
        does not sort every key's callers or callees to choose).  `use`: see _walk."""
        return self._walk(keys, up, ordered=paths, use=use,
                          limit=limit, free=None if limit is None else self.is_macro)

    def path_to_root(self, key: str, avoid: Callable[[str], bool]) -> list[str] | None:
        """A shortest caller chain from `key` up to a function nothing calls, through no key
        `avoid` accepts (macros are not roots: their users are), or None (also when no
        root is within `max_levels`)."""
        parents: dict[str, str | None] = {key: None}
        depth = {key: 0}
        if self.queried is not None:
            self.queried.add(key)
        queue = deque([key])
        while queue:
            k = queue.popleft()
            callers = self.callers_of(k)
            if not callers and self.defs.get(k) and not all(fn.macro for fn in self.defs[k]):
                chain = []
                node: str | None = k
                while node is not None:
                    chain.append(node)
                    node = parents[node]
                self.deepest = max(self.deepest, depth[k])
                if self.trace is not None:
                    self.trace.depth = max(self.trace.depth, depth[k])
                return chain
            if depth[k] >= self.max_levels:
                self.bounded = True
                continue
            for c in sorted(callers):
                if c not in parents and not avoid(c):
                    parents[c] = k
                    depth[c] = depth[k] + 1
                    queue.append(c)
        return None

    def keys_named(self, names: Iterable[str]) -> set[str]:
        """Keys of these names: the global name and every static of that name."""
        wanted = set(names)
        named, _ = self._seeds()
        if self.vocabulary is None or wanted <= self.vocabulary:
            found = {k for name in wanted for k in named.get(name, ())} | wanted
        else:  # a name the map does not hold
            found = {k for k in self.defs if k.split("@", 1)[0] in wanted} | wanted
        if self.queried is not None:
            self.queried |= found
        return found

    def defining(self, words: Iterable[str], attribute: str) -> set[str]:
        """The keys with a definition whose `attribute` ("mentions", "stores" or
        "signature": a LexFunction's set) has one of the words."""
        wanted = frozenset(words)
        _, worded = self._seeds()
        if self.vocabulary is None or wanted <= self.vocabulary:
            candidates = {k for w in wanted for k in worded.get(w, ())}
        else:  # a word the map does not hold: every definition is a candidate
            candidates = set(self.defs)
        return {k for k in candidates
                if any(getattr(fn, attribute) & wanted for fn in self.defs[k])}

    def _seeds(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Base name → keys, and word → keys of the definitions mentioning, storing or
        typed with it (names and words of `vocabulary` only, when set: a whole kernel's
        200,000 names would cost 40 MB): one pass over the definitions for every seed the
        demand looks for, instead of one pass per question."""
        if self._named is None or self._worded is None:
            named: dict[str, set[str]] = defaultdict(set)
            worded: dict[str, set[str]] = defaultdict(set)
            vocabulary = self.vocabulary
            for k, fns in self.defs.items():
                base = k.split("@", 1)[0]
                if vocabulary is None or base in vocabulary:
                    named[base].add(k)
                for fn in fns:
                    if fn.mentions or fn.stores or fn.signature:
                        words = fn.mentions | fn.stores | fn.signature
                        for w in words if vocabulary is None else words & vocabulary:
                            worded[w].add(k)
            self._named, self._worded = named, worded
        return self._named, self._worded

    def files_of(self, key: str) -> set[str] | tuple[str, ...]:
        """files_defining of one key, asking nothing (see `queried`)."""
        found = self.defined_in.get(key)
        if not found:
            found = (self.header_owner[key],) if key in self.header_owner else ()
        stored = self.stored_by.get(key)
        return found if not stored else set(found) | stored

    def files_defining(self, keys: Iterable[str]) -> set[str]:
        """The TUs to parse to have these functions: their .c files, else (a function only
        a quoted header defines) the first TU that includes it; and the TUs that store one
        of them in a field or variable, without which a call through that field resolves
        to nothing (`.pagetable_init = native_pagetable_init` in x86_init.c)."""
        out: set[str] = set()
        for k in keys:
            if self.queried is not None:
                self.queried.add(k)
            if self.defined_in.get(k):
                out |= self.defined_in[k]
            elif k in self.header_owner:
                out.add(self.header_owner[k])
            out |= self.stored_by.get(k, set())
        return out
