"""Safe persistence of fitted segmenters (skops format).

:func:`save` writes any fitted estimator or pipeline of this package with
`skops <https://skops.readthedocs.io>`_; :func:`load` reads it back trusting
only :data:`TRUSTED_TYPES`: the exact classes a fitted sklearn-mece pipeline
holds. A file naming anything else (a function, a module, another class), or
asking skops to build a value in any way but the ones those pipelines use, is
refused before anything in it is constructed. ``joblib.dump``/``joblib.load``
work too, for files you produced yourself (and for pipelines holding other
estimators, e.g. a custom clusterer).

A file is read within a size limit (``max_bytes``, 2 GiB unless told): on
disk, and as its members declare their sizes, which decompression never
exceeds (members are stored or deflated, decompressed a megabyte at a time;
``schema.json`` at most :data:`MAX_SCHEMA_BYTES`), so that a small crafted
archive (a "zip bomb") cannot fill the memory of the job that loads it; skops
then reads an uncompressed copy of the checked members.

A file is also checked where a well-typed but crafted value could crash the
process later: the serialized quantile sketches of every
:class:`PercentileThresholder` (fed to a native deserialiser by ``partial_fit``
and ``merge``) and the k-d trees of nearest-neighbour predictors (indexed
without bounds checks by ``predict``).

Every fitted estimator records the sklearn-mece version it was fitted with;
loading it under another version warns (scikit-learn does the same for its own
version).
"""

import io
import json
import os
import zipfile
from collections import Counter

import numpy as np

from ._base import check_positive_integer

__all__ = [
    "MAX_MODEL_BYTES",
    "MAX_SCHEMA_BYTES",
    "TRUSTED_TYPES",
    "UntrustedTypeError",
    "load",
    "save",
    "untrusted_types",
]

#: The most bytes :func:`load` and :func:`untrusted_types` read from a model
#: file unless told otherwise (2 GiB): the file itself, and the sum of its
#: members once decompressed. A fitted segmentation pipeline takes kilobytes;
#: the largest state it can hold, a ``ClusterSegmenter``'s nearest-neighbour
#: tree of its training rows, takes about 40 bytes per row and feature.
MAX_MODEL_BYTES = 1 << 31

#: The most bytes the ``schema.json`` of a model file may hold (16 MiB). It
#: describes every object of the model, parsed into Python objects many times
#: its size: the cart-abandoner preset's takes 364 KB, a hierarchy of 300 rules
#: 3.8 MB (arrays are members of their own, under :data:`MAX_MODEL_BYTES`).
MAX_SCHEMA_BYTES = 1 << 24

# members are decompressed this many bytes at a time
_CHUNK = 1 << 20

# what skops writes (stored, or deflated with compression=); zipfile inflates
# the others (bzip2, LZMA) whole before it counts a byte
_COMPRESSIONS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})

#: Every class a file may name, by the fully qualified name skops records.
#: Derived from the fitted state of every configuration the tests save: the
#: estimators of this package and ``SegmentationPipeline``; scikit-learn's
#: ``Pipeline`` (``make_pipeline`` of our steps); the clusterers
#: ``ClusterSegmenter`` accepts that skops can save (``Birch`` it cannot), its
#: scalers, and its default inductive predictor (``KNeighborsClassifier``, which
#: holds a ``KDTree`` and its metric); the builtins and numpy types of fitted
#: attributes. ``tests/test_security.py`` checks that every type in a file saved
#: from those configurations is listed here and that every entry is a class.
TRUSTED_TYPES = (
    "builtins.bytes",
    "builtins.dict",
    "builtins.int",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.float64",
    "numpy.int64",  # scalars in clusterers' fitted state (scikit-learn 1.6)
    "numpy.ndarray",
    "sklearn.cluster._agglomerative.AgglomerativeClustering",
    "sklearn.cluster._dbscan.DBSCAN",
    "sklearn.cluster._hdbscan.hdbscan.HDBSCAN",
    "sklearn.cluster._kmeans.KMeans",
    "sklearn.cluster._kmeans.MiniBatchKMeans",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.mixture._gaussian_mixture.GaussianMixture",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.RobustScaler",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn_mece._cluster.ClusterSegmenter",
    "sklearn_mece._scorer.SegmentScorer",
    "sklearn_mece._segmenter.HierarchicalSegmenter",
    "sklearn_mece._thresholder.PercentileThresholder",
    "sklearn_mece.presets.SegmentationPipeline",
)

# How skops may build values from a file: the node kinds saved pipelines use.
# The others call or return what they name: a function (FunctionNode,
# PartialNode), a constructor called with arguments from the file
# (ConstructorFromReduceNode, ReduceNode kinds), a method (MethodNode), an
# ``operator`` callable (OperatorFuncNode), ...
_NODE_KINDS = frozenset(
    {
        "BytesNode",
        "DictNode",
        "JsonNode",
        "ListNode",
        "NdArrayNode",
        "ObjectNode",
        "TupleNode",
        "TypeNode",
    }
)


class UntrustedTypeError(ValueError):
    """A model file names a type (or a way to build one) :func:`load` refuses.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn_mece import load, save
    >>> path = os.path.join(tempfile.mkdtemp(), "f.skops")
    >>> path = save(FunctionTransformer(abs), path)
    >>> try:
    ...     load(path)
    ... except UntrustedTypeError as exc:
    ...     print(isinstance(exc, ValueError), "builtins.abs" in str(exc))
    True True
    """


def _skops_io():
    from ._base import optional_import

    return optional_import("skops.io", feature="sklearn_mece.save/load", extra="skops")


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


class _InvalidModelFile(ValueError):
    """A ValueError that already names the file and its problem."""


def _invalid(path, problem):
    return _InvalidModelFile(
        f"Cannot load {path!r}: not a valid sklearn-mece model file: {problem}"
    )


def _too_large(path, what, size, max_bytes):
    return _invalid(
        path,
        f"{what} {size:,} bytes, over max_bytes={max_bytes:,}; pass a larger "
        "max_bytes to load a file you know",
    )


def _unpack(archive, path, max_bytes):
    """The members of ``archive`` copied uncompressed, within ``max_bytes``.

    Before anything is decompressed: every member must be stored or deflated,
    be stored once, and declare sizes that sum to at most ``max_bytes``
    (``schema.json`` at most :data:`MAX_SCHEMA_BYTES`). zipfile then stops
    each member at the size it declares (a longer stream fails its CRC), and
    it is copied ``_CHUNK`` bytes at a time, so memory stays within the
    declared sizes however much a member would inflate. The copy (ZIP_STORED)
    lets skops read every array without decompressing anything.
    """
    infos = archive.infolist()
    duplicated = sorted(
        n for n, k in Counter(i.filename for i in infos).items() if k > 1
    )
    if duplicated:
        raise _invalid(path, f"members stored twice: {duplicated[:5]}")
    methods = {i.compress_type for i in infos} - _COMPRESSIONS
    if methods:
        raise _invalid(
            path,
            f"members compressed with method(s) {sorted(methods)}; a model file's "
            "members are stored or deflated",
        )
    declared = sum(info.file_size for info in infos)
    if declared > max_bytes:
        raise _too_large(path, "its members declare", declared, max_bytes)
    schema = next((i for i in infos if i.filename == "schema.json"), None)
    if schema is not None and schema.file_size > MAX_SCHEMA_BYTES:
        raise _invalid(
            path,
            f"schema.json declares {schema.file_size:,} bytes, over "
            f"sklearn_mece.io.MAX_SCHEMA_BYTES={MAX_SCHEMA_BYTES:,}",
        )
    copy = io.BytesIO()
    with zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as out:
        for info in infos:
            if info.is_dir():
                continue
            with archive.open(info) as src, out.open(info.filename, "w") as dst:
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
    return copy.getvalue()


def _read(path, max_bytes=MAX_MODEL_BYTES):
    """The file's members, uncompressed, as a zip's bytes, and its ``schema.json``."""
    with open(path, "rb") as f:  # a missing file keeps FileNotFoundError
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise _too_large(path, "the file is", size, max_bytes)
        # read(n) allocates n bytes up front: ask for what fstat saw, and one
        # more to notice a file that grew since
        data = f.read(size + 1)
    if len(data) > size:
        raise _invalid(path, "the file grew while it was read")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = _unpack(archive, path, max_bytes)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except _InvalidModelFile:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the format problem
        raise _invalid(path, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(schema, dict):
        raise _invalid(path, "schema.json does not describe an object")
    return data, schema


def _schema_refusals(schema, path):
    """Names and node kinds of ``schema`` that :func:`load` refuses.

    Walks every object of the schema that skops would read as a node (any
    mapping with a ``__loader__``), wherever it sits, so nothing that skops
    constructs escapes the check.
    """
    trusted = set(TRUSTED_TYPES)
    refused = set()
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        stack.extend(item.values())
        if "__loader__" not in item:
            continue
        kind, module, name = (
            item.get(k) for k in ("__loader__", "__module__", "__class__")
        )
        if not all(isinstance(v, str) for v in (kind, module, name)):
            raise _invalid(path, f"malformed node {json.dumps(item)[:80]}")
        qualified = f"{module}.{name}"
        if kind not in _NODE_KINDS:
            refused.add(f"{qualified} ({kind})")
        elif qualified not in trusted:
            refused.add(qualified)
    return refused


def _refusals(path, max_bytes):
    """Everything in the file at ``path`` that :func:`load` refuses, and its
    members uncompressed (a zip's bytes)."""
    sio = _skops_io()
    data, schema = _read(path, check_positive_integer(max_bytes, "max_bytes"))
    refused = _schema_refusals(schema, path)
    if not refused:
        # skops' own audit too, for anything it reports beyond the nodes' names
        try:
            reported = sio.get_untrusted_types(data=data)
        except Exception as exc:  # noqa: BLE001 - whatever the format problem
            raise _invalid(path, f"{type(exc).__name__}: {exc}") from exc
        refused = set(reported) - set(TRUSTED_TYPES)
    return sorted(refused), data


def untrusted_types(path, *, max_bytes=MAX_MODEL_BYTES):
    """What in the file at ``path`` :func:`load` refuses.

    Parameters
    ----------
    path : str or path-like
        A skops file.
    max_bytes : int, default=MAX_MODEL_BYTES
        The most bytes read: the file, and its members once decompressed
        (2 GiB by default).

    Returns
    -------
    list of str
        Fully qualified names outside :data:`TRUSTED_TYPES`, and
        ``"name (NodeKind)"`` for values skops would build in a way saved
        pipelines never use (calling a function, a method, ...). Empty when
        :func:`load` accepts the file's types.

    Raises
    ------
    ValueError
        If the file is not a skops file (corrupt, truncated, not a zip), or
        is larger than ``max_bytes`` on disk or once decompressed.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_mece import PercentileThresholder, save
    >>> t = PercentileThresholder((50,)).fit(np.arange(10.0).reshape(-1, 1))
    >>> untrusted_types(save(t, os.path.join(tempfile.mkdtemp(), "t.skops")))
    []
    """
    return _refusals(os.fspath(path), max_bytes)[0]


def _children(item, where):
    from sklearn.base import BaseEstimator

    if isinstance(item, dict):
        return [(f"{where}[{k!r}]", v) for k, v in item.items()]
    if isinstance(item, (list, tuple)):
        return [(f"{where}[{i}]", v) for i, v in enumerate(item)]
    if isinstance(item, BaseEstimator):
        return [(f"{where}.{k}", v) for k, v in vars(item).items()]
    return []


def _check_kd_tree(tree):
    """A k-d tree must be the tree of its own data (queries trust its indices)."""
    from ._compat import euclidean_distance_class

    EuclideanDistance64 = euclidean_distance_class()
    from sklearn.neighbors import KDTree

    state = tree.__getstate__()
    if len(state) != 13:  # the layout of scikit-learn's BinaryTree.__getstate__
        raise ValueError("unexpected k-d tree state; cannot check it")
    data, leaf_size, metric, weight = state[0], state[4], state[11], state[12]
    if type(metric) is not EuclideanDistance64:
        raise ValueError("its k-d tree does not use the Euclidean metric")
    fresh = KDTree(data, leaf_size=leaf_size, sample_weight=weight).__getstate__()
    # data, index, nodes, node bounds, leaf size, levels and nodes; sample weight
    for i in (*range(7), 12):
        if not np.array_equal(np.asarray(state[i]), np.asarray(fresh[i])):
            raise ValueError("its k-d tree is not the tree of its data")


def _check_state(model, path):
    """Validate what native code would trust in the loaded ``model``."""
    from sklearn.neighbors import KDTree

    from ._base import MECETransformerMixin

    seen = set()
    stack = [("model", model)]
    while stack:
        where, item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        try:
            if isinstance(item, KDTree):
                _check_kd_tree(item)
            elif isinstance(item, MECETransformerMixin):
                # each estimator knows what its kernels trust (sketches,
                # lookup tables, codes): see _check_fitted_state
                item._check_fitted_state()
        except Exception as exc:  # noqa: BLE001 - whatever the state problem
            raise _invalid(path, f"{where} ({type(item).__name__}): {exc}") from exc
        stack.extend(_children(item, where))


def load(path, *, max_bytes=MAX_MODEL_BYTES):
    """Load an estimator saved with :func:`save`, trusting only known types.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    max_bytes : int, default=MAX_MODEL_BYTES
        The most bytes read: the file on disk, and the sum of its members'
        sizes, which decompression never exceeds (2 GiB by default). A larger
        file, or a small archive that would inflate beyond it (a "zip bomb"),
        is refused before it is decompressed; memory then stays within about
        that size.

    Returns
    -------
    estimator
        The fitted estimator or pipeline.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    UntrustedTypeError
        If the file names anything outside :data:`TRUSTED_TYPES` (listed in
        the message, as :func:`untrusted_types` returns them); nothing in it
        is constructed then.
    ValueError
        If the file is not a valid model file: not a zip, truncated,
        corrupt, larger than ``max_bytes``, or holding malformed fitted state
        (e.g. the quantile sketches of a :class:`PercentileThresholder`).

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
    refused, data = _refusals(path, max_bytes)
    if refused:
        raise UntrustedTypeError(
            f"Refusing to load {path!r}: it names types (or ways to build them) "
            f"outside sklearn_mece.io.TRUSTED_TYPES: {refused}."
        )
    try:
        model = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # noqa: BLE001 - whatever the format problem
        raise _invalid(path, f"{type(exc).__name__}: {exc}") from exc
    _check_state(model, path)
    return model
