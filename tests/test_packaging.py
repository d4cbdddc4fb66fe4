"""The wheel: built for real (non-editable) and inspected with zipfile.

Installing it into a fresh venv is too slow for the suite; instead the wheel is unpacked
into a temp dir and imported from there (dependencies from this venv), which proves the
packaged layout works without the checkout.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGED_FROM = {
    "tui/styles/app.tcss": ROOT / "styles" / "app.tcss",
    "tui/embeddings/model/model.safetensors": ROOT / "tui" / "embeddings" / "model" / "model.safetensors",
    "tui/embeddings/model/tokenizer.json": ROOT / "tui" / "embeddings" / "model" / "tokenizer.json",
    "tui/embeddings/model/config.json": ROOT / "tui" / "embeddings" / "model" / "config.json",
    "tui/embeddings/model/modules.json": ROOT / "tui" / "embeddings" / "model" / "modules.json",
    "tui/embeddings/model/LICENSE": ROOT / "tui" / "embeddings" / "model" / "LICENSE",
    "tui/embeddings/model/NOTICE": ROOT / "tui" / "embeddings" / "model" / "NOTICE",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the build backend (hatchling) is already in this venv, and the
    # suite must not need the network.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(out), "-q"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    wheels = list(out.glob("milvus_tui-*.whl"))
    assert len(wheels) == 1, wheels
    yield wheels[0]


def test_wheel_carries_styles_model_and_licenses(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for inside, source in PACKAGED_FROM.items():
            assert inside in names, f"{inside} is missing from the wheel"
            data = zf.read(inside)
            # The real bytes, not a Git LFS pointer or an empty placeholder.
            assert hashlib.sha256(data).digest() == hashlib.sha256(source.read_bytes()).digest(), inside
        assert zf.getinfo("tui/embeddings/model/model.safetensors").file_size > 1_000_000
        assert "Apache License" in zf.read("tui/embeddings/model/LICENSE").decode()
        assert "minilm-l6-v2-m2v-256" in zf.read("tui/embeddings/model/NOTICE").decode()


def test_wheel_has_the_package_and_nothing_stray(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    for module in ("tui/__init__.py", "tui/__main__.py", "tui/cli.py", "tui/app.py", "tui/config.py",
                   "tui/milvus/ops.py", "tui/milvus/lite.py", "tui/embeddings/local.py"):
        assert module in names
    assert {n.split("/")[0] for n in names} == {"tui", "milvus_tui-0.1.0.dist-info"}
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith(("tests/", "styles/", "benchmarks/", "scripts/")) for n in names)


def test_wheel_metadata_and_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        dist_info = next(n.split("/")[0] for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    assert "Name: milvus-tui" in metadata
    assert "License: MIT" in metadata
    assert "Requires-Python: >=3.11" in metadata
    for dependency in ("textual", "pymilvus", "milvus-lite", "model2vec", "click"):
        assert f"Requires-Dist: {dependency}" in metadata
    assert "[console_scripts]" in entry_points and "milvus-tui = tui.cli:main" in entry_points


def test_unpacked_wheel_finds_its_bundled_files(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = (
        "import tui, tui.app as app\n"
        "from tui.embeddings.local import MODEL_DIR\n"
        "from tui.embeddings import EmbeddingSettings, make_embeddings\n"
        "print(tui.__file__)\n"
        "print(app.styles_path())\n"
        "print(MODEL_DIR)\n"
        "print(len(make_embeddings(EmbeddingSettings(provider='local')).embed_query('hello')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "MILVUS_TUI_HOME": str(tmp_path / "home")}
    # Run from an empty directory so the checkout's tui/ cannot be imported instead.
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    package, styles, model_dir, dim = result.stdout.split()
    assert Path(package).is_relative_to(site)
    assert Path(styles) == site / "tui" / "styles" / "app.tcss"
    assert Path(model_dir) == site / "tui" / "embeddings" / "model"
    assert dim == "256"
    help_result = subprocess.run([sys.executable, "-m", "tui", "--help"], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=60)
    assert help_result.returncode == 0 and help_result.stdout.startswith("Usage: ")
