"""The job message: what a Svc publishes, and every check a worker makes before marking (``actors/job.py``)."""

import dataclasses

import pytest

from actors.job import VERSION, Job, PoisonJob, decode, job_from_dict, job_id_of

ID = "0123456789abcdef0123456789abcdef"
VALID = {
    "v": 1,
    "id": ID,
    "photo": f"photos/{ID}.png",
    "keywords": ["alpha", "beta"],
    "filename": "page.png",
    "submitted_at": 12.5,
}


def without(key: str) -> dict:
    return {k: v for k, v in VALID.items() if k != key}


def poison_message(data: dict) -> str:
    with pytest.raises(PoisonJob) as refused:
        job_from_dict(data)
    return str(refused.value)


def test_a_job_survives_encoding():
    job = Job(ID, f"photos/{ID}.png", ("alpha", "ünïcode"), "page.png", 12.5)
    assert decode(job.encode()) == job
    assert job.as_dict()["v"] == 1


def test_a_job_is_encoded_as_compact_utf8_json():
    job = Job(ID, f"photos/{ID}.jpg", ("ünïcode", "beta"), "página.jpg", 12.5)
    expected = (
        f'{{"v":1,"id":"{ID}","photo":"photos/{ID}.jpg","keywords":["ünïcode","beta"],'
        f'"filename":"página.jpg","submitted_at":12.5}}'
    )
    assert job.encode() == expected.encode("utf-8")


def test_as_dict_holds_the_version_and_every_field_with_keywords_as_a_list():
    job = Job(ID, f"photos/{ID}.png", ("alpha", "beta"), "page.png", 12.5)
    assert VERSION == 1
    assert job.as_dict() == VALID
    assert type(job.as_dict()["keywords"]) is list
    assert set(job.as_dict()) == {"v"} | {field.name for field in dataclasses.fields(Job)}  # none forgotten


def test_a_valid_job_is_read_with_keywords_as_a_tuple_and_the_time_as_a_float():
    job = job_from_dict({**VALID, "submitted_at": 12})
    assert job == Job(ID, f"photos/{ID}.png", ("alpha", "beta"), "page.png", 12.0)
    assert type(job.submitted_at) is float


def test_filename_and_submission_time_default_to_empty_and_zero_when_absent():
    job = job_from_dict({k: v for k, v in VALID.items() if k not in ("filename", "submitted_at")})
    assert (job.filename, job.submitted_at) == ("", 0.0)
    assert type(job.submitted_at) is float


@pytest.mark.parametrize("version", [0, 2, "1", None, [1]])
def test_a_wrong_version_is_poison_even_with_valid_fields(version):
    assert poison_message({**VALID, "v": version}) == f"unknown job version {version!r}"


def test_a_job_without_a_version_is_poison():
    assert poison_message(without("v")) == "unknown job version None"


def test_a_boolean_version_is_poison():
    poison_message({**VALID, "v": True})


@pytest.mark.parametrize("key", ["id", "photo", "keywords"])
def test_a_job_without_a_required_field_is_poison(key):
    assert poison_message(without(key)) == f"job lacks a valid field: {key!r}"


@pytest.mark.parametrize("photo_id", ["../x", ID.upper(), ID[:-1], 7, None])
def test_a_job_with_a_malformed_id_is_poison(photo_id):
    message = poison_message({**VALID, "id": photo_id})
    assert message == f"job lacks a valid field: malformed id {photo_id!r}: an id is 32 hex digits"


@pytest.mark.parametrize(
    "photo", [None, 5, "photos/other.png", f"photos/{ID}png", f"x/photos/{ID}.png", f"photos/{'f' * 32}.png"]
)
def test_a_photo_path_that_is_not_the_job_s_own_is_poison(photo):
    assert poison_message({**VALID, "photo": photo}) == f"job photo {photo!r} does not belong to id {ID}"


@pytest.mark.parametrize(
    "keywords", ["alpha", ("alpha",), {"alpha": 1}, [], ["alpha", ""], [""], ["alpha", 3], ["alpha", None], [["alpha"]]]
)
def test_keywords_must_be_a_non_empty_list_of_non_empty_strings(keywords):
    assert poison_message({**VALID, "keywords": keywords}) == "job keywords must be a non-empty list of strings"


@pytest.mark.parametrize("filename", [3, None, ["a.png"]])
def test_a_filename_that_is_not_a_string_is_poison(filename):
    assert poison_message({**VALID, "filename": filename}) == (
        f"job filename must be a string, not {type(filename).__name__}"
    )


@pytest.mark.parametrize("submitted_at", [True, False, "1", None, float("nan"), float("inf"), float("-inf")])
def test_a_submission_time_that_is_not_a_finite_number_is_poison(submitted_at):
    assert poison_message({**VALID, "submitted_at": submitted_at}) == (
        f"job submitted_at must be a finite number, not {submitted_at!r}"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"v": 2}',
        b'{"v": 1, "id": "../x"}',
        b'{"v": 1, "id": "' + ID.encode() + b'", "photo": "photos/other.png", "keywords": ["a"]}',
        b'{"v": 1, "id": "' + ID.encode() + b'", "photo": "photos/' + ID.encode() + b'.png", "keywords": []}',
    ],
)
def test_poison_is_recognised(body):
    with pytest.raises(PoisonJob):
        decode(body)


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe\xfd", b"[" * 100_000])
def test_a_body_that_is_not_json_is_poison(body):
    with pytest.raises(PoisonJob, match="^job is not JSON: "):
        decode(body)


@pytest.mark.parametrize("body", [b"[]", b'"job"', b"1", b"null"])
def test_a_body_that_is_not_an_object_is_poison(body):
    with pytest.raises(PoisonJob) as refused:
        decode(body)
    assert str(refused.value) == "job is not a JSON object"


def test_the_id_of_a_poison_job_is_found_when_it_has_one():
    assert job_id_of(b'{"id": "' + ID.encode() + b'"}') == ID
    assert job_id_of(b"garbage") is None


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"id": "../x"}', b'{"id": 3}', b"\xff"])
def test_a_body_without_a_readable_id_has_none(body):
    assert job_id_of(body) is None
