"""The sandbox that renders users' Jinja templates (`{"__prefect_kind": "jinja"}` parameter values) within cost
bounds: Prefect 2.20's own limits on loops and `range`, plus ours on total loop iterations, on the size of
every string or collection a template builds and of its output, and on wall-clock time.

Templates are written by any member who may run a deployment and are rendered in a web worker's thread, so
an unbounded one (`{% set s = s ~ s %}` thirty times, `'x' * 10**9`, nested loops over long strings) would
take the worker's memory or CPU. Jinja's sandbox stops attribute tricks but not cost; the guards here check
sizes *before* an operation that could grow a value, because checking after it has allocated is too late.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any

from jinja2 import ChainableUndefined, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Prefect 2.20's limits (prefect/server/utilities/user_templates.py).
MAX_TEMPLATE_RANGE = 100
MAX_LOOP_COUNT = 10
MAX_NESTED_LOOP_DEPTH = 2
# Ours: loop iterations of one render, all loops together; characters (or items) of any value a template
# builds and of its output; seconds one render may take; bits of an integer it computes.
MAX_LOOP_ITERATIONS = 10_000
MAX_SIZE = 100_000
MAX_RENDER_SECONDS = 2.0
MAX_INT_BITS = 10_000
MAX_LIPSUM = 100

_NUMBER = re.compile(r"\d+")
_PERCENT_STAR = re.compile(r"%[-#0 +]*\*|%[-#0 +]*\d*\.\*")


class TemplateRejected(Exception):
    """The template cannot be used: a syntax error, a loop limit, or a cost bound hit while rendering."""


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what} would exceed the sandbox's limit of {MAX_SIZE} characters or items")


def weight(value: Any, limit: int = MAX_SIZE) -> int:
    """Roughly how many characters `value` renders to: strings count their length, collections their items
    and what those weigh (shared references counted each time, as rendering repeats them). Stops counting
    once past `limit`, so it costs O(limit) at most."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item) + 1
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 1
    return total


def _check_percent_format(fmt: str | bytes) -> None:
    """`'%1000000000s' % x` allocates its width: refuse widths past the limit and `*` widths."""
    if isinstance(fmt, bytes | bytearray):
        fmt = fmt.decode("latin-1")
    if _PERCENT_STAR.search(fmt) or any(int(n) > MAX_SIZE for n in _NUMBER.findall(fmt)):
        raise _too_big("A %-format width")


def _check_args(args: tuple, kwargs: dict) -> None:
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_SIZE:
            raise _too_big("A width or count")
        if weight(arg) > MAX_SIZE:
            raise _too_big("An argument")


def _lines(value: Any) -> int:
    return str(value).count("\n") + 1


# What a filter or str method would produce, for those whose output can outgrow their inputs' sizes.
def _predict_replace(s, old="", new="", *_):
    s, old, new = str(s), str(old), str(new)
    return len(s) + (s.count(old) if old else len(s) + 1) * len(new)


def _predict_join(sep, items, *_):
    return len(str(sep)) * len(items) + weight(items)  # items: materialised by the caller (_sized_items)


def _sized_items(args: tuple, at: int) -> tuple:
    """`args` with the iterable at `at` made a list when it has no length (a `map` generator): a join's size
    can only be predicted from a sized sequence."""
    if len(args) > at and not hasattr(args[at], "__len__"):
        return (*args[:at], list(args[at]), *args[at + 1:])
    return args


def _predict_indent(s, width=4, *_, **__):
    return len(str(s)) + _lines(s) * (width if isinstance(width, int) else len(str(width)))


def _predict_wordwrap(s, width=79, break_long_words=True, wrapstring=None, *_, **__):
    pieces = len(str(s)) // max(int(width), 1) + _lines(s)
    return len(str(s)) + pieces * len(wrapstring or "\n")


def _predict_expandtabs(s, tabsize=8):
    return len(s) + s.count("\t") * int(tabsize)


_METHOD_PREDICTIONS = {
    "replace": _predict_replace,
    "join": _predict_join,
    "expandtabs": _predict_expandtabs,
}
_FILTER_PREDICTIONS = {"replace": _predict_replace, "indent": _predict_indent, "wordwrap": _predict_wordwrap,
                       "join": lambda items, d="", *a, **k: _predict_join(d, items)}


class _Budget:
    """What one render may still spend: a deadline and loop iterations."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.iterations = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise SecurityError(f"The template took longer than the sandbox's {MAX_RENDER_SECONDS} seconds")


class _GuardedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` (and other implicit concatenation) through the sandbox's size check."""

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with cost guards; one per render (it carries that render's budget)."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=ChainableUndefined, autoescape=False)
        self.budget = _Budget()
        self.globals["range"] = _check_template_range
        self.globals["lipsum"] = self._guard(self.globals["lipsum"], name="lipsum")
        self.filters = {name: self._guard(f, name=name, filter_=True) for name, f in self.filters.items()}

    # -- guards -------------------------------------------------------------------------------------------

    def _guard(self, func, *, name: str, filter_: bool = False):
        predict = _FILTER_PREDICTIONS.get(name) if filter_ else None
        pass_arg = getattr(func, "jinja_pass_arg", None)

        @functools.wraps(func)
        def guarded(*args, **kwargs):
            self.budget.tick()
            if name == "join":
                args = _sized_items(args, 1 if pass_arg is not None else 0)
            values = args[1:] if pass_arg is not None else args
            _check_args(values, kwargs)
            if name == "lipsum" and values and isinstance(values[0], int) and values[0] > MAX_LIPSUM:
                raise _too_big("lipsum")
            if name == "format" and values and isinstance(values[0], str):
                _check_percent_format(values[0])
            if predict is not None and predict(*values, **kwargs) > MAX_SIZE:
                raise _too_big(f"The output of {name!r}")
            return self._checked(func(*args, **kwargs))

        return guarded

    def _checked(self, value):
        if weight(value) > MAX_SIZE:
            raise _too_big("A value")
        return value

    def bounded_iter(self, iterable):
        """Every `for` loop iterates through this: one budget of iterations for the whole render."""
        for item in iterable:
            self.budget.iterations += 1
            if self.budget.iterations > MAX_LOOP_ITERATIONS:
                raise SecurityError(f"The template's loops ran more than {MAX_LOOP_ITERATIONS} iterations")
            self.budget.tick()
            yield item

    def guarded_concat(self, parts) -> str:
        if sum(weight(part) for part in parts) > MAX_SIZE:
            raise _too_big("A concatenation")
        return "".join(map(str, parts))

    def call_binop(self, context, operator: str, left, right):
        self.budget.tick()
        sized = (str, bytes, bytearray, list, tuple)
        if operator == "*":
            seq, times = (left, right) if isinstance(left, sized) else (right, left)
            if isinstance(seq, sized) and isinstance(times, int) and weight(seq) * max(times, 0) > MAX_SIZE:
                raise _too_big("A repetition")
            if (isinstance(left, int) and isinstance(right, int)
                    and left.bit_length() + right.bit_length() > MAX_INT_BITS):
                raise SecurityError(f"A product would exceed {MAX_INT_BITS} bits")
        elif operator == "**":
            if (isinstance(left, int) and isinstance(right, int) and right > 0
                    and max(abs(left).bit_length(), 1) * right > MAX_INT_BITS and abs(left) > 1):
                raise SecurityError(f"A power would exceed {MAX_INT_BITS} bits")
        elif operator == "+":
            if isinstance(left, sized) and isinstance(right, sized) and weight(left) + weight(right) > MAX_SIZE:
                raise _too_big("A sum")
        elif operator == "%" and isinstance(left, str | bytes | bytearray):
            _check_percent_format(left)
        return self._checked(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # Jinja's signature (double underscores)
        __self.budget.tick()
        _check_args(args, kwargs)
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str | bytes | bytearray):
            name = getattr(target, "__name__", "")
            if name == "join":
                args = _sized_items(args, 0)
            text, seen = owner, args
            if not isinstance(owner, str):  # predict bytes methods on their latin-1 text: the same lengths
                text = owner.decode("latin-1")
                seen = tuple(a.decode("latin-1") if isinstance(a, bytes | bytearray) else a for a in args)
            if name in ("format", "format_map"):
                if any(int(n) > MAX_SIZE for n in _NUMBER.findall(text)):
                    raise _too_big("A format width")
            elif (predict := _METHOD_PREDICTIONS.get(name)) and predict(text, *seen) > MAX_SIZE:
                raise _too_big(f"The result of {name!r}")
        return __self._checked(super().call(__context, __obj, *args, **kwargs))


def _check_template_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_TEMPLATE_RANGE:
        raise OverflowError(f"Range too big. The sandbox blocks ranges larger than {MAX_TEMPLATE_RANGE=}.")
    return rng


def _loop_depth(node: nodes.Node, depth: int = 0) -> int:
    if isinstance(node, nodes.For):
        depth += 1
    return max((_loop_depth(child, depth) for child in node.iter_child_nodes()), default=depth)


def _check_loops(root: nodes.Template) -> None:
    """Prefect 2.20's static limits, worded as it words them."""
    loops = list(root.find_all(nodes.For))
    if not loops:
        return
    if len(loops) > MAX_LOOP_COUNT:
        raise TemplateRejected(f"Contains {len(loops)} for loops. Templates can contain no more than "
                               f"{MAX_LOOP_COUNT} for loops.")
    depth = max(_loop_depth(loop) for loop in loops)
    if depth > MAX_NESTED_LOOP_DEPTH:
        raise TemplateRejected(f"Contains nested for loops at a depth of {depth}. Templates can nest for loops "
                               f"no more than {MAX_NESTED_LOOP_DEPTH} loops deep.")


def template_render(source: str) -> str:
    """Validate and render a user's template with an empty context (undefined names render empty), as
    Prefect 2.20 hydrates `jinja` values. Text without `{{` or `{%` is returned as is, once it parses.
    Raises TemplateRejected (its message is the reason) for a syntax error, a loop limit or a cost bound."""
    sandbox = _Sandbox()
    try:
        root = sandbox.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(str(exc)) from None
    _check_loops(root)
    if "{{" not in source and "{%" not in source:
        return source
    for loop in root.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [loop.iter], [], None, None,
                               lineno=loop.lineno)
    root.set_environment(sandbox)
    try:
        template = sandbox.from_string(root)
        out, size = [], 0
        for chunk in template.generate():
            size += len(chunk)
            if size > MAX_SIZE:
                raise _too_big("The output")
            out.append(chunk)
    except Exception as exc:  # anything the template did wrong; Prefect 2.20 catches as widely
        raise TemplateRejected(f"Failed to render template due to the following error: {exc!r}") from None
    return "".join(out)
