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
    """The documentation version (Read the Docs' slug) a release links to.

    A final release links to the pages of its own version (``0.2.0``, or
    ``0.2.0.post1``; a local build such as ``0.2.0+ds1`` to ``0.2.0``), so a
    diagram always describes the parameters of the installed code: Read the
    Docs builds a version for each release tag, named as the version
    (RELEASING.md). A development or pre-release version (``0.3.0.dev0``,
    ``0.3.0rc1``) links to ``latest``, the main branch, where its pages are.
    """
    release = re.fullmatch(r"(\d+(?:\.\d+)*(?:\.post\d+)?)(?:\+[\w.]+)?", version)
    return release.group(1) if release else "latest"
