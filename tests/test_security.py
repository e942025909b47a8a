"""Hostile model files: what ``load`` refuses, and that it never runs their payload.

Every hostile file is built here from a real saved model whose ``schema.json``
(or a member of the zip) is edited. Payloads that would create a file or a
folder point into ``tmp_path``; the tests check that nothing appears. Bytes
that could crash the process inside native code are exercised in a subprocess,
so a crash fails the test (non-zero exit) instead of killing pytest.
"""

import importlib
import io
import json
import pickle
import textwrap
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _shared import FEATURES, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.cluster import (
    DBSCAN,
    HDBSCAN,
    AgglomerativeClustering,
    KMeans,
    MiniBatchKMeans,
)
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline

import sklearn_mece
from sklearn_mece import (
    CART_ABANDONER_RULES,
    ClusterSegmenter,
    HierarchicalSegmenter,
    PercentileThresholder,
    SegmentScorer,
    make_cart_abandoner_pipeline,
)
from sklearn_mece.datasets import make_cart_abandoners
from sklearn_mece.io import UntrustedTypeError, load, save, untrusted_types

pytest.importorskip("skops")


# -- editing saved files ----------------------------------------------------------------
def _rewrite(path, edit_schema=None, members=None):
    """Rewrite the zip at ``path``: edit its schema, replace or add members."""
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    if edit_schema is not None:
        schema = json.loads(contents["schema.json"])
        edit_schema(schema)
        contents["schema.json"] = json.dumps(schema).encode()
    contents.update(members or {})
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return path


def _json(value):
    content = json.dumps(value)
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": content,
        "is_json": True,
    }


def _node(qualified, loader, **fields):
    module, _, name = qualified.rpartition(".")
    return {"__class__": name, "__module__": module, "__loader__": loader, **fields}


def _sequence(loader, items):
    kind = {"ListNode": "builtins.list", "TupleNode": "builtins.tuple"}[loader]
    return _node(kind, loader, content=list(items))


def _call(qualified, *args):
    """A reduce node: skops calls ``qualified(*args)`` to build the value."""
    return _node(
        qualified,
        "ConstructorFromReduceNode",
        content=_sequence("TupleNode", args),
    )


def _strings(values):
    return _sequence("ListNode", [_json(v) for v in values])


def _add_attribute(name, node):
    """Schema edit: give the saved (top-level) estimator one more attribute."""

    def edit(schema):
        attrs = schema["content"]
        attrs["content"][name] = node
        attrs["key_types"]["content"].append(_node("builtins.str", "TypeNode"))

    return edit


def _saved_thresholder(tmp_path, name="model.skops"):
    X = np.random.default_rng(0).random((3_000, 2))
    t = PercentileThresholder((40, 75), sketch_k=8)
    for chunk in np.array_split(X, 3):
        t.partial_fit(chunk)
    return Path(save(t, tmp_path / name))


def _npy(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load_refused(path, *names):
    """``load`` refuses with each name in the message; untrusted_types agrees."""
    with pytest.raises(UntrustedTypeError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    listed = untrusted_types(path)
    for name in names:
        assert name in message
        assert any(name in entry for entry in listed)
    return message


# -- 1. code execution at load ------------------------------------------------------------
def test_reduce_node_calling_a_sklearn_function_never_runs(tmp_path):
    # sklearn.utils._testing.check_output is subprocess.check_output
    marker = tmp_path / "pwned"
    payload = _call(
        "sklearn.utils._testing.check_output", _strings(["touch", str(marker)])
    )
    path = _rewrite(_saved_thresholder(tmp_path), _add_attribute("smuggled_", payload))
    _load_refused(path, "sklearn.utils._testing.check_output")
    assert not marker.exists()


def test_reduce_node_calling_the_cli_never_runs(tmp_path):
    folder = tmp_path / "chosen-by-the-file"
    argv = ["demo", "--out", str(folder), "--n-users", "1000", "--min-size", "10"]
    payload = _call("sklearn_mece.cli.main", _strings(argv))
    # the payload as the whole model, and hidden in a fitted pipeline
    whole = _rewrite(
        _saved_thresholder(tmp_path, "whole.skops"),
        lambda schema: schema.update(payload),
    )
    _load_refused(whole, "sklearn_mece.cli.main")
    X = make_cart_abandoners(500, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(X)
    nested = _rewrite(
        save(pipe, tmp_path / "nested.skops"), _add_attribute("memory", payload)
    )
    _load_refused(nested, "sklearn_mece.cli.main")
    assert not folder.exists()


def test_array_node_calling_a_function_never_runs(tmp_path):
    # skops calls the array node's named type on the loaded array
    marker = tmp_path / "pwned"
    payload = _node(
        "sklearn.utils._testing.check_output",
        "NdArrayNode",
        type="numpy",
        file="payload.npy",
    )
    path = _rewrite(
        _saved_thresholder(tmp_path),
        _add_attribute("smuggled_", payload),
        {"payload.npy": _npy(np.array(["touch", str(marker)]))},
    )
    _load_refused(path, "sklearn.utils._testing.check_output")
    assert not marker.exists()


_OBJECT = _node("sklearn_mece._thresholder.PercentileThresholder", "ObjectNode")


@pytest.mark.parametrize(
    "node, refused",
    [
        (_node("os.system", "FunctionNode"), "os.system"),
        (
            _node("sklearn.utils._testing.check_output", "FunctionNode"),
            "sklearn.utils._testing.check_output",
        ),
        (_node("builtins.eval", "TypeNode"), "builtins.eval"),
        (_node("sklearn_mece.cli", "TypeNode"), "sklearn_mece.cli"),  # a module
        (_node("sklearn.utils._testing", "TypeNode"), "sklearn.utils._testing"),
        (
            _node(
                "sklearn_mece._thresholder.PercentileThresholder",
                "MethodNode",
                content={"func": "partial_fit", "obj": _OBJECT},
            ),
            "MethodNode",
        ),
        (  # a trusted class, but called with arguments from the file
            _call("sklearn_mece._thresholder.PercentileThresholder", _json(50)),
            "ConstructorFromReduceNode",
        ),
        (
            _node(
                "builtins.partial",
                "PartialNode",
                content={
                    "func": _node("sklearn_mece.cli.main", "FunctionNode"),
                    "args": _sequence("TupleNode", []),
                    "kwds": _node(
                        "builtins.dict",
                        "DictNode",
                        content={},
                        key_types=_sequence("ListNode", []),
                    ),
                    "namespace": _json(None),
                },
            ),
            "sklearn_mece.cli.main",
        ),
    ],
    ids=[
        "function-os.system",
        "function-under-sklearn",
        "type-builtins.eval",
        "module-sklearn_mece.cli",
        "module-under-sklearn",
        "method-of-a-trusted-class",
        "reduce-of-a-trusted-class",
        "partial-of-a-function",
    ],
)
def test_functions_modules_and_calls_are_refused(tmp_path, node, refused):
    path = _rewrite(_saved_thresholder(tmp_path), _add_attribute("smuggled_", node))
    _load_refused(path, refused)


def test_refusal_lists_every_offending_name(tmp_path):
    def edit(schema):
        _add_attribute("a_", _node("os.system", "FunctionNode"))(schema)
        _add_attribute("b_", _node("fractions.Fraction", "ObjectNode"))(schema)

    path = _rewrite(_saved_thresholder(tmp_path), edit)
    message = _load_refused(path, "os.system", "fractions.Fraction")
    assert untrusted_types(path) == ["fractions.Fraction", "os.system (FunctionNode)"]
    assert str(untrusted_types(path)) in message


# -- the allowlist ------------------------------------------------------------------------
def _schema_types(path):
    """Every fully qualified name the nodes of a saved file carry."""
    with zipfile.ZipFile(path) as archive:
        stack, names = [json.loads(archive.read("schema.json"))], set()
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                names.add(f"{item['__module__']}.{item['__class__']}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def _common_estimators():
    from test_common import _estimators

    return _estimators()


def _fit_for_saving(estimator, X):
    """Fit a configuration of tests/test_common.py on data it accepts."""
    rng = np.random.default_rng(0)
    if isinstance(estimator, SegmentScorer):
        if estimator.segment_column == "segment":  # the seed's column names
            return make_cart_abandoner_pipeline(min_size=0, scores=estimator).fit(X)
        codes = rng.integers(0, 3, 300)
        return estimator.fit(np.column_stack([codes, rng.random((300, 2))]))
    A = rng.random((300, 3))
    if getattr(estimator, "select_by_name", False):
        import pandas as pd

        A = pd.DataFrame(A, columns=["a", "b", "c"])
    return estimator.fit(A)


def _with_partial_fit(pipe, X):
    """``pipe`` with its thresholds learned by partial_fit (so it has sketches)."""
    thresholds = clone(pipe.named_steps["thresholds"])
    for chunk in np.array_split(np.arange(len(X)), 3):
        thresholds.partial_fit(X.iloc[chunk])
    pipe.steps[0] = ("thresholds", thresholds)
    return pipe


def _configurations():
    """Every fitted configuration the tests save or check: name -> factory(X)."""
    configs = {}
    for i, est in enumerate(_common_estimators()):
        if (
            isinstance(est, ClusterSegmenter)
            and type(est.estimator).__name__ == "Birch"
        ):
            continue  # skops cannot save Birch (test_birch_cannot_be_saved)
        configs[f"common-{i}-{type(est).__name__}"] = lambda X, est=est: (
            _fit_for_saving(clone(est), X)
        )
    configs["preset"] = lambda X: make_cart_abandoner_pipeline(min_size=0).fit(X)
    configs["readme-make_pipeline"] = lambda X: (
        make_pipeline(
            PercentileThresholder(CART_ABANDONER_RULES.percentiles()),
            HierarchicalSegmenter(CART_ABANDONER_RULES.to_dict(), output="names"),
        )
        .set_output(transform="pandas")
        .fit(X)
    )

    def partial(X):
        return _with_partial_fit(make_cart_abandoner_pipeline(min_size=0).fit(X), X)

    configs["preset-partial_fit"] = partial

    def engine(X):
        engine = sklearn_mece.MECESegmentationEngine(min_segment_size=50)
        engine.run_segmentation(X)
        return engine.pipeline_

    configs["engine"] = engine
    clusterers = {
        "KMeans": KMeans(4, n_init=2),
        "MiniBatchKMeans": MiniBatchKMeans(4, n_init=2),
        "GaussianMixture": GaussianMixture(4),
        "AgglomerativeClustering": AgglomerativeClustering(4),
        "DBSCAN": DBSCAN(eps=0.8, min_samples=10),
        "HDBSCAN": HDBSCAN(min_cluster_size=40, copy=True),
    }
    for name, clusterer in clusterers.items():
        for scaler in ("standard", "robust", "minmax", None):
            configs[f"cluster-{name}-{scaler}"] = lambda X, c=clusterer, s=scaler: (
                make_cart_abandoner_pipeline(
                    min_size=0,
                    segments=ClusterSegmenter(clone(c), FEATURES, scaler=s),
                ).fit(X)
            )
    return configs


_CONFIGURATIONS = _configurations()


@pytest.fixture(scope="module")
def cart_data():
    return make_cart_abandoners(1_500, random_state=0)


@pytest.mark.parametrize("config", sorted(_CONFIGURATIONS))
def test_trusted_types_cover_every_saved_configuration(tmp_path, cart_data, config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small clusters, convergence
        model = _CONFIGURATIONS[config](cart_data)
    path = save(model, tmp_path / "model.skops")
    assert _schema_types(path) <= set(sklearn_mece.io.TRUSTED_TYPES)
    assert untrusted_types(path) == []
    assert type(load(path)) is type(model)


def test_birch_cannot_be_saved(tmp_path):
    # why Birch is not among the trusted clusterers: skops refuses to save it
    from sklearn.cluster import Birch
    from skops.io.exceptions import UnsupportedTypeException

    X = np.random.default_rng(0).random((100, 2))
    seg = ClusterSegmenter(Birch(n_clusters=2)).fit(X)
    with pytest.raises(UnsupportedTypeException):
        save(seg, tmp_path / "birch.skops")


@pytest.mark.parametrize("name", sklearn_mece.io.TRUSTED_TYPES)
def test_every_trusted_name_is_a_class(name):
    module, _, attr = name.rpartition(".")
    obj = getattr(importlib.import_module(module), attr)
    assert isinstance(obj, type), f"{name} is a {type(obj).__name__}, not a class"
    assert f"{obj.__module__}.{obj.__qualname__}" == name


def test_trusted_names_are_unique():
    names = sklearn_mece.io.TRUSTED_TYPES
    assert len(set(names)) == len(names)


# -- 3. corrupt, truncated, not-a-zip files -----------------------------------------------
def _corrupt(kind, path):
    data = path.read_bytes()
    if kind == "not-a-zip":
        path.write_text("name,aov\nann,3\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "no-schema":
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        del members["schema.json"]
        _rewrite_members(path, members)
    elif kind == "schema-not-json":
        _rewrite(path, members={"schema.json": b"{not json"})
    elif kind == "schema-a-list":
        _rewrite(path, members={"schema.json": b"[1, 2]"})
    elif kind == "node-without-class":
        _rewrite(path, lambda schema: schema.pop("__class__"))
    elif kind == "array-missing":
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        members = {n: m for n, m in members.items() if not n.endswith(".npy")}
        _rewrite_members(path, members)
    elif kind == "array-truncated":
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        members = {n: m[:20] if n.endswith(".npy") else m for n, m in members.items()}
        _rewrite_members(path, members)
    elif kind == "bytes-flipped":
        # flip bytes in the middle of the stored schema: a CRC mismatch
        start = data.find(b'"__loader__"')
        flipped = bytearray(data)
        flipped[start : start + 8] = bytes(b ^ 0x55 for b in flipped[start : start + 8])
        path.write_bytes(bytes(flipped))
    return path


def _rewrite_members(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, member in members.items():
            archive.writestr(name, member)


@pytest.mark.parametrize(
    "kind",
    [
        "not-a-zip",
        "empty",
        "truncated",
        "no-schema",
        "schema-not-json",
        "schema-a-list",
        "node-without-class",
        "array-missing",
        "array-truncated",
        "bytes-flipped",
    ],
)
def test_corrupt_files_raise_a_value_error_naming_the_file(tmp_path, kind):
    path = _corrupt(kind, _saved_thresholder(tmp_path))
    with pytest.raises(ValueError, match="not a valid sklearn-mece model file") as info:
        load(path)
    assert str(path) in str(info.value)
    assert not isinstance(info.value, UntrustedTypeError)


# -- 3b. size limits: large files and zip bombs -------------------------------------------
def _bomb_member(archive, name, inflated, method=zipfile.ZIP_DEFLATED):
    """Write member ``name`` of ``inflated`` zero bytes, compressed, streaming."""
    info = zipfile.ZipInfo(name)
    info.compress_type = method
    block = bytes(1 << 20)
    with archive.open(info, "w") as member:
        for _ in range(inflated >> 20):
            member.write(block)


def _lie_about_size(data, name, declared):
    """Patch the uncompressed size both headers of member ``name`` declare."""
    data = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(name)
    local = info.header_offset
    assert data[local : local + 4] == b"PK\x03\x04"
    data[local + 22 : local + 26] = declared.to_bytes(4, "little")
    # the central directory entry that points at this local header
    (central,) = [
        at
        for at in range(len(data) - 46)
        if data[at : at + 4] == b"PK\x01\x02"
        and int.from_bytes(data[at + 42 : at + 46], "little") == local
    ]
    data[central + 24 : central + 28] = declared.to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize("member", ["schema.json", "extra.npy"])
def test_a_zip_bomb_is_refused_before_it_fills_the_memory(tmp_path, member):
    """A member whose header declares 1 KB but whose stream inflates to 256 MB
    (a 256 KB file): zipfile stops at the declared size and the CRC refuses
    it; never more than a few MB held at once (load held 585 MB before)."""
    path = _saved_thresholder(tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as saved, zipfile.ZipFile(buffer, "w") as archive:
        for name in saved.namelist():
            if name != member:
                archive.writestr(name, saved.read(name))
        _bomb_member(archive, member, 256 << 20)
    path.write_bytes(_lie_about_size(buffer.getvalue(), member, 1024))
    assert path.stat().st_size < 1 << 20
    for read in (load, untrusted_types):
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="not a valid sklearn-mece model file"):
                read(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 << 20, f"{read.__name__} held {peak:,} bytes at once"


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_members_compressed_otherwise_than_skops_writes_are_refused_unread(
    tmp_path, method
):
    """zipfile inflates a bzip2 or LZMA member whole before cutting it to its
    declared size: a 20 KB file made load hold 437 MB under max_bytes=1 MiB."""
    path = _saved_thresholder(tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as saved, zipfile.ZipFile(buffer, "w") as archive:
        for name in saved.namelist():
            archive.writestr(name, saved.read(name))
        _bomb_member(archive, "extra.bin", 64 << 20, method)
    path.write_bytes(_lie_about_size(buffer.getvalue(), "extra.bin", 1024))
    tracemalloc.start()
    try:
        with pytest.raises(
            ValueError, match=rf"compressed with method\(s\) \[{method}\]"
        ):
            load(path, max_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"load held {peak:,} bytes at once"


def test_a_schema_larger_than_max_schema_bytes_is_refused_unparsed(
    tmp_path, monkeypatch
):
    """The schema is parsed into objects many times its size (nested empty
    lists: 3 bytes each become a 56-byte list): it has a limit of its own."""
    path = _saved_thresholder(tmp_path)
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo("schema.json").file_size
    monkeypatch.setattr(sklearn_mece.io, "MAX_SCHEMA_BYTES", size - 1)
    with pytest.raises(ValueError, match=f"schema.json declares {size:,} bytes, over"):
        load(path)
    monkeypatch.setattr(sklearn_mece.io, "MAX_SCHEMA_BYTES", size)
    assert load(path).cuts_.keys() == {"x0", "x1"}


def test_members_declaring_more_than_max_bytes_are_refused_unread(tmp_path):
    path = _saved_thresholder(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        _bomb_member(archive, "extra.npy", 8 << 20)
    assert path.stat().st_size < 1 << 20  # 8 MB of zeros, deflated
    with pytest.raises(
        ValueError, match=r"declare 8,\d{3},\d{3} bytes, over max_bytes"
    ):
        load(path, max_bytes=4 << 20)
    with pytest.raises(ValueError, match="over max_bytes=4,194,304"):
        untrusted_types(path, max_bytes=4 << 20)
    # the same file under a larger limit: read (the extra member is unused)
    assert untrusted_types(path, max_bytes=16 << 20) == []
    assert load(path, max_bytes=16 << 20).cuts_.keys() == {"x0", "x1"}


def test_a_file_larger_than_max_bytes_is_refused_before_it_is_read(tmp_path):
    path = _saved_thresholder(tmp_path)
    size = path.stat().st_size
    with pytest.raises(
        ValueError, match=f"the file is {size:,} bytes, over max_bytes=100"
    ):
        load(path, max_bytes=100)
    # exactly the bytes it needs, once decompressed: loads
    with zipfile.ZipFile(path) as archive:
        needed = max(size, sum(i.file_size for i in archive.infolist()))
    np.testing.assert_array_equal(
        load(path, max_bytes=needed).cuts_["x0"], load(path).cuts_["x0"]
    )
    with pytest.raises(ValueError, match="over max_bytes"):
        load(path, max_bytes=needed - 1)


@pytest.mark.parametrize("max_bytes", [0, -1, "1GB", True, 1.5])
def test_max_bytes_is_checked(tmp_path, max_bytes):
    path = _saved_thresholder(tmp_path)
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        load(path, max_bytes=max_bytes)


def test_a_member_stored_twice_is_refused(tmp_path):
    """Two members of one name: which one a reader takes is up to the reader."""
    path = _saved_thresholder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("schema.json", b"{}")
    with pytest.raises(ValueError, match=r"members stored twice: \['schema.json'\]"):
        load(path)


def test_a_compressed_model_file_loads(tmp_path, cart_data):
    """skops can deflate a file (``compression=``): it loads the same."""
    import skops.io as sio

    pipe = make_cart_abandoner_pipeline(min_size=0).fit(cart_data)
    path = tmp_path / "deflated.skops"
    sio.dump(pipe, path, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    loaded = load(path)
    pd.testing.assert_frame_equal(
        loaded.transform(cart_data), pipe.transform(cart_data)
    )


def test_a_missing_file_keeps_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing-here.skops")
    with pytest.raises(FileNotFoundError):
        untrusted_types(tmp_path / "nothing-here.skops")


# -- 2. malformed sketch bytes --------------------------------------------------------------
def _run(code, cwd):
    """Run ``code`` in a fresh interpreter: a crash is an exit code, not a dead pytest."""
    return run_python(["-c", textwrap.dedent(code)], cwd=cwd, timeout=900)


@st.composite
def _sketches(draw):
    """Serialized sketches as the library makes them: any k, any data, merges."""
    from datasketches import kll_doubles_sketch

    k = draw(st.one_of(st.integers(8, 64), st.integers(8, 65535)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sketch = kll_doubles_sketch(k)
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.sampled_from([0, 1, 2, 7, 100, 1_000, 20_000]))
        kind = draw(st.sampled_from(["normal", "ties", "sorted", "constant"]))
        values = rng.standard_normal(n) * 10.0 ** draw(st.integers(-300, 300))
        if kind == "ties":
            values = np.round(rng.standard_normal(n) * 3)
        elif kind == "sorted":
            values = np.sort(values)
        elif kind == "constant":
            values = np.full(n, draw(st.floats(allow_nan=False, allow_infinity=False)))
        if n:
            sketch.update(values)
        extremes = draw(
            st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3)
        )
        for value in extremes:
            sketch.update(value)
        if draw(st.booleans()) and not sketch.is_empty():
            sketch.get_quantiles([0.5])  # sorts level zero: the sorted flag
        if draw(st.booleans()):
            other = kll_doubles_sketch(draw(st.integers(8, 2_000)))
            other.update(rng.random(draw(st.sampled_from([1, 50, 5_000]))))
            if draw(st.booleans()):
                sketch.merge(other)
            else:
                other.merge(sketch)
                sketch = other
    return bytes(sketch.serialize())


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=_sketches())
def test_validator_accepts_every_sketch_the_library_makes(data):
    from datasketches import kll_doubles_sketch

    from sklearn_mece._sketch import validate_sketch

    assert validate_sketch(data) == data
    assert bytes(kll_doubles_sketch.deserialize(data).serialize()) == data


_FUZZ = """
import json, struct, sys
import numpy as np
from datasketches import kll_doubles_sketch as K
from sklearn_mece import _sketch

rng = np.random.default_rng(0)

def real(k, n, chunks=1):
    s = K(k)
    for c in np.array_split(rng.standard_normal(n), chunks):
        if c.size:
            s.update(c)
    return bytes(s.serialize())

def merged():
    a = K(8); a.update(rng.random(3000))
    b = K(8); b.update(rng.random(700)); a.merge(b)
    return bytes(a.serialize())

SKETCHES = {
    "empty": real(200, 0), "single": real(200, 1), "exact": real(200, 50),
    "levels": real(8, 5000, 3), "k200": real(200, 3000), "merged": merged(),
}
GOOD = SKETCHES["levels"]

def use(data):
    '''Every entry point: ValueError (refused) or it works; never a crash.'''
    outcomes = []
    for call in (
        lambda: _sketch.update_sketch(data, np.arange(100.0)),
        lambda: _sketch.merge_sketches(data, GOOD),
        lambda: _sketch.merge_sketches(GOOD, data),
        lambda: _sketch.sketch_quantiles(data, [0.0, 0.5, 1.0]),
    ):
        try:
            call()
            outcomes.append("ok")
        except ValueError:
            outcomes.append("refused")
    return outcomes

def header_size(data):
    if len(data) < 20 or data[3] & 5:
        return 8
    return 20 + 4 * data[18]

summary = {"truncations": 0, "truncations_refused": 0, "flips": 0,
           "flips_refused": 0, "flips_accepted": [], "payload_flips": 0,
           "payload_accepted": 0, "mutations": 0, "mutations_refused": 0,
           "random": 0, "random_refused": 0}
for name, data in SKETCHES.items():
    assert use(data)[:3] == ["ok"] * 3, name
    for cut in range(len(data)):
        summary["truncations"] += 1
        summary["truncations_refused"] += use(data[:cut]) == ["refused"] * 4
    for pos in range(header_size(data)):
        for bit in range(8):
            flipped = bytearray(data); flipped[pos] ^= 1 << bit
            outcome = use(bytes(flipped))
            summary["flips"] += 1
            if outcome == ["refused"] * 4:
                summary["flips_refused"] += 1
            else:
                summary["flips_accepted"].append([name, pos, bit])
    for pos in range(header_size(data), len(data), 7):
        flipped = bytearray(data); flipped[pos] ^= 1 << int(rng.integers(8))
        summary["payload_flips"] += 1
        summary["payload_accepted"] += use(bytes(flipped))[0] == "ok"
    for _ in range(300):
        mutated = bytearray(data)
        for pos in rng.integers(0, len(data), int(rng.integers(1, 6))):
            mutated[pos] = int(rng.integers(256))
        summary["mutations"] += 1
        summary["mutations_refused"] += use(bytes(mutated)) == ["refused"] * 4
for _ in range(2000):
    blob = rng.integers(0, 256, int(rng.integers(0, 600)), dtype=np.uint8).tobytes()
    if rng.random() < 0.5 and len(blob) > 8:  # a plausible preamble
        blob = bytes([5, 1, 15, 0, 8, 0, 8, 0]) + blob[8:]
    summary["random"] += 1
    summary["random_refused"] += use(blob) == ["refused"] * 4
print(json.dumps(summary))
"""


def test_malformed_sketch_bytes_raise_value_error_never_crash(tmp_path):
    summary = json.loads(_run(_FUZZ, tmp_path).splitlines()[-1])
    # every truncation is refused by every entry point
    assert summary["truncations_refused"] == summary["truncations"] > 1_000
    # a one-bit header flip is refused, unless it lands on a field that any
    # value keeps valid: the level-zero-sorted flag (cleared), min k (within
    # [8, k]) or the k of an empty or single-item sketch (no levels to match)
    harmless = {3: "flags", 4: "k", 5: "k", 16: "min_k", 17: "min_k"}
    for name, pos, bit in summary["flips_accepted"]:
        assert pos in harmless, (name, pos, bit)
        if pos == 3:
            assert bit == 1, (name, pos, bit)
        if pos in (4, 5):
            assert name in ("empty", "single"), (name, pos, bit)
    assert summary["flips_refused"] > 0.8 * summary["flips"]
    # payload flips only change floats: some are refused (non-finite, order)
    assert 0 < summary["payload_accepted"] < summary["payload_flips"]
    # random bytes are refused; random edits of real sketches are refused or,
    # where they only changed item values, work: the subprocess did not crash
    assert summary["random_refused"] == summary["random"]
    assert 0 < summary["mutations_refused"] < summary["mutations"]


_SAME_LENGTH_CORRUPTION = """
import struct
import numpy as np
from sklearn_mece import PercentileThresholder

rng = np.random.default_rng(0)
t = PercentileThresholder((40, 75), sketch_k=8)
for chunk in np.array_split(rng.random((3000, 1)), 3):
    t.partial_fit(chunk)
good = t.sketches_["x0"]
bad = bytearray(good)
struct.pack_into("<I", bad, 24, 0xFFFFFF00)  # level 1 boundary, same length
other = PercentileThresholder((40, 75), sketch_k=8).partial_fit(rng.random((500, 1)))
for step in ("partial_fit", "merge_into", "merge_from"):
    t.sketches_["x0"] = bytes(bad)
    try:
        if step == "partial_fit":
            t.partial_fit(rng.random((100, 1)))
        elif step == "merge_into":
            t.merge(other)
        else:
            other.sketches_["x0"], saved = bytes(bad), other.sketches_["x0"]
            t.sketches_["x0"] = good
            try:
                t.merge(other)
            finally:
                other.sketches_["x0"] = saved
    except ValueError as exc:
        print(step, "ValueError", exc)
    else:
        raise SystemExit(f"{step} accepted a malformed sketch")
"""


def test_partial_fit_and_merge_refuse_malformed_sketches(tmp_path):
    out = _run(_SAME_LENGTH_CORRUPTION, tmp_path)
    for step in ("partial_fit", "merge_into", "merge_from"):
        assert f"{step} ValueError Column 'x0': malformed KLL sketch" in out


def _sketch_files(schema):
    """``{column: zip member}`` of the sketches in a saved schema."""
    found, stack = {}, [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            sketches = item.get("content", {})
            if isinstance(sketches, dict) and "sketches_" in sketches:
                for column, node in sketches["sketches_"]["content"].items():
                    found[column] = node
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _bad_sketch_file(tmp_path, kind):
    """A saved preset whose thresholder learned with partial_fit, one sketch bad."""
    X = make_cart_abandoners(2_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=0, thresholds__sketch_k=8).fit(X)
    path = save(_with_partial_fit(pipe, X), tmp_path / "model.skops")
    with zipfile.ZipFile(path) as archive:
        node = _sketch_files(json.loads(archive.read("schema.json")))[
            "engagement_score"
        ]
        good = archive.read(node["file"])
    if kind == "not-bytes":

        def edit(schema):
            node = _sketch_files(schema)["engagement_score"]
            node.clear()
            node.update(_json("not a sketch"))

        return _rewrite(path, edit)
    bad = bytearray(good)
    if kind == "truncated":
        bad = bad[:-8]
    elif kind == "levels":
        bad[24:28] = (0xFFFFFF00).to_bytes(4, "little")
    elif kind == "family":
        bad[2] = 16
    return _rewrite(path, members={node["file"]: bytes(bad)})


_LOAD_THEN_LEARN = """
import sys
import numpy as np
from sklearn_mece import load
from sklearn_mece.datasets import make_cart_abandoners

try:
    model = load(sys.argv[1])
except ValueError as exc:
    print("ValueError", exc)
else:
    model.named_steps["thresholds"].partial_fit(make_cart_abandoners(500))
    raise SystemExit("loaded a file with a malformed sketch")
"""


@pytest.mark.parametrize("kind", ["truncated", "levels", "family", "not-bytes"])
def test_load_refuses_malformed_sketches_naming_file_and_column(tmp_path, kind):
    path = _bad_sketch_file(tmp_path, kind)
    code = _LOAD_THEN_LEARN.replace("sys.argv[1]", repr(str(path)))
    out = _run(code, tmp_path)
    assert "ValueError" in out
    assert str(path) in out
    assert "'engagement_score'" in out
    assert "PercentileThresholder" in out


_LOAD_THEN_PREDICT = """
import numpy as np
from sklearn_mece import load
from sklearn_mece.datasets import make_cart_abandoners

try:
    model = load(PATH)
except ValueError as exc:
    print("ValueError", exc)
else:
    model.transform(make_cart_abandoners(500, random_state=1))
    raise SystemExit("loaded a crafted k-d tree")
"""


def test_load_refuses_a_crafted_kd_tree(tmp_path):
    # ClusterSegmenter labels new rows with a nearest-neighbour classifier whose
    # k-d tree indices are trusted by its queries
    X = make_cart_abandoners(1_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(
        min_size=0, segments=ClusterSegmenter(AgglomerativeClustering(4), FEATURES)
    ).fit(X)
    path = save(pipe, tmp_path / "model.skops")
    index = pipe.named_steps["segments"].inductive_estimator_._tree.get_arrays()[1]
    crafted = np.full_like(index, 10**9)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    swapped = [n for n, m in members.items() if m == _npy(index)]
    assert len(swapped) == 1
    _rewrite(path, members={swapped[0]: _npy(crafted)})
    out = _run(_LOAD_THEN_PREDICT.replace("PATH", repr(str(path))), tmp_path)
    assert "ValueError" in out and str(path) in out and "k-d tree" in out


# -- crafted fitted state of our own estimators ---------------------------------------
def _tamper_segmenter_table(pipe):
    seg = pipe.named_steps["segments"]
    seg.rule_table_ = seg.rule_table_[:3].copy()  # kernels index past its end


def _tamper_segmenter_codes(pipe):
    seg = pipe.named_steps["segments"]
    seg.rule_codes_ = np.full_like(seg.rule_codes_, 10**6)


def _tamper_scorer_tiers(pipe):
    scores = pipe.named_steps["scores"]
    scores.tier_codes_ = np.full_like(scores.tier_codes_, 100)
    tables = scores._output_tables
    scores._output_tables = (tables[0][:1], tables[1][:1], tables[2][:1])


def _tamper_scorer_cache(pipe):
    scores = pipe.named_steps["scores"]
    tables = scores._output_tables  # a cache derived from scores_: never read
    scores._output_tables = (tables[0][:1], tables[1][:1], tables[2][:1])


def _tamper_cuts(pipe):
    thresholds = pipe.named_steps["thresholds"]
    thresholds.cuts_ = {**thresholds.cuts_, "engagement_score": np.arange(300.0)}


_LOAD_THEN_TRANSFORM = """
from sklearn_mece import load
from sklearn_mece.datasets import make_cart_abandoners

try:
    model = load(PATH)
except ValueError as exc:
    print("ValueError", exc)
else:
    out = model.transform(make_cart_abandoners(5_000, random_state=1))
    print("LOADED", out["segment_tier"].isna().sum())
"""


@pytest.mark.parametrize(
    "tamper, attribute",
    [
        (_tamper_segmenter_codes, "rule_codes_"),
        (_tamper_scorer_tiers, "tier_codes_"),
        (_tamper_cuts, "cuts_"),
    ],
    ids=["rule-codes", "tier-codes", "cuts"],
)
def test_load_refuses_fitted_state_fit_cannot_make(tmp_path, tamper, attribute):
    # the kernels index the lookup tables and codes without bounds checks:
    # 0.1.0 loaded such files (and then read out of bounds or wrapped codes)
    X = make_cart_abandoners(2_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(X)
    tamper(pipe)
    path = save(pipe, tmp_path / "model.skops")
    out = _run(_LOAD_THEN_TRANSFORM.replace("PATH", repr(str(path))), tmp_path)
    assert out.startswith("ValueError"), out
    assert str(path) in out and attribute in out


@pytest.mark.parametrize("tamper", [_tamper_scorer_cache, _tamper_segmenter_table])
def test_derived_state_is_rebuilt_never_read_from_a_file(tmp_path, tamper):
    # the scorer's output tables and the segmenter's compiled rules (lookup
    # table, variables) are derived from checked state: rebuilt at load, so a
    # crafted table (or another version's layout) never reaches the kernels
    X = make_cart_abandoners(2_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(X)
    expected = pipe.transform(X)
    tamper(pipe)
    path = save(pipe, tmp_path / "model.skops")
    loaded = load(path).transform(X)
    pd.testing.assert_frame_equal(loaded, expected)
    blob = pickle.dumps(pipe)  # the same through pickle / joblib
    pd.testing.assert_frame_equal(pickle.loads(blob).transform(X), expected)
