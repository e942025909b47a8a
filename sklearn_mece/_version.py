"""The release's metadata, in a module of its own: reading it imports nothing else.

``__version__`` is the package version (pyproject reads it from here).
``DOCS_URL`` is where the documentation is published: Read the Docs builds it
from ``.readthedocs.yaml`` on every push and tag. pyproject's
``[project.urls]`` and ``docs/conf.py`` name the same address (a test checks),
and each estimator's HTML diagram links to its API page there.
"""

import re

__version__ = "0.2.0"

DOCS_URL = "https://sklearn-mece.readthedocs.io"


def docs_version(version=__version__):
    """The documentation version a release links to.

    ``"stable"`` (the newest release) for a final release such as ``0.2.0``
    (a post-release or a local build of one included);
    ``"latest"`` (the main branch) for a development or pre-release version
    (``0.3.0.dev0``, ``0.3.0rc1``), whose pages exist only there. Both always
    exist on Read the Docs, unlike a page per version, which needs the tag
    activated there.
    """
    return (
        "stable"
        if re.fullmatch(r"\d+(\.\d+)*(\.post\d+)?(\+[\w.]+)?", version)
        else "latest"
    )
