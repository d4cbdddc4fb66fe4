"""Vectors onto a plane, and the plane onto a braille grid: the arithmetic of the vector map.

Nothing here knows Milvus or Textual: arrays in, arrays out (numpy only), so the app runs it in
a worker thread and the tests check it on known data.

* ``project``: PCA with numpy (centred, an SVD, signs fixed so a run is repeatable), or UMAP
  when the optional ``umap-learn`` is installed and asked for (``method="umap"``, or "auto").
  The query vector (a search's, or a more-like-this source's) goes through the very same
  projection, so its mark sits where its neighbours are. COSINE collections are compared by
  angle, so their vectors are scaled to unit length first.
* ``rasterize``: plane coordinates to terminal cells of braille dots (2 x 4 dots a cell, so
  a dot is about square), one colour per cell (the group with most points in it), the same
  scale on both axes (distances on screen mean what they mean in the plane).
* ``step``: the cursor's move to the nearest point in the direction of an arrow key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: braille dot bits by (dot column, dot row) within a cell (Unicode's braille pattern order).
_DOT_BITS = np.array([[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]], dtype=np.uint8)
BRAILLE_BASE = 0x2800
#: fewer points than this: UMAP's neighbourhood graph means little, and PCA is used instead.
UMAP_MIN_POINTS = 15


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except Exception:  # noqa: BLE001 - missing, or broken (numba): either way not usable
        return False
    return True


@dataclass(frozen=True)
class Projection:
    """Points on the plane: ``xy`` (n x 2), the query's place (or None), and how it was made."""

    xy: np.ndarray
    query_xy: np.ndarray | None
    method: str  # "PCA" or "UMAP"
    #: PCA: the share of the variance the two axes keep (0-1); UMAP: None.
    explained: float | None = None

    @property
    def description(self) -> str:
        if self.explained is not None:
            return f"{self.method} ({self.explained:.0%} of the variance)"
        return self.method


def project(vectors: Any, query: Any = None, *, method: str = "pca", normalize: bool = False,
            seed: int = 42) -> Projection:
    """Project ``vectors`` (n x d) to 2-D, and ``query`` (d,) with the same projection.

    ``method``: "pca", "umap" (raises ImportError without umap-learn) or "auto" (UMAP when it is
    installed and there are enough points, else PCA). ``normalize`` scales every vector (and the
    query) to unit length first, as a COSINE metric compares them."""
    # float32 throughout (the 256 x 256 covariance goes to float64 for the eigenvectors): a
    # float64 copy of 2,000 x 256 alone held the loop up 40 ms here (docs/BENCHMARKS.md).
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError("vectors must be a 2-D array (points x dimensions)")
    q = None if query is None else np.asarray(query, dtype=np.float32).reshape(1, -1)
    if q is not None and q.shape[1] != x.shape[1]:
        raise ValueError(f"the query has {q.shape[1]} dimensions, the points {x.shape[1]}")
    if normalize:
        x = _unit(x)
        q = None if q is None else _unit(q)
    if method == "auto":
        method = "umap" if len(x) >= UMAP_MIN_POINTS and umap_available() else "pca"
    if method not in ("pca", "umap"):
        raise ValueError(f"unknown projection {method!r}: pca, umap or auto")
    with one_blas_thread():
        return _umap(x, q, seed) if method == "umap" else _pca(x, q)


def one_blas_thread() -> Any:
    """BLAS on one thread while projecting. OpenBLAS starts a thread per core and spins them:
    on this 2-core machine under load, the eigenvectors of a 256 x 256 covariance took 1.0-1.5 s
    with two BLAS threads and 15-40 ms with one, and a second spinning thread takes the core
    the UI's event loop runs on."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; a bare numpy still works, only slower
        import contextlib

        return contextlib.nullcontext()
    if _CONTROLLER is None:
        # Found once: finding the BLAS libraries walks every loaded library (~1 ms, GIL held).
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER: Any = None


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def _pca(x: np.ndarray, q: np.ndarray | None) -> Projection:
    n = len(x)
    mean = x.mean(axis=0) if n else np.zeros(x.shape[1])
    centred = x - mean
    if n < 2 or not np.any(centred):
        # One point, or all the same: nothing to spread; they sit at the origin.
        xy = np.zeros((n, 2))
        return Projection(xy, None if q is None else np.zeros(2), "PCA", 0.0 if n else None)
    components, variance, total = _top_axes(centred)
    components = components.astype(np.float32)  # a float64 matrix would copy the points to float64
    # An eigenvector's sign is arbitrary: make each axis's largest loading positive (as
    # scikit-learn does), so the same data gives the same picture every time.
    signs = np.sign(components[np.arange(len(components)), np.argmax(np.abs(components), axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    xy = (centred @ components.T).astype(np.float64)
    if xy.shape[1] < 2:  # one dimension only
        xy = np.hstack([xy, np.zeros((n, 2 - xy.shape[1]))])
    explained = float(variance.sum() / total) if total else 0.0
    query_xy = None
    if q is not None:
        query_xy = ((q - mean) @ components.T).astype(np.float64).ravel()
        if query_xy.shape[0] < 2:
            query_xy = np.concatenate([query_xy, np.zeros(2 - query_xy.shape[0])])
    return Projection(xy, query_xy, "PCA", explained)


def _top_axes(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The two principal axes (2 x d), their variances and the total variance, from the
    eigenvectors of the smaller of the covariance (d x d) and the Gram matrix (n x n). Not an SVD
    of the data: on this 2-core machine under load, numpy's SVD of 2,000 x 256 took 4-8 s, the
    eigenvectors of the 256 x 256 covariance 0.1-0.4 s (docs/BENCHMARKS.md, the vector map)."""
    n, d = centred.shape
    if d <= n:
        cov = np.dot(centred.T, centred).astype(np.float64)
        w, v = np.linalg.eigh(cov)
        order = np.argsort(w)[::-1][:2]
        return v[:, order].T, np.clip(w[order], 0, None), float(np.trace(cov))
    gram = np.dot(centred, centred.T).astype(np.float64)
    w, u = np.linalg.eigh(gram)
    order = np.argsort(w)[::-1][:2]
    w = np.clip(w[order], 0, None)
    axes = centred.T.astype(np.float64) @ u[:, order]  # d x 2, each of length sqrt(w)
    norms = np.linalg.norm(axes, axis=0)
    return (axes / np.where(norms == 0, 1.0, norms)).T, w, float(np.trace(gram))


def _umap(x: np.ndarray, q: np.ndarray | None, seed: int) -> Projection:
    import umap

    if len(x) < UMAP_MIN_POINTS:
        return _pca(x, q)
    reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(x) - 1))
    xy = np.asarray(reducer.fit_transform(x), dtype=np.float64)
    query_xy = None if q is None else np.asarray(reducer.transform(q), dtype=np.float64).ravel()
    return Projection(xy, query_xy, "UMAP")


# -- onto the terminal -------------------------------------------------------------------------


@dataclass(frozen=True)
class Raster:
    """Points placed on a grid of ``width`` x ``height`` braille cells.

    ``bits[row, col]`` are the cell's braille dots (0: empty), ``group[row, col]`` the group
    (colour) with most points in the cell (-1: empty); ``cells[i]`` is point i's (row, col)
    and ``dots[i]`` its dot position (x right, y down), which the cursor moves on."""

    width: int
    height: int
    bits: np.ndarray
    group: np.ndarray
    cells: np.ndarray
    dots: np.ndarray
    query_cell: tuple[int, int] | None

    def char(self, row: int, col: int) -> str:
        return chr(BRAILLE_BASE + int(self.bits[row, col]))

    def points_in(self, row: int, col: int) -> np.ndarray:
        return np.flatnonzero((self.cells[:, 0] == row) & (self.cells[:, 1] == col))


def rasterize(xy: Any, groups: Any, width: int, height: int, query_xy: Any = None,
              background: int | None = None) -> Raster:
    """Place ``xy`` (n x 2) on ``width`` x ``height`` cells, y up; ``groups[i]`` is point i's
    colour index (>= 0). Both axes share one scale, centred; the query is placed with the
    points (and widens the frame if it lies outside them). The ``background`` group (context)
    colours a cell only when no other group has a point in it."""
    width, height = max(1, int(width)), max(1, int(height))
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    grp = np.asarray(groups, dtype=np.int64).reshape(-1)
    n = len(pts)
    frame = pts if query_xy is None else np.vstack([pts, np.asarray(query_xy, dtype=np.float64).reshape(1, 2)])
    dots_w, dots_h = width * 2, height * 4
    if len(frame):
        lo, hi = frame.min(axis=0), frame.max(axis=0)
    else:
        lo = hi = np.zeros(2)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    scale = min((dots_w - 1) / span[0], (dots_h - 1) / span[1])
    centre = (lo + hi) / 2

    def to_dots(p: np.ndarray) -> np.ndarray:
        dx = (p[:, 0] - centre[0]) * scale + (dots_w - 1) / 2
        dy = (dots_h - 1) / 2 - (p[:, 1] - centre[1]) * scale  # y up on screen
        d = np.stack([np.rint(dx), np.rint(dy)], axis=1).astype(np.int64)
        d[:, 0] = np.clip(d[:, 0], 0, dots_w - 1)
        d[:, 1] = np.clip(d[:, 1], 0, dots_h - 1)
        return d

    dots = to_dots(pts) if n else np.zeros((0, 2), dtype=np.int64)
    cells = np.stack([dots[:, 1] // 4, dots[:, 0] // 2], axis=1) if n else np.zeros((0, 2), dtype=np.int64)
    bits = np.zeros((height, width), dtype=np.uint8)
    if n:
        np.bitwise_or.at(bits, (cells[:, 0], cells[:, 1]), _DOT_BITS[dots[:, 0] % 2, dots[:, 1] % 4])
    group = np.full((height, width), -1, dtype=np.int64)
    if n:
        # The group with most points in each cell (ties: the smaller index, a stable choice).
        flat = cells[:, 0] * width + cells[:, 1]
        k = int(grp.max()) + 1 if len(grp) else 1
        counts = np.zeros((height * width, k), dtype=np.int64)
        np.add.at(counts, (flat, grp), 1)
        if background is not None and 0 <= background < k:
            fore = counts.copy()
            fore[:, background] = 0
            # A cell holding one labelled point among many grey ones shows the labelled one.
            counts = np.where(fore.sum(axis=1, keepdims=True) > 0, fore, counts)
        filled = counts.sum(axis=1) > 0
        group.reshape(-1)[filled] = counts[filled].argmax(axis=1)
    query_cell = None
    if query_xy is not None:
        q = to_dots(np.asarray(query_xy, dtype=np.float64).reshape(1, 2))[0]
        query_cell = (int(q[1] // 4), int(q[0] // 2))
    return Raster(width, height, bits, group, cells, dots, query_cell)


#: arrow key -> unit direction in dot coordinates (y grows downwards).
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


def step(dots: Any, current: int, direction: str) -> int:
    """The point an arrow key moves the cursor to from point ``current``: the nearest one ahead
    in that direction, where "ahead" is within 45 degrees of it (sideways offset counts double);
    if none is, the nearest one anywhere on that side. ``current`` when there is none at all
    (points on the very same dot are reached with next/previous instead)."""
    d = np.asarray(dots, dtype=np.float64).reshape(-1, 2)
    ux, uy = DIRECTIONS[direction]
    rel = d - d[current]
    along = rel[:, 0] * ux + rel[:, 1] * uy
    across = np.abs(rel[:, 0] * uy - rel[:, 1] * ux)
    ahead = along > 0
    if not ahead.any():
        return current
    cone = ahead & (across <= along)
    pool = cone if cone.any() else ahead
    cost = np.where(pool, along + 2 * across, np.inf)
    return int(np.argmin(cost))


__all__ = ["BRAILLE_BASE", "DIRECTIONS", "Projection", "Raster", "project", "rasterize", "step", "umap_available"]
