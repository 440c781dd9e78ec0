"""Direct ctypes access to libclang, and the light cursor tree the walkers run over.

A private handle on the binding's shared library, so prototypes set here never disturb the
binding's own.  Hot queries (locations, extents, referenced declarations, operator kinds)
go straight to libclang through these prototypes instead of the binding's object wrappers,
and `tree` builds a function's cursors in one C-driven `clang_visitChildren`.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_int, c_longlong, c_uint, c_void_p

from clang import cindex as ci

# CXCursorKind values used by the walkers.
K_STRUCT, K_UNION, K_FIELD, K_FUNCTION, K_VAR, K_PARM = 2, 3, 6, 8, 9, 10
K_ENUM_CONST = 7
K_TYPE_REF, K_MEMBER_REF, K_LABEL_REF = 43, 47, 48
K_UNEXPOSED_EXPR, K_DECL_REF, K_MEMBER_EXPR, K_CALL = 100, 101, 102, 103
K_INT_LIT, K_FLOAT_LIT, K_IMAG_LIT, K_STRING_LIT, K_CHAR_LIT = 106, 107, 108, 109, 110
K_PAREN, K_UNARY, K_BINARY, K_COMPOUND_ASSIGN, K_CONDITIONAL = 111, 112, 114, 115, 116
K_CAST, K_INIT_LIST, K_STMT_EXPR, K_GNU_NULL, K_SIZEOF = 117, 119, 121, 123, 136
K_LABEL, K_COMPOUND, K_CASE, K_DEFAULT, K_IF, K_SWITCH = 201, 202, 203, 204, 205, 206
K_WHILE, K_DO, K_FOR, K_GOTO, K_INDIRECT_GOTO = 207, 208, 209, 210, 211
K_CONTINUE, K_BREAK, K_RETURN, K_NULL_STMT, K_DECL_STMT = 212, 213, 214, 230, 231

OP_LAND, OP_LOR, OP_ASSIGN = 20, 21, 22  # CXBinaryOperatorKind
UOP_ADDR, UOP_DEREF = 5, 6  # CXUnaryOperatorKind
LINKAGE_INTERNAL = 2
MACRO_BIT = 1 << 31  # set in a raw SourceLocation encoding for macro locations

_NO_DESCENT = frozenset({K_SIZEOF, K_DECL_REF, K_INT_LIT, K_FLOAT_LIT, K_STRING_LIT,
                         K_CHAR_LIT, K_TYPE_REF, K_MEMBER_REF, K_LABEL_REF})

_lib: ctypes.CDLL | None = None


def load() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(ci.conf.lib._name)
    cur, loc, rng, s = ci.Cursor, ci.SourceLocation, ci.SourceRange, _CXString
    protos = {
        "clang_getCursorLocation": (loc, [cur]),
        "clang_getCursorExtent": (rng, [cur]),
        "clang_getRangeStart": (loc, [rng]),
        "clang_getRangeEnd": (loc, [rng]),
        "clang_getFileLocation": (None, [loc, POINTER(c_void_p), POINTER(c_uint),
                                         POINTER(c_uint), POINTER(c_uint)]),
        "clang_getCursorReferenced": (cur, [cur]),
        "clang_getCursorSemanticParent": (cur, [cur]),
        "clang_getCursorDefinition": (cur, [cur]),
        "clang_getCursorBinaryOperatorKind": (c_int, [cur]),
        "clang_getCursorUnaryOperatorKind": (c_int, [cur]),
        "clang_Cursor_Evaluate": (c_void_p, [cur]),
        "clang_EvalResult_getKind": (c_int, [c_void_p]),
        "clang_EvalResult_getAsLongLong": (c_longlong, [c_void_p]),
        "clang_EvalResult_dispose": (None, [c_void_p]),
        "clang_Location_isFromMainFile": (c_int, [loc]),
        "clang_isCursorDefinition": (c_uint, [cur]),
        "clang_getCursorLinkage": (c_int, [cur]),
        "clang_Cursor_getVarDeclInitializer": (cur, [cur]),
        "clang_Cursor_isAnonymousRecordDecl": (c_uint, [cur]),
        "clang_Cursor_isFunctionInlined": (c_uint, [cur]),
        "clang_getCursor": (cur, [c_void_p, loc]),
        "clang_getLocationForOffset": (loc, [c_void_p, c_void_p, c_uint]),
        "clang_getFileName": (s, [c_void_p]),
        "clang_getDiagnosticSpelling": (s, [c_void_p]),
        "clang_getFile": (c_void_p, [c_void_p, ctypes.c_char_p]),
        "clang_getCursorUSR": (s, [cur]),
        "clang_getCursorSpelling": (s, [cur]),
        "clang_getTypeSpelling": (s, [ci.Type]),
        "clang_getCursorType": (ci.Type, [cur]),
        "clang_getCanonicalType": (ci.Type, [ci.Type]),
        "clang_getPointeeType": (ci.Type, [ci.Type]),
        "clang_getElementType": (ci.Type, [ci.Type]),
        "clang_getTypeDeclaration": (cur, [ci.Type]),
        "clang_getCursorResultType": (ci.Type, [cur]),
        "clang_getCString": (ctypes.c_char_p, [_CXString]),
        "clang_disposeString": (None, [_CXString]),
        "clang_visitChildren": (c_uint, [cur, ci.callbacks["cursor_visit"], ci.py_object]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


class _CXString(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("flags", c_uint)]


def take_str(cx: _CXString) -> str:
    """The text of a CXString a prototype above returned; the CXString is disposed."""
    lib = _lib
    raw = lib.clang_getCString(cx)
    lib.clang_disposeString(cx)
    # surrogateescape, as os.fsdecode: a file name that is not UTF-8 keeps its bytes and
    # stays equal to the path the compile database gave
    return raw.decode("utf-8", "surrogateescape") if raw else ""


def is_null(cursor: ci.Cursor) -> bool:
    return 70 <= cursor._kind_id <= 73  # CXCursor_FirstInvalid..LastInvalid


def children(cursor: ci.Cursor, kinds: frozenset[int]) -> list[ci.Cursor]:
    """Direct children of the given kinds, from one C-driven visit."""
    out: list[ci.Cursor] = []

    def visit(child: ci.Cursor, _parent: ci.Cursor, _data: object) -> int:
        if child._kind_id in kinds:
            out.append(child)
        return 1  # CXChildVisit_Continue

    load().clang_visitChildren(cursor, ci.callbacks["cursor_visit"](visit), None)
    return out


class Node:
    """A cursor with its children, built once per function body."""

    __slots__ = ("c", "k", "kids", "i")

    def __init__(self, c: ci.Cursor, k: int, i: int) -> None:
        self.c = c
        self.k = k
        self.kids: list[Node] = []
        self.i = i  # preorder serial: source order of calls, assigns, returns


def tree(cursor: ci.Cursor) -> Node:
    """The cursor's subtree in one C-driven visit.  A cursor's raw bytes identify it: the
    parent handed to the callback is byte-identical to the cursor visited before."""
    root = Node(cursor, cursor._kind_id, 0)
    keys: list[bytes] = [bytes(cursor)]
    nodes: list[Node] = [root]
    serial = [0]

    def visit(child: ci.Cursor, parent: ci.Cursor, _data: object) -> int:
        pkey = bytes(parent)
        while len(keys) > 1 and keys[-1] != pkey:
            keys.pop()
            nodes.pop()
        serial[0] += 1
        k = child._kind_id
        node = Node(child, k, serial[0])
        nodes[-1].kids.append(node)
        if k in _NO_DESCENT:
            return 1  # a leaf, or sizeof's unevaluated operand: nothing to walk below
        keys.append(bytes(child))
        nodes.append(node)
        return 2

    load().clang_visitChildren(cursor, ci.callbacks["cursor_visit"](visit), None)
    return root


def strip(n: Node) -> Node:
    """Look through parentheses, implicit and explicit casts."""
    while True:
        if (n.k == K_UNEXPOSED_EXPR or n.k == K_PAREN) and len(n.kids) == 1:
            n = n.kids[0]
        elif n.k == K_CAST and n.kids and n.kids[-1].k != K_TYPE_REF:
            n = n.kids[-1]
        else:
            return n
