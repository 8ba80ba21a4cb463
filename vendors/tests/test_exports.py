import csv
import io
from decimal import Decimal

import pytest

from vendors.exports import csv_response


def content(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_csv_download_is_a_streamed_attachment_with_header_and_rows() -> None:
    response = csv_response(
        filename="demand by region.csv",
        header=["region", "revenue"],
        rows=iter([["North", Decimal("1.50")], ["", None]]),
    )

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="demand-by-region.csv"'
    assert content(response) == [["region", "revenue"], ["North", "1.50"], ["", ""]]


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped(cell: str) -> None:
    response = csv_response(filename="x.csv", header=["name"], rows=[[cell]])

    assert content(response)[1] == ["'" + cell]


def test_numbers_and_harmless_text_are_left_as_they_are() -> None:
    response = csv_response(filename="x.csv", header=["a", "b", "c"], rows=[[-3, 2.5, "Jam = tasty"]])

    assert content(response)[1] == ["-3", "2.5", "Jam = tasty"]


def test_a_filename_cannot_break_out_of_the_header() -> None:
    response = csv_response(filename='a"; evil=1\r\n.csv', header=["a"], rows=[])

    assert response["Content-Disposition"] == 'attachment; filename="a---evil-1--.csv"'
