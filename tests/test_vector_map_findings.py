"""The vector map of findings: duplicate groups and quality findings drawn on the map, on a real
Milvus Lite child (the planted collection of tests/test_duplicates.py: VARCHAR keys holding quotes
and brackets, near-duplicate groups, a zero and a NaN vector, hostile texts). The Session's
"these keys with these labels" map, then both screens driven by Pilot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pymilvus import MilvusClient

from tui.milvus import duplicates as dups
from tui.milvus import quality
from tui.milvus.projection import project
from tui.milvus.vectormap import cap_labelled
from tui.session import Session

from .conftest import unique_name
from .test_duplicates import KEYS, NAN_AT, NEAR_GROUPS, ZERO_AT, _create, _rows


@pytest.fixture(scope="module")
def planted(milvus_uri: str) -> Iterator[str]:
    client = MilvusClient(uri=milvus_uri)
    name = unique_name("mapfind")
    _create(client, name)
    client.insert(name, _rows())
    client.flush(name)
    yield name
    client.drop_collection(name)
    client.close()


def _vectors() -> dict[Any, list[float]]:
    return {r["pk"]: r["vec"] for r in _rows()}


def test_cap_keeps_every_label_and_samples_the_big_ones() -> None:
    keys = list(range(100))
    labels = ["big"] * 90 + ["small"] * 7 + ["tiny"] * 3
    k, lab = cap_labelled(keys, labels, 30)
    assert len(k) <= 30 and lab.count("small") == 7 and lab.count("tiny") == 3 and lab.count("big") == 20
    assert k == sorted(k) and all(labels[key] == label for key, label in zip(k, lab))
    assert cap_labelled(keys, labels, 100) == (keys, labels)


def test_map_of_labelled_keys_reads_those_entities_and_leaves_out_the_unplaceable(service: Session,
                                                                                   planted: str) -> None:
    groups = [[KEYS[i] for i in g] for g in NEAR_GROUPS]
    keys = [k for g in groups for k in g] + [KEYS[ZERO_AT], KEYS[NAN_AT], "no such key \"]"]
    labels = [f"group {gi + 1}" for gi, g in enumerate(groups) for _ in g] + ["zero", "nan", "gone"]
    kept = {g[0] for g in groups}
    m = service.run(service.vector_map(planted, keys=keys, labels=labels, marked=kept, label_name="duplicate group",
                                       title_field="text", method="pca"))
    drawable = [k for g in groups for k in g]
    assert m.keys == drawable and m.background == 0
    assert m.colours == labels[:len(drawable)] and m.colour_field == "duplicate group"
    assert m.marks == [k in kept for k in drawable]
    truth = _vectors()
    assert m.titles == [next(r["text"] for r in _rows() if r["pk"] == k) for k in drawable]
    direct = project(np.array([truth[k] for k in drawable]), normalize=True)
    assert np.allclose(np.abs(m.projection.xy), np.abs(direct.xy), atol=1e-4)
    # COSINE: the zero vector has no direction, NaN cannot be projected, the made-up key is gone.
    assert set(m.left_out) == {(KEYS[ZERO_AT], "zero"), (KEYS[NAN_AT], "NaN or infinity"),
                               ("no such key \"]", "gone")}
    assert any(w.startswith("1 entity with a vec vector holding NaN or infinity is not drawn") for w in m.warnings)
    assert any("zero vec vector" in w for w in m.warnings) and any("deleted since" in w for w in m.warnings)


def test_a_finding_over_a_background_sample(service: Session, planted: str) -> None:
    report = service.run(service.scan_quality(planted))
    nan = next(f for f in report.findings if f.check == quality.NON_FINITE)
    empty = next(f for f in report.findings if f.check == quality.EMPTY_TEXT)
    keys = [*nan.keys, *empty.keys]
    m = service.run(service.vector_map(planted, keys=keys, labels=["nan"] * nan.count + ["empty"] * empty.count,
                                       background=30, method="pca"))
    assert m.keys[:m.labelled] == list(empty.keys) and m.colours[:m.labelled] == ["empty"] * empty.count
    behind = m.keys[m.labelled:]
    assert m.background == len(behind) > 0 and m.colours[m.labelled:] == [None] * len(behind)
    # The background: other entities, none with an unplaceable vector, none of the labelled ones.
    assert not set(behind) & set(keys) and KEYS[ZERO_AT] not in behind and KEYS[NAN_AT] not in behind
    assert set(behind) <= set(KEYS)
    assert m.left_out == ((KEYS[NAN_AT], "NaN or infinity"),)
    # Only NaN: nothing to draw but the background, and the message says why.
    m2 = service.run(service.vector_map(planted, keys=list(nan.keys), labels=["nan"], background=10, method="pca"))
    assert m2.labelled == 0 and m2.background == 10 and "NaN" in " ".join(m2.warnings)
    with pytest.raises(Exception, match="NaN or infinity is not drawn"):
        service.run(service.vector_map(planted, keys=list(nan.keys), labels=["nan"], method="pca"))


def test_the_ordinary_sample_of_a_collection_with_a_nan_vector_still_maps(service: Session, planted: str) -> None:
    m = service.run(service.vector_map(planted, method="pca"))
    assert np.isfinite(m.projection.xy).all() and KEYS[NAN_AT] not in m.keys and KEYS[ZERO_AT] not in m.keys
    assert m.size == len(KEYS) - 2


_ = dups  # the app tests below use it
