#!/usr/bin/env python3
"""One small template per Jinja feature the engine supports (in the spirit of huggingface.js
packages/jinja/test/templates.test.js), rendered by Python jinja2 configured exactly as
transformers configures it (see render_reference.py). Each case records the output, or that the
template fails and, for raise_exception, with which message.

Writes ../resources/fixtures/jinja-features.json, which JinjaFeatureTest reads.
Run from this directory:  python3 jinja_features.py
"""
import json
import os

import jinja2

from render_reference import compile_template

HERE = os.path.dirname(os.path.abspath(__file__))

M = {"role": "user", "content": "Hi there"}
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi!"},
    {"role": "user", "content": "Bye"},
]
PEOPLE = [{"name": "b", "age": 30, "tags": ["x"]}, {"name": "a", "age": 25, "tags": []},
          {"name": "c", "age": 30, "tags": ["y", "z"]}]

# (group, name, template, context)
CASES = [
    # --- text and whitespace control -------------------------------------------------------
    ("text", "no_template", "Hello world!", {}),
    ("text", "text_nodes", "0{{ 'A' }}1{{ 'B' }}{{ 'C' }}2{{ 'D' }}3", {}),
    ("text", "trailing_newline_dropped", "line\n", {}),
    ("text", "trim_blocks", "{% if True %}\nyes\n{% endif %}\nafter", {}),
    ("text", "lstrip_blocks", "  {% if True %}\n  x\n  {% endif %}\n", {}),
    ("text", "minus_strips_both_sides", "a  {%- if True -%}  b  {%- endif -%}  c", {}),
    ("text", "minus_on_variables", "a {{- 'b' -}} c", {}),
    ("text", "plus_keeps_leading_space", "  {%+ if True %}x{% endif %}", {}),
    ("text", "comments", "a{# a comment #}b\n  {# alone on its line #}\nc", {}),
    ("text", "raw", "{% raw %}{{ not rendered }}{% if %}{% endraw %}", {}),
    ("text", "unicode", "{{ '你好' }}{{ s }}", {"s": "😀 ok"}),
    # --- literals and operators ------------------------------------------------------------
    ("expressions", "literals",
     "{{ 1 }} {{ 1.5 }} {{ 'a' }} {{ \"b\" }} {{ True }} {{ False }} {{ None }} {{ [1, 'a'] }}"
     " {{ {'k': 1, 'j': [True]} }}", {}),
    ("expressions", "arithmetic",
     "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}"
     " {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -3 }} {{ 5 - -2 }}", {}),
    ("expressions", "float_repr", "{{ 0.1 + 0.2 }} {{ 1.0 }} {{ 3 / 1 }} {{ 2.5 * 2 }} {{ 1e-7 }}", {}),
    ("expressions", "string_concatenation", "{{ 'a' ~ 1 ~ None ~ True }} {{ 'x' + 'y' }}", {}),
    ("expressions", "string_repetition", "{{ 'ab' * 3 }}|{{ '-' * 0 }}", {}),
    ("expressions", "percent_format", "{{ 'hello %s, %d%%' % ('you', 3) }} {{ '%5.2f' % 3.14159 }}", {}),
    ("expressions", "comparisons",
     "{{ 1 < 2 }} {{ 'a' == 'a' }} {{ 1 == 1.0 }} {{ True == 1 }} {{ [1, 2] == [1, 2] }}"
     " {{ 'b' > 'a' }} {{ 2 >= 3 }} {{ None == None }} {{ 1 != '1' }}", {}),
    ("expressions", "logic",
     "{{ not False }} {{ 0 or 'x' }} {{ 1 and 2 }} {{ None or [] }} {{ not (1 and 0) }}"
     " {{ '' or 'empty' }}", {}),
    ("expressions", "membership",
     "{{ 'a' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1, 2] }}"
     " {{ 'z' not in 'abc' }}", {}),
    ("expressions", "conditional_expression", "{{ 'y' if 1 else 'n' }} {{ 'y' if 0 else 'n' }} [{{ 'y' if 0 }}]", {}),
    ("expressions", "attributes_and_items",
     "{{ m.role }} {{ m['content'] }} {{ messages[0].content }} {{ messages[-1]['role'] }}",
     {"m": M, "messages": MESSAGES}),
    ("expressions", "slices",
     "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[1:3] }} {{ s[::2] }} {{ s[-3:] }} {{ s[10:] }}",
     {"l": [1, 2, 3, 4], "s": "abcdefg"}),
    ("expressions", "reversed_messages",
     "{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}", {"messages": MESSAGES}),
    ("expressions", "undefined_prints_nothing", "[{{ missing }}] [{{ m.missing }}] [{{ m['nope'] }}]", {"m": M}),
    ("expressions", "undefined_is_false", "{% if missing %}y{% else %}n{% endif %}{% if not m.x %}!{% endif %}", {"m": M}),
    ("expressions", "string_methods",
     "{{ ' a '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'a b  c'.split() }}|{{ 'ab'.startswith('a') }}"
     "|{{ 'x'.upper() }}|{{ 'Hi'.lower() }}|{{ 'a-b-c'.replace('-', '+') }}|{{ 'abc'.endswith('c') }}"
     "|{{ 'hello world'.title() }}|{{ '  x'.lstrip() }}|{{ 'x  '.rstrip() }}|{{ 'xxhixx'.strip('x') }}"
     "|{{ 'abc'.find('c') }}|{{ 'a'.join(['1', '2']) }}|{{ 'hello'.capitalize() }}", {}),
    ("expressions", "dict_methods",
     "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys() | list }}"
     " {{ d.values() | list }} {{ d.get('a') }} {{ d.get('z', 0) }} [{{ d.get('z') }}]",
     {"d": {"a": 1, "b": 2}}),
    ("expressions", "list_methods", "{{ l.index(2) }} {{ l.count(1) }}", {"l": [1, 2, 1]}),
    # --- statements ------------------------------------------------------------------------
    ("statements", "if_elif_else",
     "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("statements", "for_loop_variables",
     "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
     "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}", {"messages": MESSAGES}),
    ("statements", "for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("statements", "for_with_filter",
     "{% for m in messages if m.role == 'user' %}{{ m.content }}{{ loop.index }} {% endfor %}",
     {"messages": MESSAGES}),
    ("statements", "for_unpacking", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}", {}),
    ("statements", "for_over_dict", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("statements", "for_over_string", "{% for c in 'abc' %}{{ c }}-{% endfor %}", {}),
    ("statements", "nested_loops",
     "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{% endfor %}", {}),
    ("statements", "break_and_continue",
     "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("statements", "set", "{% set x = 1 + 2 %}{% set y = x * 2 %}{{ x }} {{ y }}", {}),
    ("statements", "set_tuple", "{% set a, b = 1, 2 %}{{ b }}{{ a }}", {}),
    ("statements", "set_in_loop_does_not_leak",
     "{% set x = 'outer' %}{% for i in [1] %}{% set x = 'inner' %}{{ x }} {% endfor %}{{ x }}", {}),
    ("statements", "namespace_survives_loops",
     "{% set ns = namespace(count=0, last=None) %}{% for m in messages %}{% if m.role == 'user' %}"
     "{% set ns.count = ns.count + 1 %}{% set ns.last = m.content %}{% endif %}{% endfor %}"
     "{{ ns.count }} {{ ns.last }}", {"messages": MESSAGES}),
    ("statements", "set_block", "{% set greeting %}Hello {{ name }}!{% endset %}[{{ greeting }}]", {"name": "you"}),
    ("statements", "macro",
     "{% macro tag(name, value='none', sep=': ') %}<{{ name }}{{ sep }}{{ value }}>{% endmacro %}"
     "{{ tag('a') }}{{ tag('b', 2) }}{{ tag('c', sep='=', value=3) }}", {}),
    ("statements", "macro_recursion",
     "{% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(3) }}", {}),
    ("statements", "filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
    ("statements", "generation_block", "a{% generation %}b{{ 'c' }}{% endgeneration %}d", {}),
    # --- globals ---------------------------------------------------------------------------
    ("globals", "range", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }}", {}),
    ("globals", "namespace_and_dict", "{% set ns = namespace(a=1) %}{{ ns.a }} {{ dict(x=1, y='z') }}", {}),
    ("globals", "strftime_now", "{{ strftime_now('%Y-%m-%d %H:%M %d %b %Y') }}", {}),
    ("globals", "raise_exception", "{% if True %}{{ raise_exception('no tools here') }}{% endif %}", {}),
    # --- filters ---------------------------------------------------------------------------
    ("filters", "length_and_count", "{{ l | length }} {{ 'abc' | length }} {{ d | count }}", {"l": [1, 2], "d": {"a": 1}}),
    ("filters", "string", "{{ 1 | string }}{{ None | string }}{{ [1] | string }}", {}),
    ("filters", "upper_lower_title_capitalize", "{{ 'aB' | upper }} {{ 'aB' | lower }} {{ 'hi you' | title }} {{ 'hI' | capitalize }}", {}),
    ("filters", "trim", "[{{ '  x  ' | trim }}] [{{ '..x..' | trim('.') }}]", {}),
    ("filters", "replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }}", {}),
    ("filters", "default", "{{ missing | default('d') }} {{ '' | default('e') }} {{ '' | default('e', true) }} {{ none | d('x') }}", {"none": None}),
    ("filters", "first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }}", {}),
    ("filters", "list", "{{ 'ab' | list }} {{ d | list }}", {"d": {"k": 1}}),
    ("filters", "join", "{{ [1, 2] | join }} {{ ['a', 'b'] | join(', ') }} {{ people | join('/', attribute='name') }}", {"people": PEOPLE}),
    ("filters", "reverse", "{{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }}", {}),
    ("filters", "items", "{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}", {"d": {"a": 1, "b": 2}}),
    ("filters", "dictsort", "{{ d | dictsort }} {{ d | dictsort(by='value') }} {{ d | dictsort(reverse=true) }}", {"d": {"b": 1, "a": 2, "C": 0}}),
    ("filters", "sort", "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }}"
     " {{ people | sort(attribute='age') | map(attribute='name') | list }}", {"people": PEOPLE}),
    ("filters", "unique", "{{ [1, 2, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }}", {}),
    ("filters", "selectattr_rejectattr",
     "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}"
     " {{ people | rejectattr('tags') | map(attribute='name') | list }}", {"messages": MESSAGES, "people": PEOPLE}),
    ("filters", "select_reject", "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [0, 1, '', 'a'] | reject | list }}", {}),
    ("filters", "map", "{{ people | map(attribute='name') | list }} {{ ['a', 'b'] | map('upper') | list }}"
     " {{ people | map(attribute='missing', default='?') | list }}", {"people": PEOPLE}),
    ("filters", "abs_int_float_round",
     "{{ -3 | abs }} {{ '42' | int }} {{ 'x' | int }} {{ '4.7' | int }} {{ 3.9 | int }} {{ '1.5' | float }}"
     " {{ 2.567 | round(1) }} {{ 2.5 | round }} {{ 2.1 | round(method='ceil') }}", {}),
    ("filters", "max_min_sum", "{{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }} {{ [1, 2, 3] | sum }}"
     " {{ people | sum(attribute='age') }}", {"people": PEOPLE}),
    ("filters", "indent", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", {}),
    ("filters", "wordcount_center", "{{ 'one two  three' | wordcount }}[{{ 'ab' | center(6) }}]", {}),
    ("filters", "format", "{{ '%s-%s' | format(1, 'b') }}", {}),
    ("filters", "tojson",
     "{{ m | tojson }} {{ [1, 'é', None, True, 1.5] | tojson }} {{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}",
     {"m": M}),
    ("filters", "tojson_indent", "{{ {'a': [1, {'b': None}]} | tojson(indent=2) }}", {}),
    ("filters", "escape_and_safe", "{{ '<a & \"b\">' | e }} {{ '<b>' | escape }} {{ '<i>' | safe }}", {}),
    ("filters", "attr", "{{ m | attr('role') }}", {"m": M}),
    # --- tests -----------------------------------------------------------------------------
    ("tests", "defined_undefined", "{{ m is defined }} {{ missing is defined }} {{ missing is undefined }} {{ m.x is not defined }}", {"m": M}),
    ("tests", "none_boolean_true_false", "{{ none is none }} {{ 0 is none }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ false is false }}", {"none": None}),
    ("tests", "numbers", "{{ 1 is integer }} {{ 1.0 is integer }} {{ 1.0 is float }} {{ 1 is number }} {{ '1' is number }}", {}),
    ("tests", "string_mapping_iterable_sequence",
     "{{ 'a' is string }} {{ 1 is string }} {{ m is mapping }} {{ [1] is mapping }} {{ [1] is iterable }}"
     " {{ 1 is iterable }} {{ 'ab' is sequence }} {{ m is sequence }}", {"m": M}),
    ("tests", "callable", "{{ range is callable }} {{ 1 is callable }}", {}),
    ("tests", "odd_even_divisibleby", "{{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby(3) }} {{ 9 is divisibleby 4 }}", {}),
    ("tests", "comparison_tests",
     "{{ 1 is eq 1 }} {{ 1 is equalto(2) }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is le 2 }} {{ 3 is gt 2 }}"
     " {{ 2 is ge 3 }} {{ 2 is lessthan 3 }} {{ 2 is greaterthan 3 }}", {}),
    ("tests", "in_sameas", "{{ 1 is in [1, 2] }} {{ 'x' is in 'abc' }} {{ none is sameas none }} {{ true is sameas true }}", {"none": None}),
    ("tests", "lower_upper", "{{ 'ab' is lower }} {{ 'Ab' is lower }} {{ 'AB' is upper }}", {}),
    # --- errors ----------------------------------------------------------------------------
    ("errors", "undefined_attribute_of_undefined", "{{ missing.attribute }}", {}),
    ("errors", "unknown_filter", "{{ 1 | no_such_filter }}", {}),
    ("errors", "unclosed_block", "{% if True %}never closed", {}),
    ("errors", "mutating_a_list_is_unsafe", "{{ l.append(3) }}", {"l": [1]}),
    ("errors", "range_too_big", "{{ range(100001) | length }}", {}),
    ("errors", "division_by_zero", "{{ 1 / 0 }}", {}),
    ("errors", "string_plus_number", "{{ 'a' + 1 }}", {}),
]


def main():
    out = []
    for group, name, source, context in CASES:
        case = {"group": group, "name": name, "template": source, "context": context}
        try:
            case["output"] = compile_template(source).render(**context)
        except jinja2.exceptions.TemplateError as e:
            case["error"] = type(e).__name__
            if group == "globals":  # raise_exception: its message is the template's own
                case["message"] = str(e)
        except (ZeroDivisionError, TypeError, OverflowError) as e:
            case["error"] = type(e).__name__
        out.append(case)
    names = [c["name"] for c in out]
    assert len(names) == len(set(names)), "duplicate case names"
    path = os.path.join(HERE, "..", "resources", "fixtures", "jinja-features.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"generator": "jinja_features.py, jinja2 " + jinja2.__version__, "cases": out},
                  f, ensure_ascii=False, indent=1)
    print(f"{len(out)} cases, {sum('error' in c for c in out)} of them errors")


if __name__ == "__main__":
    main()
