"""The Jinja sandbox for `jinja` values: ordinary templates render as in Prefect 2.20; the sandbox refuses
attribute tricks, and every way to make a render cost much (memory, loops, time) is stopped before it does."""

from __future__ import annotations

import time

import pytest

from apps.engine.services import templates
from apps.engine.services.templates import TemplateRejected, template_render


@pytest.mark.parametrize("source, expected", [
    ("plain text", "plain text"),
    ("{# a comment, no tag #}abc", "{# a comment, no tag #}abc"),  # not a template: returned as is (2.20)
    ("{{ 1 + 2 }}", "3"),
    ("{{ 'ab' * 3 }}-{{ 3 * 'ab' }}", "ababab-ababab"),
    ("{{ 'a,b' | replace(',', ' ') }} {{ ['a', 'b'] | join('-') }} {{ '-'.join(['c', 'd']) }}", "a b a-b c-d"),
    ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
    ("{{ '%05d' | format(3) }} {{ '{:>4}'.format(7) }}", "00003    7"),
    ("{{ missing.attribute.chain }}|", "|"),
    ("{{ 'x' ~ 1 ~ none }}", "x1None"),
    ("{{ [3, 1, 2] | sort | list }}", "[1, 2, 3]"),
    ("{{ ''.__class__ }}", ""),  # the sandbox hides internals
    ("{{ ['a', 'b'] | map('upper') | join('-') }} {{ '-'.join(['c', 'd'] | map('upper')) }}", "A-B C-D"),
    ("{{ 'ab'.encode().replace('a'.encode(), 'cc'.encode()) }}", "b'ccb'"),
])
def test_ordinary_templates_render(source, expected):
    assert template_render(source) == expected


@pytest.mark.parametrize("source, error", [
    ("{{ 'a' * 1000000000 }}", "A repetition would exceed"),
    ("{{ [[1] * 1000] * 1000 }}", "A repetition would exceed"),
    ("{% set s = 'x' * 1000 %}" + "{% set s = s ~ s %}" * 10 + "{{ s | length }}", "A concatenation would exceed"),
    ("{% set s = ['x'] * 1000 %}" + "{% set s = s + s %}" * 10 + "{{ s | length }}", "A sum would exceed"),
    ("{{ 10 ** 100000 }}", "A power would exceed"),
    ("{{ '%1000000000s' % 'x' }}", "A %-format width would exceed"),
    ("{{ '%*d' % (1000000000, 1) }}", "A %-format width would exceed"),
    ("{{ '{:>1000000000}'.format(1) }}", "A format width would exceed"),
    ("{{ 'x' | center(1000000000) }}", "A width or count would exceed"),
    ("{{ 'x'.ljust(1000000000) }}", "A width or count would exceed"),
    ("{{ ('ab' * 40000).replace('a', 'cccc') }}", "The result of 'replace' would exceed"),
    ("{{ ('ab' * 40000) | replace('a', 'cccc') }}", "The output of 'replace' would exceed"),
    ("{{ ('a\n' * 40000) | indent(100) }}", "The output of 'indent' would exceed"),
    ("{{ ('x' * 90000) | wordwrap(1, wrapstring='y' * 1000) }}", "The output of 'wordwrap' would exceed"),
    ("{{ lipsum(10000) }}", "lipsum would exceed"),
    ("{{ ('x' * 100000).encode() * 1000 }}", "A repetition would exceed"),
    ("{{ ('ab' * 40000).encode().replace('a'.encode(), 'cccc'.encode()) }}", "The result of 'replace' would exceed"),
    ("{{ '%1000000000s'.encode() % 'x'.encode() }}", "A %-format width would exceed"),
    ("{{ ('-' * 50000).join('abc' * 30000) }}", "The result of 'join' would exceed"),
    ("{{ ('abc' * 300) | map('upper') | join('x' * 50000) }}", "The output of 'join' would exceed"),
    ("{% for i in range(1000) %}x{% endfor %}", "Range too big"),
    ("{% for i in range(100) %}{% for j in range(100) %}{{ j }}{% endfor %}{% endfor %}",
     "loops ran more than 10000 iterations"),
    ("{% for c in 'x' * 90000 %}{% for d in 'y' * 90000 %}{% endfor %}{% endfor %}",
     "loops ran more than 10000 iterations"),
    ("{% for i in range(100) %}{% for j in range(99) %}{{ 'z' * 20 }}{% endfor %}{% endfor %}",
     "The output would exceed"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
])
def test_costly_templates_are_refused_before_they_cost(source, error):
    started = time.monotonic()
    with pytest.raises(TemplateRejected) as caught:
        template_render(source)
    assert error in str(caught.value)
    assert str(caught.value).startswith("Failed to render template due to the following error: ")
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("source, message", [
    ("{{ x", "unexpected end of template, expected 'end of print statement'."),
    ("".join("{% for i in [1] %}{% endfor %}" for _ in range(11)),
     "Contains 11 for loops. Templates can contain no more than 10 for loops."),
])
def test_static_limits_and_syntax_errors_are_prefects(source, message):
    with pytest.raises(TemplateRejected) as caught:
        template_render(source)
    assert str(caught.value) == message


def test_a_render_that_runs_out_of_time_stops(monkeypatch):
    monkeypatch.setattr(templates, "MAX_RENDER_SECONDS", 0.0)
    with pytest.raises(TemplateRejected) as caught:
        template_render("{% for i in range(3) %}{{ i }}{% endfor %}")
    assert "took longer than" in str(caught.value)


def test_each_render_has_its_own_budget():
    source = "{% for i in range(100) %}{% for j in range(90) %}{% endfor %}{% endfor %}done"
    assert [template_render(source) for _ in range(3)] == ["done"] * 3
