"""Form rendering for the browser pages: every field labelled, with its help and errors tied to the input
(aria-describedby, aria-invalid) so screen readers announce them."""

from __future__ import annotations

from django import template
from django.forms import BoundField
from django.template.loader import render_to_string

register = template.Library()


@register.simple_tag
def field(bound: BoundField, **attrs):
    """Render one field: label, input, help text and errors, wired together for assistive technology."""
    widget_attrs = {k.replace("_", "-"): v for k, v in attrs.items()}
    described_by = []
    if bound.help_text:
        described_by.append(f"{bound.auto_id}_help")
    if bound.errors:
        described_by.append(f"{bound.auto_id}_errors")
        widget_attrs["aria-invalid"] = "true"
    if described_by:
        widget_attrs["aria-describedby"] = " ".join(described_by)
    is_check = getattr(bound.field.widget, "input_type", "") == "checkbox"
    return render_to_string(
        "web/includes/field.html",
        {"field": bound, "widget": bound.as_widget(attrs=widget_attrs), "is_check": is_check},
    )
