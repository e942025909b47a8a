"""Safe persistence of fitted segmenters (skops format).

:func:`save` writes any fitted estimator or pipeline of this package with
`skops <https://skops.readthedocs.io>`_; :func:`load` reads it back trusting only
the types of sklearn-mece and scikit-learn (plus what skops trusts by default:
numpy arrays and Python builtins). A file holding any other type is refused
before anything in it is constructed. ``joblib.dump``/``joblib.load`` work too,
for files you produced yourself.

Every fitted estimator records the sklearn-mece version it was fitted with;
loading it under another version warns (scikit-learn does the same for its own
version).
"""

import os

__all__ = ["TRUSTED_MODULES", "UntrustedTypeError", "load", "save", "untrusted_types"]

#: Module prefixes whose types :func:`load` trusts.
TRUSTED_MODULES = ("sklearn_mece.", "sklearn.")


class UntrustedTypeError(ValueError):
    """A model file holds types outside sklearn-mece and scikit-learn."""


def _skops_io():
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sklearn_mece.save/load need skops: pip install 'sklearn-mece[skops]'"
        ) from exc
    return sio


def save(estimator, path):
    """Save a fitted estimator or pipeline to ``path`` in the skops format.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Usually a fitted pipeline from :func:`make_cart_abandoner_pipeline`.
    path : str or path-like
        Destination file (conventionally ``*.skops``).

    Returns
    -------
    path : str
        The path written.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_mece import make_cart_abandoner_pipeline, save, load
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(1_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=0).fit(X)
    >>> path = save(pipe, os.path.join(tempfile.mkdtemp(), "model.skops"))
    >>> loaded = load(path)
    >>> loaded.transform(X)["segment"].equals(pipe.transform(X)["segment"])
    True
    """
    path = os.fspath(path)
    _skops_io().dump(estimator, path)
    return path


def untrusted_types(path):
    """Types in the file at ``path`` outside sklearn-mece and scikit-learn.

    Parameters
    ----------
    path : str or path-like
        A skops file.

    Returns
    -------
    list of str
        Fully qualified type names :func:`load` would refuse.
    """
    names = _skops_io().get_untrusted_types(file=os.fspath(path))
    return sorted(n for n in names if not n.startswith(TRUSTED_MODULES))


def load(path):
    """Load an estimator saved with :func:`save`, trusting only known types.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    estimator
        The fitted estimator or pipeline.

    Raises
    ------
    UntrustedTypeError
        If the file holds a type outside sklearn-mece, scikit-learn and skops'
        defaults; nothing in it is constructed then.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_mece import PercentileThresholder, save, load
    >>> t = PercentileThresholder((50,)).fit(np.arange(10.0).reshape(-1, 1))
    >>> load(save(t, os.path.join(tempfile.mkdtemp(), "t.skops"))).cuts_
    {'x0': array([4.5])}
    """
    sio = _skops_io()
    path = os.fspath(path)
    names = sio.get_untrusted_types(file=path)
    refused = sorted(n for n in names if not n.startswith(TRUSTED_MODULES))
    if refused:
        raise UntrustedTypeError(
            f"Refusing to load {path!r}: it contains types outside sklearn-mece "
            f"and scikit-learn: {refused}."
        )
    return sio.load(path, trusted=names)
