"""The ``$(...)`` value templates of the transformer plugins, parsed and evaluated safely.

Kong renders request-transformer values with Penlight templates whose ``$(expr)`` parts are Lua
expressions run in a sandbox that only knows ``headers``, ``query_params``, ``uri_captures`` and
``shared``. We never hand text to ``eval``: this module has its own tokenizer and a
precedence-climbing parser for the Lua expression subset that makes sense there, and a small
evaluator with Lua's rules (only ``nil`` and ``false`` are false, ``or`` returns an operand,
``a.b`` is ``a["b"]``, 1-based arrays, string methods such as ``headers.host:lower()``).

Supported: literals (nil, true, false, numbers, '...', "...", [[...]]), names, ``.name``,
``[expr]``, calls (string methods, and the sandbox's ``type`` and ``require`` — which refuses
every module, as Kong's default sandbox does; calling anything else is a render error, as
calling a nil global is in Kong), ``or and not == ~= < > <= >= .. + - * / % ^ #``
and parentheses. A syntax error is reported when the template is compiled (Kong's schema
rejects such values); an evaluation error when it is rendered (Kong answers 500).

A template part is found like Penlight finds it: ``$`` followed by a balanced ``(...)``; quotes
do not hide parentheses, so ``$('$(literal)')`` renders the text ``$(literal)``. A part's value is
rendered as ``tostring(value or '')``: nil and false render as the empty string.

Numbers are Lua's (LuaJIT's): every number is a double. Python ints are used only while a double
holds them exactly (|n| < 2^53); anything bigger becomes a float, overflow gives ``inf`` (a
header of 5000 nines, or ``0xfff…``, computes to ``inf`` as in Kong, never an exception), and
``tostring`` prints ``%.14g`` (``1e+15``, ``inf``, ``-inf``, ``nan``). Whatever else goes wrong
while rendering is a ``TemplateError`` (Kong answers 500 and logs one line).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, TypeAlias

from ..errors import AppError
from ..jsontypes import JSONObject

# A value of the template language (nil, boolean, number, string, table, function): dynamically
# typed like Lua's, so the evaluator checks it where Lua would (``attempt to index a nil value``).
LuaValue: TypeAlias = Any
# A parsed expression: its kind ("const", "name", "index", "bin", ...) and then its operands,
# which are constants, names or other nodes by kind (see ``_Parser`` and ``evaluate``).
Node: TypeAlias = tuple[Any, ...]


class TemplateSyntaxError(AppError, ValueError):
    """The template text is not a valid template (reported when the config is validated)."""


class TemplateError(Exception):
    """Rendering failed (e.g. indexing nil, calling a non-function)."""


_EXACT = 2**53  # below this a double holds every integer exactly


def lua_number(x: int | float) -> int | float:
    """``x`` as a Lua number (a double): an int only while exact, else a float (±inf on overflow)."""
    if isinstance(x, int):
        if -_EXACT < x < _EXACT:
            return x
        try:
            return float(x)
        except OverflowError:
            return math.inf if x > 0 else -math.inf
    if x.is_integer() and abs(x) < _EXACT:
        return int(x)
    return x


# -- tokens ---------------------------------------------------------------------------------------
_KEYWORDS = {"and", "or", "not", "nil", "true", "false"}
_RESERVED = {"break", "do", "else", "elseif", "end", "for", "function", "goto", "if", "in",
             "local", "repeat", "return", "then", "until", "while"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SYMBOLS = ("...", "..", "==", "~=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "^", "#",
            "(", ")", "[", "]", ".", ":", ",", "{", "}", ";", "=")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "\n": "\n"}
_MAX_DEPTH = 100


@dataclass(frozen=True)
class Tok:
    kind: str  # "name" | "kw" | "num" | "str" | "op" | "eof"
    value: LuaValue
    text: str


def _tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t\r\n":
            i += 1
            continue
        if src.startswith("--", i):
            raise TemplateSyntaxError("comments are not supported in templates")
        m = _NAME.match(src, i)
        if m:
            word = m.group()
            if word in _RESERVED:
                raise TemplateSyntaxError(f"unexpected symbol near '{word}'")
            toks.append(Tok("kw" if word in _KEYWORDS else "name", word, word))
            i = m.end()
            continue
        m = _NUMBER.match(src, i)
        if m and (c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit())):
            text = m.group()
            value = lua_number(int(text, 16) if text[:2].lower() == "0x" else float(text))
            toks.append(Tok("num", value, text))
            i = m.end()
            continue
        if c in "'\"":
            s, i = _read_string(src, i)
            toks.append(Tok("str", s, repr(s)))
            continue
        if c == "[" and (src.startswith("[[", i) or src.startswith("[=", i)):
            m2 = re.compile(r"\[(=*)\[").match(src, i)
            if m2:
                close = "]" + m2.group(1) + "]"
                end = src.find(close, m2.end())
                if end < 0:
                    raise TemplateSyntaxError("unfinished long string")
                body = src[m2.end():end]
                if body.startswith("\n"):
                    body = body[1:]
                toks.append(Tok("str", body, repr(body)))
                i = end + len(close)
                continue
        for sym in _SYMBOLS:
            if src.startswith(sym, i):
                toks.append(Tok("op", sym, sym))
                i += len(sym)
                break
        else:
            raise TemplateSyntaxError(f"unexpected symbol near '{c}'")
    toks.append(Tok("eof", None, "<eof>"))
    return toks


def _read_string(src: str, i: int) -> tuple[str, int]:
    quote_char = src[i]
    i += 1
    out: list[str] = []
    n = len(src)
    while True:
        if i >= n:
            raise TemplateSyntaxError("unfinished string")
        c = src[i]
        if c == quote_char:
            return "".join(out), i + 1
        if c == "\n":
            raise TemplateSyntaxError("unfinished string")
        if c == "\\":
            if i + 1 >= n:
                raise TemplateSyntaxError("unfinished string")
            e = src[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
            elif e.isdigit():
                m = re.compile(r"\d{1,3}").match(src, i + 1)
                assert m is not None
                code = int(m.group())
                if code > 255:
                    raise TemplateSyntaxError("decimal escape too large")
                out.append(chr(code))
                i = m.end()
            elif e == "x":
                m = re.compile(r"[0-9a-fA-F]{2}").match(src, i + 2)
                if not m:
                    raise TemplateSyntaxError("hexadecimal digit expected")
                out.append(chr(int(m.group(), 16)))
                i = m.end()
            else:
                raise TemplateSyntaxError(f"invalid escape sequence '\\{e}'")
            continue
        out.append(c)
        i += 1


# -- parser: AST nodes are tuples ----------------------------------------------------------------
# ("const", v) ("name", n) ("index", obj, key) ("call", fn, [args]) ("method", obj, name, [args])
# ("and", a, b) ("or", a, b) ("not", a) ("neg", a) ("len", a) ("bin", op, a, b)
_BINARY: dict[str, tuple[int, int]] = {
    "or": (1, 1), "and": (2, 2),
    "<": (3, 3), ">": (3, 3), "<=": (3, 3), ">=": (3, 3), "~=": (3, 3), "==": (3, 3),
    "..": (9, 8),
    "+": (10, 10), "-": (10, 10),
    "*": (11, 11), "/": (11, 11), "%": (11, 11),
    "^": (14, 13),
}
_UNARY_PRIORITY = 12


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.pos]

    def next(self) -> Tok:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def check_op(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.value == op

    def expect(self, op: str) -> None:
        if not self.check_op(op):
            raise TemplateSyntaxError(f"'{op}' expected near '{self.tok.text}'")
        self.pos += 1

    def parse(self) -> Node:
        node = self.expr(0)
        if self.tok.kind != "eof":
            raise TemplateSyntaxError(f"')' expected near '{self.tok.text}'")
        return node

    def expr(self, limit: int) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise TemplateSyntaxError("expression too complex")
        t = self.tok
        left: Node
        if (t.kind == "kw" and t.value == "not") or (t.kind == "op" and t.value in ("-", "#")):
            self.next()
            operand = self.expr(_UNARY_PRIORITY)
            left = ({"not": "not", "-": "neg", "#": "len"}[t.value], operand)
        else:
            left = self.simple()
        while True:
            t = self.tok
            op = t.value if (t.kind == "op" or (t.kind == "kw" and t.value in ("and", "or"))) else None
            if op not in _BINARY or _BINARY[op][0] <= limit:
                break
            self.next()
            right = self.expr(_BINARY[op][1])
            if op in ("and", "or"):
                left = (op, left, right)
            else:
                left = ("bin", op, left, right)
        self.depth -= 1
        return left

    def simple(self) -> Node:
        t = self.tok
        if t.kind == "num" or t.kind == "str":
            self.next()
            return ("const", t.value)
        if t.kind == "kw" and t.value in ("nil", "true", "false"):
            self.next()
            return ("const", {"nil": None, "true": True, "false": False}[t.value])
        if t.kind == "op" and t.value == "{":
            raise TemplateSyntaxError("table constructors are not supported in templates")
        return self.suffixed()

    def suffixed(self) -> Node:
        t = self.tok
        node: Node
        if t.kind == "name":
            self.next()
            node = ("name", t.value)
        elif self.check_op("("):
            self.next()
            node = ("paren", self.expr(0))
            self.expect(")")
        else:
            raise TemplateSyntaxError(f"unexpected symbol near '{t.text}'")
        while True:
            if self.check_op("."):
                self.next()
                if self.tok.kind != "name" and self.tok.kind != "kw":
                    raise TemplateSyntaxError(f"<name> expected near '{self.tok.text}'")
                node = ("index", node, ("const", self.next().value))
            elif self.check_op("["):
                self.next()
                key = self.expr(0)
                self.expect("]")
                node = ("index", node, key)
            elif self.check_op(":"):
                self.next()
                if self.tok.kind != "name":
                    raise TemplateSyntaxError(f"<name> expected near '{self.tok.text}'")
                name = self.next().value
                node = ("method", node, name, self.args())
            elif self.check_op("(") or self.tok.kind == "str":
                node = ("call", node, self.args())
            else:
                return node

    def args(self) -> list[Node]:
        if self.tok.kind == "str":
            return [("const", self.next().value)]
        self.expect("(")
        out: list[Node] = []
        if not self.check_op(")"):
            out.append(self.expr(0))
            while self.check_op(","):
                self.next()
                out.append(self.expr(0))
        self.expect(")")
        return out


def parse_expression(src: str) -> Node:
    """Parse one Lua expression (the inside of ``$(...)``)."""
    return _Parser(src).parse()


# -- evaluation -----------------------------------------------------------------------------------
class Env(Protocol):
    """Where an expression's free names are looked up (``LazyEnv``; tests give a dict)."""

    def get(self, name: str, /) -> LuaValue: ...


class LuaTable(Mapping[LuaValue, LuaValue]):
    """Read-only table with an optional key normalizer (headers: ``X_Foo`` → ``x-foo``)."""

    def __init__(self, data: Mapping[LuaValue, LuaValue], normalize: Callable[[str], str] | None = None) -> None:
        self._data = data
        self._normalize = normalize

    def lookup(self, key: LuaValue) -> LuaValue:
        if self._normalize is not None and isinstance(key, str):
            key = self._normalize(key)
        return self._data.get(key)

    def __getitem__(self, key: LuaValue) -> LuaValue:
        return self._data[key]

    def __iter__(self) -> Iterator[LuaValue]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def header_key(name: str) -> str:
    return name.lower().replace("_", "-")


def _type_name(v: LuaValue) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if callable(v):
        return "function"
    return "table"


def _norm_key(k: LuaValue) -> LuaValue:
    if isinstance(k, float) and k.is_integer():
        return int(k)
    return k


def _index(obj: LuaValue, key: LuaValue) -> LuaValue:
    key = _norm_key(key)
    if isinstance(obj, LuaTable):
        return obj.lookup(key)
    if isinstance(obj, dict):
        return obj.get(key)
    if isinstance(obj, (list, tuple)):
        if isinstance(key, int) and not isinstance(key, bool) and 1 <= key <= len(obj):
            return obj[key - 1]
        return None
    if isinstance(obj, str):
        return _STRING_METHODS.get(key) if isinstance(key, str) else None
    raise TemplateError(f"attempt to index a {_type_name(obj)} value")


def _sub(s: str, i: LuaValue = 1, j: LuaValue = -1) -> str:
    i, j = int(_tonumber_strict(i)), int(_tonumber_strict(j))
    n = len(s)
    if i < 0:
        i = max(n + i + 1, 1)
    elif i == 0:
        i = 1
    if j < 0:
        j = n + j + 1
    elif j > n:
        j = n
    return s[i - 1:j] if i <= j else ""


def _rep(s: str, n: LuaValue) -> str:
    count = int(_tonumber_strict(n))
    if count * len(s) > 65536:
        raise TemplateError("resulting string too large")
    return s * max(count, 0)


_STRING_METHODS: dict[str, Callable[..., LuaValue]] = {
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "len": lambda s: len(s),
    "reverse": lambda s: s[::-1],
    "sub": _sub,
    "rep": _rep,
}


# what Lua's tonumber reads (no "inf"/"nan" words, no "1_000" as Python's float() would take)
_HEX_STR = re.compile(r"[+-]?0[xX][0-9a-fA-F]+")
_DEC_STR = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _tonumber(v: LuaValue) -> float | int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return lua_number(v)
    if isinstance(v, str):
        s = v.strip(" \t\r\n\f\v")
        if _HEX_STR.fullmatch(s):
            return lua_number(int(s, 16))  # int() of hex digits has no length limit
        if _DEC_STR.fullmatch(s):
            return lua_number(float(s))  # 5000 nines → inf, as strtod gives
        return None
    return None


def _tonumber_strict(v: LuaValue) -> float | int:
    n = _tonumber(v)
    if n is None:
        raise TemplateError(f"attempt to perform arithmetic on a {_type_name(v)} value")
    return n


def tostring(v: LuaValue) -> str:
    """Lua's ``tostring`` for the values templates can produce (tables: values joined by ', ')."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        f = float(lua_number(v))
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        if math.isnan(f):
            return "nan"
        return f"{f:.14g}"  # LuaJIT's number format: 1e+14, 9.007199254741e+15, 0.1
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        # Lua would print "table: 0x..."; a header sent twice is more useful as its values
        return ", ".join(tostring(x) for x in v)
    if callable(v):
        return "function: builtin"
    return "table"


def _truthy(v: LuaValue) -> bool:
    return v is not None and v is not False


def _concat_operand(v: LuaValue) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return tostring(v)
    raise TemplateError(f"attempt to concatenate a {_type_name(v)} value")


def _compare(op: str, a: LuaValue, b: LuaValue) -> bool:
    if op == "==":
        return _lua_eq(a, b)
    if op == "~=":
        return not _lua_eq(a, b)
    both_num = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    if not both_num and not (isinstance(a, str) and isinstance(b, str)):
        raise TemplateError(f"attempt to compare {_type_name(a)} with {_type_name(b)}")
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def _lua_eq(a: LuaValue, b: LuaValue) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    if isinstance(a, (dict, list, LuaTable)):
        return a is b
    return bool(a == b)


def _floor(q: float) -> float:
    return q if math.isinf(q) or math.isnan(q) else math.floor(q)


def _arith(op: str, a: LuaValue, b: LuaValue) -> float | int:
    x, y = _tonumber_strict(a), _tonumber_strict(b)
    if op == "+":
        r: float | int = x + y
    elif op == "-":
        r = x - y
    elif op == "*":
        r = x * y
    elif op == "/":
        if y == 0:
            r = math.nan if x == 0 else math.copysign(math.inf, x)
        else:
            r = x / y
    elif op == "%":
        # Lua 5.1: a - floor(a/b)*b, in doubles (inf % 3 and 5 % inf are nan)
        r = math.nan if y == 0 else x - _floor(x / y) * y
    else:  # ^
        try:
            r = float(x) ** float(y)
        except ZeroDivisionError:  # 0 ^ -1
            r = math.inf
        except OverflowError:  # (-10) ^ 301 is -inf
            odd = float(y).is_integer() and float(y) % 2 == 1
            r = -math.inf if x < 0 and odd else math.inf
        if isinstance(r, complex):
            r = math.nan
    return lua_number(r)


def evaluate(node: Node, env: Env) -> LuaValue:
    """Evaluate a parsed expression. ``env`` answers ``env.get(name)`` for free names."""
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "name":
        return env.get(node[1])
    if kind == "paren":
        return evaluate(node[1], env)
    if kind == "index":
        return _index(evaluate(node[1], env), evaluate(node[2], env))
    if kind == "or":
        a = evaluate(node[1], env)
        return a if _truthy(a) else evaluate(node[2], env)
    if kind == "and":
        a = evaluate(node[1], env)
        return evaluate(node[2], env) if _truthy(a) else a
    if kind == "not":
        return not _truthy(evaluate(node[1], env))
    if kind == "neg":
        return -_tonumber_strict(evaluate(node[1], env))
    if kind == "len":
        v = evaluate(node[1], env)
        if isinstance(v, str):
            return len(v.encode("utf-8"))
        if isinstance(v, (list, tuple)):
            return len(v)
        if isinstance(v, (dict, LuaTable)):
            n = 0
            while _index(v, n + 1) is not None:
                n += 1
            return n
        raise TemplateError(f"attempt to get length of a {_type_name(v)} value")
    if kind == "bin":
        op = node[1]
        a = evaluate(node[2], env)
        b = evaluate(node[3], env)
        if op == "..":
            return _concat_operand(a) + _concat_operand(b)
        if op in ("==", "~=", "<", ">", "<=", ">="):
            return _compare(op, a, b)
        return _arith(op, a, b)
    if kind == "call":
        fn = evaluate(node[1], env)
        args = [evaluate(a, env) for a in node[2]]
        if not callable(fn):
            raise TemplateError(f"attempt to call a {_type_name(fn)} value")
        try:
            return fn(*args)
        except TemplateError:
            raise
        except Exception as exc:  # wrong argument types to a string method
            raise TemplateError(f"bad argument: {exc}") from None
    if kind == "method":
        obj = evaluate(node[1], env)
        fn = _index(obj, node[2])
        if not callable(fn):
            raise TemplateError(f"attempt to call method '{node[2]}' (a {_type_name(fn)} value)")
        args = [evaluate(a, env) for a in node[3]]
        try:
            return fn(obj, *args)
        except TemplateError:
            raise
        except Exception as exc:
            raise TemplateError(f"bad argument to '{node[2]}': {exc}") from None
    raise TemplateError(f"unknown node {kind}")  # pragma: no cover


# -- templates ------------------------------------------------------------------------------------
def _balanced_end(text: str, open_at: int) -> int:
    """Index just past the ``)`` closing the ``(`` at ``open_at``, or -1 (Lua's ``%b()``)."""
    depth = 0
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


@dataclass(frozen=True)
class Template:
    """A compiled value: literal text and expressions, rendered against an environment."""

    source: str
    parts: tuple[str | Node, ...]

    @cached_property
    def is_plain(self) -> bool:
        """No expression: renders to its source (asked per request, computed once)."""
        return all(isinstance(p, str) for p in self.parts)

    def render(self, env: Env) -> str:
        """The rendered text; any failure is a ``TemplateError`` (never another exception)."""
        out: list[str] = []
        try:
            for p in self.parts:
                if isinstance(p, str):
                    out.append(p)
                else:
                    v = evaluate(p, env)
                    out.append(tostring(v if _truthy(v) else ""))
        except TemplateError:
            raise
        except (RecursionError, MemoryError, ArithmeticError, ValueError, TypeError) as exc:
            raise TemplateError(f"{type(exc).__name__}: {exc}") from None
        return "".join(out)


def compile_template(text: str) -> Template:
    """Compile ``text``; raises TemplateSyntaxError for a ``$(...)`` that is not an expression."""
    parts: list[str | Node] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        j = text.find("$(", i)
        if j < 0:
            literal.append(text[i:])
            break
        end = _balanced_end(text, j + 1)
        if end < 0:  # no balanced parenthesis: the "$" is plain text
            literal.append(text[i:j + 1])
            i = j + 1
            continue
        literal.append(text[i:j])
        if literal:
            joined = "".join(literal)
            if joined:
                parts.append(joined)
            literal = []
        parts.append(parse_expression(text[j + 2:end - 1]))
        i = end
    tail = "".join(literal)
    if tail:
        parts.append(tail)
    return Template(text, tuple(parts))


def _sandbox_require(name: LuaValue) -> LuaValue:
    # Kong's default sandbox (untrusted_lua = sandbox, no untrusted_lua_sandbox_requires)
    raise TemplateError(f"require '{tostring(name)}' not allowed within sandbox")


# What Kong's default template sandbox holds besides the request's tables: its home-made
# ``require`` (which refuses every module) and ``type``, which request-transformer adds because
# repeated headers and arguments are tables (kong/plugins/request-transformer/access.lua).
SANDBOX_GLOBALS: dict[str, Callable[..., LuaValue]] = {"type": _type_name, "require": _sandbox_require}


class LazyEnv:
    """Template environment whose tables are loaded on first use and then kept (as Kong's);
    other names are Kong's default sandbox globals (``SANDBOX_GLOBALS``) or nil."""

    def __init__(self, loaders: Mapping[str, Callable[..., LuaValue]], *args: object) -> None:
        """``loaders[name](*args)`` builds the table ``name``: a plugin passes one module-level
        mapping and the request, so an environment costs one object per request."""
        self._loaders = loaders
        self._args = args
        self._values: JSONObject = {}

    def get(self, name: str) -> LuaValue:
        if name in self._values:
            return self._values[name]
        loader = self._loaders.get(name)
        if loader is None:
            return SANDBOX_GLOBALS.get(name)  # sandboxed: no other globals exist
        value = loader(*self._args)
        self._values[name] = value
        return value


__all__ = [
    "Template", "TemplateError", "TemplateSyntaxError", "LazyEnv", "SANDBOX_GLOBALS", "LuaTable", "compile_template",
    "lua_number",
    "parse_expression", "evaluate", "tostring", "header_key",
]
