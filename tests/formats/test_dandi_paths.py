"""The archive's rule for dandiset paths: letters, digits, spaces, (),&#+~_=- and single dots."""

from __future__ import annotations

import pytest

from publishkit.formats.dandi_paths import archive_refuses, culprit, refused_in_id

# Between "Z" and "a" in ASCII: a range written [A-z] lets these through as "letters".
BETWEEN_THE_LETTERS = ["[", "]", "^", "`", "\\"]


@pytest.mark.parametrize("char", BETWEEN_THE_LETTERS)
def test_a_path_with_a_character_between_the_letter_ranges_is_refused(char: str) -> None:
    path = f"sub-M{char}1/sub-M{char}1_ses-1.nwb"
    assert archive_refuses(path)
    assert culprit(path) == repr(char)


@pytest.mark.parametrize("char", ["[", "]", "^", "`"])
def test_an_id_with_a_character_between_the_letter_ranges_is_refused(char: str) -> None:
    assert refused_in_id(f"M{char}1") == repr(char)


def test_what_the_archive_allows_passes() -> None:
    assert not archive_refuses("sub-Mouse_1/sub-Mouse_1_ses-(a),b&c#d+e~f=g h.nwb")
    assert refused_in_id("M.1 a_b") is None  # dots, spaces and _ become "-" first
    assert archive_refuses("sub-ü1/x.nwb") and archive_refuses("a/../b.nwb")
