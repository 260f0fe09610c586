"""The replicated backend keeps the promises of the fs backend, through a test double of the manager.

The double (``tests/store/test_manager_client.py``) keeps objects in a dict; what is checked
here is the backend's side: names, the mapping of each Storage call onto the manager's, and
which errors leave it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from storage.backend import ObjectNotFound, UnsafeName
from storage.replicated import ReplicatedStorage
from tests.store.test_manager_client import ManagerDouble, nobody_listening, serving


@pytest.fixture
def double() -> ManagerDouble:
    return ManagerDouble()


@pytest.fixture
def storage(double) -> Iterator[ReplicatedStorage]:
    with serving(double) as address:
        storage = ReplicatedStorage(address, timeout=10, transfer_timeout=60)
        yield storage
        storage.close()


def test_write_read_list_delete(storage):
    storage.write("photos/a.png", b"one")
    storage.write("photos/a.png", b"two")
    storage.write("state/pending.json", b"{}")
    assert storage.read("photos/a.png") == b"two"
    assert storage.size("photos/a.png") == 3
    assert storage.list("photos") == ["photos/a.png"]
    storage.delete("photos/a.png")
    assert not storage.exists("photos/a.png")
    with pytest.raises(ObjectNotFound):
        storage.read("photos/a.png")


def test_a_write_sends_the_bytes_and_their_sha256_to_the_manager(storage, double):
    storage.write("photos/a.png", bytearray(b"photo bytes"))
    assert double.objects["photos/a.png"] == (b"photo bytes", 1)
    assert double.headers[0].sha256 == hashlib.sha256(b"photo bytes").hexdigest()


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "photos/../../x", "photos//a", "", "photos/./a"])
def test_names_cannot_leave_the_root(storage, double, name):
    with pytest.raises(UnsafeName):
        storage.write(name, b"x")
    assert double.headers == []


@pytest.mark.parametrize("name", ["photos/.hidden.png", "photos/a b.png", "photos/" + "x" * 200])
def test_a_name_that_is_no_store_object_id_is_unsafe_here(storage, double, name):
    for call in (
        lambda: storage.write(name, b"x"),
        lambda: storage.read(name),
        lambda: storage.exists(name),
        lambda: storage.size(name),
        lambda: storage.delete(name),
    ):
        with pytest.raises(UnsafeName):
            call()
    assert double.headers == []


def test_a_missing_object_is_not_found_and_deleting_it_is_no_error(storage):
    assert not storage.exists("photos/none.png")
    with pytest.raises(ObjectNotFound):
        storage.read("photos/none.png")
    with pytest.raises(ObjectNotFound):
        storage.size("photos/none.png")
    storage.delete("photos/none.png")


def test_list_names_only_the_objects_directly_under_the_prefix(storage):
    for name in ("photos/b.png", "photos/a.png", "photos/old/c.png", "photosx/d.png", "state/pending.json"):
        storage.write(name, b"x")
    assert storage.list("photos") == ["photos/a.png", "photos/b.png"]
    assert storage.list("photos/") == ["photos/a.png", "photos/b.png"]
    assert storage.list("photos/old") == ["photos/old/c.png"]
    assert storage.list("nothing") == []


def test_a_read_of_damaged_bytes_is_an_os_error_never_the_bytes(storage, double):
    storage.write("photos/a.png", b"the true bytes")
    double.corrupt_gets = True
    with pytest.raises(OSError, match="sha256"):
        storage.read("photos/a.png")


def test_an_unreachable_manager_is_an_os_error_as_a_failing_disk_would_be():
    with nobody_listening() as address:
        storage = ReplicatedStorage(address, timeout=10)
        try:
            for call in (lambda: storage.write("photos/a.png", b"x"), lambda: storage.read("photos/a.png")):
                with pytest.raises(OSError, match=f"cannot reach the store manager at {address}"):
                    call()
        finally:
            storage.close()
