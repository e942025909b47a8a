"""The documentation's API reference lists every public name.

(The site itself is built with warnings as errors by ``.ci/run``:
``python -m sphinx -W -b html docs docs/_build/html``.)
"""

import importlib
import re

from _shared import ROOT
from test_docstrings import PUBLIC_MODULES


def test_the_api_reference_lists_every_public_name():
    text = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\S+)$", text, re.MULTILINE))
    listed |= set(re.findall(r"^\.\. data:: sklearn_mece\.(\S+)$", text, re.MULTILINE))
    package = importlib.import_module("sklearn_mece")
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        prefix = module_name.removeprefix("sklearn_mece").lstrip(".")
        for name in module.__all__:
            dotted = f"{prefix}.{name}" if prefix else name
            exported = getattr(package, name, None) is getattr(module, name)
            if dotted not in listed and not (exported and name in listed):
                missing.append(dotted)
    assert not missing, f"not in docs/api.rst: {missing}"
