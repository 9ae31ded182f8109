"""What an edited template must pass before it may become the active version.

1. Exactly the files of its channel and reason (``source_names``), each within the size cap.
2. Every file parses (all syntax errors at once, with their lines) and names only variables of
   the documented context (renderer.py), so a typo in a branch the samples never reach is still
   caught.
3. It renders, sandboxed and within the budget, for every worst-case sample: each incentive, a
   long first name / a name outside GSM-7 / none, first-time and returning, touch 1 and a later
   touch, one item and many. Rendering runs the channel checks (unsubscribe link and postal
   address in e-mails, opt-out text and the segment budget for SMS, push limits, retargeting
   without raw contact data). The "other" template stands in for any reason without its own
   template, so it is rendered for every reason.

The first failing render stops the check: one sample is enough to show what is wrong, and a
hostile template should not get 200 chances to burn its time budget.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import BaseLoader, TemplateSyntaxError, meta, nodes

from channel_models.vocabulary import INCENTIVES as INCENTIVE_KINDS
from channel_models.vocabulary import REASONS
from message_templates.context_limits import LONGEST_NAME, LONGEST_UCS2_NAME, MAX_CART_LINES
from message_templates.message import TemplateError
from message_templates.renderer import FALLBACK_REASON, MAX_SOURCE_CHARS, TemplateRenderer, source_names
from message_templates.samples import sample_context
from message_templates.sandbox import TemplateSandbox

INCENTIVES = (None, *INCENTIVE_KINDS)
# Worst cases for length and encoding: the longest name a message shows, one that forces UCS-2 SMS,
# none at all; one item, and the biggest cart the webhooks admit with every text at its longest.
FIRST_NAMES = (LONGEST_NAME, LONGEST_UCS2_NAME, None)
CART_SIZES = (1, MAX_CART_LINES)
CONTEXT_NAMES = frozenset(
    {"shop", "customer", "cart", "reason", "touch", "bucket", "incentive", "unsubscribe_url", "sms_opt_out", "audience"}
)
MAX_EMAIL_HTML_BYTES = 100_000  # Gmail clips larger messages, hiding the footer (and its unsubscribe link)

_PARSER = TemplateSandbox(BaseLoader())


@dataclass(frozen=True)
class Sample:
    reason: str
    incentive: str | None
    first_name: str | None
    returning: bool
    touch: int
    items: int

    def context(self) -> dict[str, Any]:
        return sample_context(
            self.reason,
            self.incentive,
            self.first_name,
            self.items,
            self.returning,
            touch=self.touch,
            longest=self.items > 1,
        )

    def describe(self) -> str:
        name = f"first name {self.first_name!r}" if self.first_name else "no first name"
        return (
            f"reason {self.reason}, incentive {self.incentive or 'none'}, {name}, "
            f"{'returning' if self.returning else 'first-time'} customer, touch {self.touch}, "
            + ("1 item" if self.items == 1 else f"{self.items} items with the longest titles")
        )


def worst_case_samples(reason: str) -> Iterator[Sample]:
    reasons = REASONS if reason == FALLBACK_REASON else (reason,)
    for combination in itertools.product(reasons, INCENTIVES, FIRST_NAMES, (False, True), (1, 2), CART_SIZES):
        yield Sample(*combination)


def check_sources(
    renderer: TemplateRenderer, channel: str, reason: str, sources: dict[str, str]
) -> list[TemplateError]:
    """Every problem found, most specific first; an empty list means the template may go live."""
    problems = _check_files(channel, reason, sources)
    if not problems:
        problems = [p for name, source in sources.items() for p in parse_problems(name, source)]
    if problems:
        return problems
    try:
        render = renderer.bind_source(channel, sources, reason)
        for sample in worst_case_samples(reason):
            try:
                message = render(sample.context())
            except TemplateError as exc:
                exc.message = f"{exc.message} (sample: {sample.describe()})"
                raise
            if message.html is not None and len(message.html.encode()) > MAX_EMAIL_HTML_BYTES:
                raise TemplateError(
                    f"e-mail HTML is {len(message.html.encode())} bytes; mail clients clip over {MAX_EMAIL_HTML_BYTES}",
                    template=f"{channel}/{reason}.html",
                )
    except TemplateError as exc:
        return [exc]
    return []


def _check_files(channel: str, reason: str, sources: dict[str, str]) -> list[TemplateError]:
    expected = source_names(channel, reason)
    problems = [TemplateError("this file is missing", template=name) for name in expected if name not in sources]
    problems += [
        TemplateError(f"unexpected file: a {channel} template for {reason!r} has {', '.join(expected)}", template=name)
        for name in sources
        if name not in expected
    ]
    problems += [
        TemplateError(f"template is longer than {MAX_SOURCE_CHARS} characters", template=name)
        for name, source in sources.items()
        if not isinstance(source, str) or len(source) > MAX_SOURCE_CHARS
    ]
    return problems


def parse_problems(name: str, source: str) -> list[TemplateError]:
    try:
        tree = _PARSER.parse(source, name)
    except TemplateSyntaxError as exc:
        return [TemplateError(f"syntax error: {exc.message}", exc.lineno, name)]
    unknown = meta.find_undeclared_variables(tree) - CONTEXT_NAMES - set(_PARSER.globals)
    problems = []
    for variable in sorted(unknown):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == variable), None)
        known = ", ".join(sorted(CONTEXT_NAMES))
        problems.append(TemplateError(f"undefined variable {variable!r} (templates may use: {known})", line, name))
    return problems
