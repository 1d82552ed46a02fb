"""`make evaluate` on a fresh clone: the vtacML file comes from the pinned package, verified by its hash."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from vtac.errors import ConfigurationError
from vtac.evaluation import vtacml


def _wheel(tmp_path, content: bytes):
    wheel = tmp_path / vtacml.WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(vtacml.MEMBER, content)
    return wheel


def test_the_data_file_is_taken_from_the_wheel_only_with_the_pinned_hash(tmp_path):
    content = b"PAR1 pretend parquet"
    wheel = _wheel(tmp_path, content)
    target = tmp_path / "cache" / "file.parquet"
    target.parent.mkdir()
    expected = hashlib.sha256(content).hexdigest()
    assert vtacml.extract_member(wheel, target, expected=expected).read_bytes() == content
    with pytest.raises(ConfigurationError, match="not the pinned"):
        vtacml.extract_member(wheel, tmp_path / "cache" / "other.parquet")  # the real pin: another file
    assert not (tmp_path / "cache" / "other.parquet").exists()
    assert not list((tmp_path / "cache").glob("*.partial"))
    with pytest.raises(ConfigurationError, match="no vtacML/data"):
        vtacml.extract_member(wheel, target, member="vtacML/data/missing.parquet")


def test_a_cached_or_local_copy_is_used_when_its_hash_is_the_pinned_one(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    local = tmp_path / "shared.parquet"
    local.write_bytes(b"the local copy")
    monkeypatch.setattr(vtacml, "FILE_SHA256", hashlib.sha256(b"the local copy").hexdigest())
    assert vtacml.fetch_vtacml(cache=cache, shared=local) == local.resolve()
    cached = cache / "combined_qpo_vt_all_cases_with_GRB_with_flags.parquet"
    cached.write_bytes(b"the local copy")
    assert vtacml.fetch_vtacml(cache=cache, shared=tmp_path / "none") == cached  # no download either
