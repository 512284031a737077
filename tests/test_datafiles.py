"""The shipped data files' common reading: clear errors naming the file, and the version check."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.datafiles import parse_data, read_data
from agent.proxy.paths import PathRulesError, parse_path_rules


class DataError(ValueError):
    pass


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"none\.toml: cannot read the test data: No such file"):
        read_data(tmp_path / "none.toml", "the test data", DataError)
    (tmp_path / "ok.toml").write_bytes(b"x = 1\n")
    assert read_data(tmp_path / "ok.toml", "the test data", DataError) == b"x = 1\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[oops", "data.toml: not valid TOML"),
        ("\xff", "data.toml: not valid TOML"),
        ("[meta]\nschema_version = 2\n", "data.toml: schema_version 2 is not 1"),
        ('meta = "not a table"\n', "data.toml: schema_version None is not 1"),
    ],
)
def test_bad_files_are_refused_with_the_reason(text: str, said: str) -> None:
    data = text.encode("latin-1")
    with pytest.raises(DataError, match=said):
        parse_data(data, "data.toml", 1, DataError)


def test_the_version_may_be_left_out_unless_it_is_required() -> None:
    assert parse_data(b"x = 1\n", "data.toml", 1, DataError) == {"x": 1}
    with pytest.raises(DataError, match="schema_version None is not 1"):
        parse_data(b"x = 1\n", "data.toml", 1, DataError, required=True)


def test_a_path_rules_file_whose_meta_is_not_a_table_is_refused_plainly() -> None:
    """It used to raise AttributeError from inside the reader."""
    with pytest.raises(PathRulesError, match="schema_version None"):
        parse_path_rules(b'meta = "x"\n')
