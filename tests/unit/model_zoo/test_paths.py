import pytest

from model_zoo.paths import folder_replaced_atomically


def test_a_folder_is_replaced_only_when_its_writing_finishes(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), folder_replaced_atomically(final) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("writing failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (final / "old.txt").read_text() == "old"
    with folder_replaced_atomically(final) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (final / "new.txt").exists()
    assert [p.name for p in final.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["out"]
