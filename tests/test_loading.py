"""The load's helpers on a real DuckDB file."""

from __future__ import annotations

import json

import duckdb
import pytest

from commune_dx.landing import content_hash, iter_landed_versions, parse_record, units_dir
from commune_dx.loading import RAW_DDL, stored_content_hashes
from commune_dx.validation import nfc


def test_stored_content_hashes_names_only_versions_already_stored(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    records = ['{"a": 1}', '{"a": 2}', '{"a": 3}']
    hashes = [content_hash(r) for r in records]
    assert stored_content_hashes(db, hashes) == set()  # no warehouse yet
    assert not db.exists()  # and asking does not create one

    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA raw")
    con.close()
    assert stored_content_hashes(db, hashes) == set()  # no raw tables yet

    con = duckdb.connect(str(db))
    con.execute(RAW_DDL)
    con.execute(
        "INSERT INTO raw.submission_versions (submission_id, version, record, content_hash, "
        "pulled_at, run_id) VALUES ('s1', 1, ?, ?, now(), 'r1'), ('s9', 1, '{}', 'other', now(), 'r1')",
        [records[0], hashes[0]],
    )
    con.close()
    assert stored_content_hashes(db, hashes + [hashes[0]]) == {hashes[0]}
    assert stored_content_hashes(db, []) == set()


NFD_E_ACUTE = "e\u0301"  # é decomposed


@pytest.mark.parametrize(
    "record",
    [
        '{"unit_name":"Phường Hòa Bình","n":1,"f":0.1}',  # NFC already: not walked
        '{"unit_name":"Ph\u01b0\u01a1\u0300ng","k":1}',  # ờ decomposed: walked
        '{"t' + NFD_E_ACUTE + '":"key in NFD"}',
        '{"t":"\\n' + "\u0301" + '"}',  # newline then a mark: the text has "n" + mark
        '{"t":"\\\\' + "\u0301" + '"}',  # backslash then a mark
        '{"t":"\\u0065\\u0301"}',  # é decomposed, written as escapes
        '{"t":"\\u0001x","u":"\u1100\u1161"}',  # an escaped control character; Hangul jamo
        '{"x":NaN,"big":123456789012345678901234567890,"f":[1e-05,1e16,-0.0]}',  # json parses
        '[1,"a",{"b":null}]',
    ],
)
def test_parse_record_reads_as_nfc_of_json_loads(record):
    expected = nfc(json.loads(record))
    parsed = parse_record(record)
    assert json.dumps(parsed, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
    assert type(parsed) is type(expected)


def test_landed_versions_are_parsed_only_when_asked(tmp_path):
    units = units_dir(tmp_path)
    units.mkdir(parents=True)
    (units / "U1.jsonl").write_text('{"a":"Ho\u0300a"}\n\n{not json\n', encoding="utf-8")
    landed = list(iter_landed_versions(tmp_path))  # a line that is not JSON does not stop this
    assert [(v.unit_file, v.line_no) for v in landed] == [("U1", 1), ("U1", 3)]
    assert landed[0].content_hash == content_hash('{"a":"Ho\u0300a"}')
    assert landed[0].item == {"a": "Hòa"}
    with pytest.raises(json.JSONDecodeError):
        _ = landed[1].item
