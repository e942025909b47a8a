"""The package's Jinja2 templates (``sklearn_mece/templates``): one environment.

Every HTML the package writes (the report, the notebook views) is rendered
here, with autoescape on: a value is never written into HTML unescaped.
"""

import functools


@functools.lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment: templates shipped in the package, every value
    escaped, an unknown name an error."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("sklearn_mece", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template, **context):
    """Render one template of the package with ``context``.

    Examples
    --------
    >>> html = render("mece.html.j2", mece_pass=True, mece_checks=[], mece_text="<ok>")
    >>> "PASS" in html and "&lt;ok&gt;" in html
    True
    """
    return environment().get_template(template).render(**context)
