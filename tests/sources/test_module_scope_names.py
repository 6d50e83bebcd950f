"""identifiers-v2: every name a function reads from its module reaches the model as written."""

from perfrl.model_contract import INPUT_ABSTRACTIONS
from perfrl.sources.abstraction import model_input, module_names_used, names_kept_for

MODULE = '''
import re
from collections import Counter as Tally
RATE = 0.2
LIMITS, (LOW, HIGH) = {}, (1, 2)
try:
    import ujson as json
except ImportError:
    import json

def helper(x):
    return x

class Invoice:
    pass

def total(lines, pattern):
    local = 3
    counts = Tally(re.findall(pattern, lines))
    return helper(sum(counts.values()) * RATE + HIGH + local), Invoice, json, undefined_name
'''
FUNCTION = MODULE[MODULE.index("def total"):]


def test_v2_keeps_imports_constants_functions_and_classes_the_function_reads():
    assert module_names_used(MODULE, FUNCTION) == {
        "re", "Tally", "RATE", "HIGH", "helper", "Invoice", "json"}


def test_v1_keeps_only_imports_and_none_keeps_nothing():
    assert names_kept_for("identifiers-v1", MODULE, FUNCTION) == {"re", "Tally", "json"}
    assert names_kept_for("none", MODULE, FUNCTION) == frozenset()
    assert "identifiers-v2" in INPUT_ABSTRACTIONS


def test_the_model_reads_module_names_as_written_and_locals_as_placeholders():
    keep = names_kept_for("identifiers-v2", MODULE, FUNCTION)
    text, table = model_input(FUNCTION, "identifiers-v2", keep)
    assert "RATE" in text and "helper(" in text and "Tally(" in text and "re.findall" in text
    assert "lines" not in text and "local" not in text and "undefined_name" not in text
    assert table is not None and "lines" in table.names.values()


def test_names_a_function_binds_itself_are_not_module_names():
    function = "def f(RATE):\n    helper = 1\n    return RATE + helper\n"
    assert module_names_used(MODULE, function) == frozenset()
    assert module_names_used("def broken(:", function) == frozenset()
    # An ``except ... as`` name shadows the module's name inside the function too.
    handler = ("def f(x):\n    try:\n        return x()\n    except ValueError as RATE:\n"
               "        return RATE\n")
    assert module_names_used(MODULE, handler) == frozenset()
