"""Which backend a --storage value names."""

from __future__ import annotations

import pytest

from storage.fs import FsStorage
from storage.open import open_storage, replicated_address
from storage.replicated import ReplicatedStorage


@pytest.mark.parametrize(
    ("spec", "address"),
    [
        ("replicated://127.0.0.1:50071", "127.0.0.1:50071"),
        ("replicated://store-manager:7000", "store-manager:7000"),
        ("replicated://[::1]:50071", "[::1]:50071"),
        ("replicated://10.0.0.5:1/", "10.0.0.5:1"),
    ],
)
def test_a_replicated_url_opens_the_replicated_store_at_its_manager(spec, address):
    storage = open_storage(spec)
    try:
        assert isinstance(storage, ReplicatedStorage)
        assert storage.address == address
    finally:
        storage.close()


def test_anything_else_is_a_directory_for_the_fs_backend(tmp_path, monkeypatch):
    storage = open_storage(str(tmp_path / "data"))
    assert isinstance(storage, FsStorage) and storage.root == (tmp_path / "data").resolve()
    assert (tmp_path / "data").is_dir()
    monkeypatch.chdir(tmp_path)
    relative = open_storage("photomark-data")
    assert isinstance(relative, FsStorage) and relative.root == (tmp_path / "photomark-data").resolve()


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("replicated://127.0.0.1", "no port"),
        ("replicated://127.0.0.1:", "no port"),
        ("replicated://127.0.0.1:http", "not a number"),
        ("replicated://127.0.0.1:0", "not a number from 1 to 65535"),
        ("replicated://127.0.0.1:65536", "not a number from 1 to 65535"),
        ("replicated://127.0.0.1:50071/photos", "nothing may follow the port"),
        ("replicated://127.0.0.1:50071?x=1", "nothing may follow the port"),
        ("replicated://:50071", "no host"),
        ("replicated://user@127.0.0.1:50071", "no user name"),
        ("gluster://127.0.0.1:50071", "unknown scheme"),
    ],
)
def test_a_malformed_replicated_url_is_a_clear_value_error(spec, why, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="expected replicated://HOST:PORT") as refused:
        open_storage(spec)
    assert why in str(refused.value) and repr(spec) in str(refused.value)
    assert list(tmp_path.iterdir()) == []  # taken for no directory either
    with pytest.raises(ValueError):
        replicated_address(spec)
