import math

import pytest

from kcm.io import atomic_path, read_json, write_json


def test_failed_write_leaves_neither_target_nor_partial_file(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_complete_file(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"acc": 0.5})
    with pytest.raises(ValueError):
        write_json(target, {"acc": math.nan})  # NaN metrics are bugs: refuse them
    assert read_json(target) == {"acc": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_json_is_canonical(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, 2]})
    write_json(tmp_path / "b.json", {"a": [1.5, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
