"""Sphinx configuration of the sklearn-mece documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (CI runs it with
warnings as errors).
"""

import os

import sklearn_mece

project = "sklearn-mece"
author = "The sklearn-mece developers"
copyright = "2026, the sklearn-mece developers"
release = version = sklearn_mece.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
myst_heading_anchors = 3

templates_path = ["_templates"]
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # the examples read public data given by path: shown, not run, here
    "plot_gallery": "False",
    "filename_pattern": r"^$",
    "download_all_examples": False,
}

# the rules files' JSON Schema, at the site's root: its $id, the address a
# JSON rules file names as "$schema" (sklearn_mece._rules.schema_url)
html_extra_path = ["../sklearn_mece/schemas/rules.schema.json"]

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-mece {version}"
# straight quotes, as in the docstrings: the diagram's link to each parameter
# (recent scikit-learn) finds the text `name` then `type, default="..."` on the
# page, which curly quotes would not match (.ci/run checks every such link);
# and a default copied from a page stays valid Python
smartquotes = False
# where the site is published (Read the Docs, from .readthedocs.yaml): the
# canonical address of every page; Read the Docs sets it for the version it
# builds, and a build elsewhere names the version the diagrams link to
html_baseurl = os.environ.get(
    "READTHEDOCS_CANONICAL_URL",
    f"{sklearn_mece._version.DOCS_URL}/en/{sklearn_mece._version.docs_version()}/",
)
html_theme_options = {"navigation_with_keys": False}


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave out what scikit-learn generates on every estimator (the
    ``set_*_request`` methods of metadata routing): documented there."""
    if (getattr(obj, "__module__", None) or "").startswith("sklearn."):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
