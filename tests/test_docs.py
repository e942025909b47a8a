"""The documentation's API reference lists every public name, and each
estimator's HTML diagram links to its page there.

(The site itself is built with warnings as errors by ``.ci/run``:
``python -m sphinx -W -b html docs docs/_build/html``; it then checks that the
page each diagram links to was built.)
"""

import importlib
import inspect
import re
import runpy
import tomllib

import pytest
from _shared import ROOT
from sklearn.base import BaseEstimator
from sklearn.utils import estimator_html_repr
from test_docstrings import PUBLIC_MODULES

import sklearn_mece
from sklearn_mece._base import DocLinkMixin
from sklearn_mece._version import DOCS_URL, docs_version


def _api_reference_names():
    """The dotted names (without ``sklearn_mece.``) docs/api.rst documents."""
    text = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\S+)$", text, re.MULTILINE))
    listed |= set(re.findall(r"^\.\. data:: sklearn_mece\.(\S+)$", text, re.MULTILINE))
    return listed


def _public_estimators():
    """Every public estimator class, once, with the module that exports it."""
    found = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found.setdefault(obj, module_name)
    return found


def _instance(cls):
    if cls is sklearn_mece.presets.SegmentationPipeline:
        return sklearn_mece.make_cart_abandoner_pipeline()
    return cls()


def test_the_api_reference_lists_every_public_name():
    listed = _api_reference_names()
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


def test_every_estimators_diagram_links_to_its_api_page():
    estimators = _public_estimators()
    # the four estimators and the preset's pipeline, at least
    assert {
        sklearn_mece.PercentileThresholder,
        sklearn_mece.HierarchicalSegmenter,
        sklearn_mece.SegmentScorer,
        sklearn_mece.ClusterSegmenter,
        sklearn_mece.presets.SegmentationPipeline,
    } <= set(estimators)
    listed = _api_reference_names()
    base = f"{DOCS_URL}/en/{docs_version()}/generated/sklearn_mece."
    for cls in estimators:
        link = _instance(cls)._get_doc_link()
        assert link.startswith(base) and link.endswith(".html"), (cls, link)
        documented = link.removeprefix(base).removesuffix(".html")
        # the page autosummary generates for a name docs/api.rst lists
        assert documented in listed, (cls, link)
        assert (
            importlib.import_module(
                ".".join(["sklearn_mece", *documented.split(".")[:-1]])
            ).__dict__[documented.split(".")[-1]]
            is cls
        )


def test_the_pipelines_diagram_links_each_step_to_its_page():
    pipe = sklearn_mece.make_cart_abandoner_pipeline()
    html = estimator_html_repr(pipe)
    for step in [pipe, *pipe.named_steps.values()]:
        link = step._get_doc_link()
        assert link and f'href="{link}"' in html, (type(step).__name__, link)


def test_a_subclass_outside_the_package_links_nowhere():
    """scikit-learn's rule: only the package's own classes link to its pages
    (a user's subclass has no page there)."""

    class MyThresholder(sklearn_mece.PercentileThresholder):
        pass

    assert MyThresholder()._get_doc_link() == ""
    assert "sklearn-mece.readthedocs.io" not in estimator_html_repr(MyThresholder())


def test_a_single_instance_can_link_elsewhere():
    """A team hosting the docs itself points one diagram at its copy."""
    est = sklearn_mece.PercentileThresholder()
    est._doc_link_template = "https://docs.example/{estimator_module}.{estimator_name}"
    assert (
        est._get_doc_link() == "https://docs.example/sklearn_mece.PercentileThresholder"
    )
    assert sklearn_mece.PercentileThresholder()._get_doc_link().startswith(DOCS_URL)


@pytest.mark.parametrize(
    "version, expected",
    [
        ("0.2.0", "0.2.0"),
        ("1.0", "1.0"),
        ("1.0.1.post1", "1.0.1.post1"),
        ("0.2.0+ds1", "0.2.0"),
        ("0.3.0.dev0", "latest"),
        ("0.3.0rc1", "latest"),
        ("0.3.0a2", "latest"),
        ("0.3.0.dev0+g1234abc", "latest"),
    ],
)
def test_a_release_links_to_its_own_docs_a_development_version_to_latest(
    version, expected
):
    assert docs_version(version) == expected


def test_the_docs_address_has_one_home():
    """pyproject's URLs, the site's canonical address and Read the Docs'
    configuration agree with ``DOCS_URL``."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    urls = meta["project"]["urls"]
    assert urls["Documentation"] == f"{DOCS_URL}/en/stable/"
    assert urls["Changelog"] == f"{DOCS_URL}/en/stable/changelog.html"
    assert all(url.startswith(DOCS_URL) for url in urls.values()), urls
    assert (ROOT / "docs" / "changelog.md").is_file()
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert conf["html_baseurl"] == f"{DOCS_URL}/en/{docs_version()}/"
    # pages link to each parameter by its text: straight quotes, as written
    assert conf["smartquotes"] is False
    # the rules schema at the site's root, where its $id says it is
    (extra,) = conf["html_extra_path"]
    assert (ROOT / "docs" / extra).resolve() == (
        ROOT / "sklearn_mece" / "schemas" / "rules.schema.json"
    )
    yaml = pytest.importorskip("yaml")
    rtd = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text(encoding="utf-8"))
    assert rtd["version"] == 2
    assert rtd["sphinx"] == {"configuration": "docs/conf.py", "fail_on_warning": True}
    (install,) = rtd["python"]["install"]
    assert install["path"] == "." and "docs" in install["extra_requirements"]
    assert "docs" in meta["project"]["optional-dependencies"]


def test_the_mixin_comes_first():
    """The package's template wins over scikit-learn's (which links to
    scikit-learn's pages): the mixin precedes BaseEstimator in every MRO."""
    for cls in _public_estimators():
        mro = cls.__mro__
        assert mro.index(DocLinkMixin) < mro.index(BaseEstimator), cls
