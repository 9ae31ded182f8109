"""Default recovery-message templates per channel and abandonment reason, the sandboxed
renderer that fills them in, and the per-channel checks a message must pass before sending.

    renderer = TemplateRenderer()
    message = renderer.render("email", "shipping_cost", sample_context())

See renderer.py for the template files and the context keys templates may use.
"""

from message_templates.message import RenderedMessage, TemplateError
from message_templates.renderer import TemplateRenderer
from message_templates.samples import sample_context

__all__ = ["TemplateRenderer", "RenderedMessage", "TemplateError", "sample_context"]
