"""numpydoc validation of every public name, in the spirit of scikit-learn's
``sklearn/tests/test_docstrings.py``.

Public names: the ``__all__`` of the package and of its public modules; for a
class, the public methods it defines itself (those inherited from
scikit-learn are scikit-learn's to document). Each docstring goes through
``numpydoc.validate`` and every error counts, except the checks below, which
the project does not follow (a stated filter, as scikit-learn has):

* ``SA01`` (a See Also section) and ``ES01`` (an extended summary): optional
  here; a short docstring that says what is needed is preferred.
* ``SS05`` (summary starting with an infinitive) and ``SS06`` (summary on one
  line): the summaries are sentences, some of two lines.
* ``RT02`` (the Returns line holding the type only): a return is often named.
* ``EX01`` for methods: every public function and class has an Examples
  section, a method only where it adds to its class's example.

The Examples sections run as doctests (``--doctest-modules`` in the pytest
configuration).
"""

import importlib
import inspect

import pytest

numpydoc_validate = pytest.importorskip(
    "numpydoc.validate", reason="numpydoc is in [dev]"
)

PUBLIC_MODULES = (
    "sklearn_mece",
    "sklearn_mece.datasets",
    "sklearn_mece.dask",
    "sklearn_mece.engine",
    "sklearn_mece.export",
    "sklearn_mece.features",
    "sklearn_mece.io",
    "sklearn_mece.metrics",
    "sklearn_mece.presets",
    "sklearn_mece.report",
    "sklearn_mece.spark",
    "sklearn_mece.sql",
)

#: numpydoc checks the project does not follow (see the module docstring).
IGNORED = {"SA01", "ES01", "SS05", "SS06", "RT02"}
#: ... and, for methods only.
IGNORED_FOR_METHODS = {"EX01"}


def _public_names():
    names = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue  # constants and data
            path = f"{obj.__module__}.{obj.__qualname__}"
            names[path] = False
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if isinstance(value, classmethod | staticmethod):
                        value = value.__func__  # from_dict and the like
                    if attr.startswith("_") or not callable(value):
                        continue
                    if getattr(value, "__module__", "").startswith("sklearn_mece"):
                        names[f"{path}.{attr}"] = True
    return dict(sorted(names.items()))


PUBLIC = _public_names()


def test_every_public_module_is_collected():
    assert len(PUBLIC) > 100
    assert "sklearn_mece._segmenter.HierarchicalSegmenter" in PUBLIC
    assert "sklearn_mece.metrics.tune_thresholds" in PUBLIC


@pytest.mark.parametrize("path", list(PUBLIC))
def test_docstring(path):
    result = numpydoc_validate.validate(path)
    ignored = IGNORED | (IGNORED_FOR_METHODS if PUBLIC[path] else set())
    errors = [
        f"{code}: {message}"
        for code, message in result["errors"]
        if code not in ignored
    ]
    assert not errors, f"{path}:\n  " + "\n  ".join(errors)
