import pytest

from actors.job import Job, PoisonJob, decode, job_id_of

ID = "0123456789abcdef0123456789abcdef"


def test_a_job_survives_encoding():
    job = Job(ID, f"photos/{ID}.png", ("alpha", "ünïcode"), "page.png", 12.5)
    assert decode(job.encode()) == job
    assert job.as_dict()["v"] == 1


@pytest.mark.parametrize("body", [
    b"", b"\xff\xfe", b"[]", b'{"v": 2}', b'{"v": 1, "id": "../x"}',
    b'{"v": 1, "id": "' + ID.encode() + b'", "photo": "photos/other.png", "keywords": ["a"]}',
    b'{"v": 1, "id": "' + ID.encode() + b'", "photo": "photos/' + ID.encode() + b'.png", "keywords": []}',
])
def test_poison_is_recognised(body):
    with pytest.raises(PoisonJob):
        decode(body)


def test_the_id_of_a_poison_job_is_found_when_it_has_one():
    assert job_id_of(b'{"id": "' + ID.encode() + b'"}') == ID
    assert job_id_of(b"garbage") is None
