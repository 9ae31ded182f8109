"""The Jinja2 environment merchant-editable templates run in.

``ImmutableSandboxedEnvironment`` blocks private attributes, unsafe callables and mutation of
lists and dicts; ``StrictUndefined`` turns a typo into an error instead of a blank in a customer's
inbox. On top of that this environment routes every loop step, call, filter, operator and piece
of output through the budget in limits.py, so a hostile or careless template fails fast with a
``SecurityError`` instead of eating the worker's memory or CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, Template, nodes, select_autoescape
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from message_templates import limits

# str methods whose result can be far larger than their input (or, for format/format_map,
# reach attributes through field names). The replace/join/format filters do the same job with
# size checks.
_UNBOUNDED_STR_METHODS = frozenset({"format", "format_map", "replace", "join", "expandtabs"})

# Filters whose numeric arguments are values, not widths or counts.
_VALUE_ARGUMENT_FILTERS = frozenset({"default", "d", "int", "float", "round", "format", "sum"})


class _GuardedCodeGenerator(CodeGenerator):
    """Adds the hooks Jinja's sandbox lacks: loops, ``~`` and literal output are charged too."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        already = isinstance(node.iter, nodes.Call) and isinstance(node.iter.node, nodes.EnvironmentAttribute)
        if not already:
            # Compiles to environment.call(context, environment.guard_iter, <iterable>).
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("guard_iter", lineno=node.lineno),
                [node.iter],
                [],
                None,
                None,
                lineno=node.lineno,
            )
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guard_value(")
        super().visit_Concat(node, frame)
        self.write(")")

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        # Literal template text inside a loop or a {% set %} block adds up like any other output.
        return f"environment.guard_value({super()._output_const_repr(group)})"


def _param(params: tuple, kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    if len(params) > index:
        return params[index]
    return kwargs.get(name, default)


def _precheck_replace(value: Any, params: tuple, kwargs: Mapping[str, Any]) -> Any:
    limits.check_replace(
        value,
        _param(params, kwargs, 0, "old", ""),
        _param(params, kwargs, 1, "new", ""),
        _param(params, kwargs, 2, "count", None),
    )
    return value


def _precheck_join(value: Any, params: tuple, kwargs: Mapping[str, Any]) -> Any:
    return limits.bounded_items(value, _param(params, kwargs, 0, "d", ""))


def _precheck_format(value: Any, params: tuple, kwargs: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        limits.check_format(value, [*params, *kwargs.values()])
    return value


def _precheck_indent(value: Any, params: tuple, kwargs: Mapping[str, Any]) -> Any:
    width = _param(params, kwargs, 0, "width", 4)
    lines = value.count("\n") + 1 if isinstance(value, str) else limits.measure(value)
    limits.check_per_line(value, lines, len(width) if isinstance(width, str) else int(width))
    return value


def _precheck_wordwrap(value: Any, params: tuple, kwargs: Mapping[str, Any]) -> Any:
    width = max(int(_param(params, kwargs, 0, "width", 79)), 1)
    separator = _param(params, kwargs, 2, "wrapstring", None) or "\n"
    size = limits.measure(value)
    text = value if isinstance(value, str) else ""
    lines = min(size, 2 * size // width + text.count("\n") + 1)
    limits.check_per_line(value, lines, limits.measure(separator))
    return value


def _precheck_urlize(value: Any, params: tuple, kwargs: Mapping[str, Any]) -> Any:
    # Each link repeats its URL plus an <a> tag with the target/rel attributes.
    extra = 64 + limits.measure(kwargs.get("target")) + limits.measure(kwargs.get("rel"))
    size = limits.measure(value)
    limits.check_per_line(value, size // 4 + 1, extra + size // 4)
    return value


_PRECHECKS: dict[str, Callable[[Any, tuple, Mapping[str, Any]], Any]] = {
    "replace": _precheck_replace,
    "join": _precheck_join,
    "format": _precheck_format,
    "indent": _precheck_indent,
    "wordwrap": _precheck_wordwrap,
    "urlize": _precheck_urlize,
}


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # @pass_context / @pass_environment filters get that object before the value;
    # functools.wraps copies the marker, so Jinja keeps passing it.
    value_index = 1 if hasattr(func, "jinja_pass_arg") else 0
    precheck = _PRECHECKS.get(name)
    check_ints = name not in _VALUE_ARGUMENT_FILTERS

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        limits.tick()
        params = args[value_index + 1 :]
        if check_ints:
            limits.check_int_arguments(params, kwargs)
        if precheck is not None and len(args) > value_index:
            value = precheck(args[value_index], params, kwargs)
            args = (*args[:value_index], value, *params)
        return limits.check_value(func(*args, **kwargs))

    return guarded


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """Autoescaped HTML, plain text/JSON, strict undefined, bounded work."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, loader: BaseLoader, cache_size: int = 400):
        super().__init__(
            loader=loader,
            autoescape=select_autoescape(["html"], default_for_string=False, default=False),
            undefined=StrictUndefined,
            finalize=limits.check_value,
            trim_blocks=True,
            lstrip_blocks=True,
            cache_size=cache_size,
        )
        self.globals["range"] = limits.bounded_range
        self.globals.pop("lipsum", None)  # generates text nobody should send to a customer
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    # --- hooks the generated template code calls -------------------------------------------

    def guard_iter(self, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            limits.tick()
            yield item

    def guard_value(self, value: Any) -> Any:
        return limits.check_value(value)

    # --- sandbox overrides -------------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _UNBOUNDED_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        limits.tick()
        # The context is plain dicts: let ``cart.items`` mean the cart's items, not dict.items.
        if isinstance(obj, Mapping) and isinstance(attribute, str):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        # Checked before Jinja's own str.format special case would hand out a formatter.
        if isinstance(obj, str) and attribute in _UNBOUNDED_STR_METHODS:
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        limits.tick()
        if isinstance(obj, str) and argument in _UNBOUNDED_STR_METHODS:
            return self.unsafe_undefined(obj, argument)
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        limits.tick()
        if operator == "*":
            limits.check_repeat(left, right)
        elif operator == "**":
            limits.check_power(left, right)
        elif operator == "+":
            limits.check_concat(left, right)
        elif operator == "%" and isinstance(left, str):
            limits.check_format(left, limits.format_values(right))
        return limits.check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        # Double underscores as in Jinja: a template may pass keyword arguments named self/obj.
        limits.tick()
        limits.check_int_arguments(args, kwargs)
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive for
            args = (__self.guard_iter(args[0]), *args[1:])
        budget = limits.current_budget()
        if budget is None:
            return limits.check_value(super().call(__context, __obj, *args, **kwargs))
        budget.enter_call()
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.leave_call()
        return limits.check_value(result)

    def get_template(self, name: Any, parent: Any = None, globals: Any = None) -> Template:
        # An include in a loop, or a template including itself (which would otherwise recurse
        # until Python's recursion limit, ~1 s later, or crash a worker with a raised limit).
        budget = limits.current_budget()
        if budget is not None:
            budget.load_template()
        return super().get_template(name, parent, globals)


__all__ = ["TemplateSandbox", "SecurityError"]
