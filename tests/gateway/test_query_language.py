"""The tracked-topic query language: what each form compiles to, and where mistakes are."""

import pytest

from services.gateway.query_language import QuerySyntaxError, compile_query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Ngập", {"search_terms": "ngap"}),
        ("kẹt xe", {"$and": [{"search_terms": "ket"}, {"search_terms": "xe"}]}),
        ('"triều cường"', {"search_terms": "trieu cuong"}),
        (
            '"đường Nguyễn Hữu Cảnh"',
            {"search_terms": {"$all": ["duong nguyen", "nguyen huu", "huu canh"]}},
        ),
        (
            "ngập OR mưa AND NOT sentiment:positive",
            {
                "$or": [
                    {"search_terms": "ngap"},
                    {
                        "$and": [
                            {"search_terms": "mua"},
                            {"$nor": [{"sentiment.label": "POSITIVE"}]},
                        ]
                    },
                ]
            },
        ),
        (
            '(district:760 OR outlet:"Tuổi Trẻ") sector:giao_thong source:PRESS',
            {
                "$and": [
                    {"$or": [{"locality_codes": "760"}, {"outlet": "Tuổi Trẻ"}]},
                    {"sector_ids": "giao_thong"},
                    {"source_kind": "press"},
                ]
            },
        ),
        ("locality:26734", {"locality_codes": "26734"}),
        (
            "rác and not hôi",
            {"$and": [{"search_terms": "rac"}, {"$nor": [{"search_terms": "hoi"}]}]},
        ),
    ],
)
def test_compiles(query: str, expected: dict) -> None:
    assert compile_query(query) == expected


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("", 0, "empty"),
        ("ngập AND", 8, "ends too soon"),
        ("(ngập OR mưa", 12, "parenthesis is not closed"),
        ("ngập )", 5, "unexpected ')'"),
        ('mưa "triều cường', 4, "not closed"),
        ("mưa quan:7", 4, "unknown field 'quan:'"),
        ("sentiment:vui", 0, "sentiment: is one of"),
        ("source:blog", 0, "source: is one of"),
        ("outlet:", 0, "needs a value"),
        ("NOT", 3, "ends too soon"),
        ("!!!", 0, "no letters or digits"),
    ],
)
def test_mistakes_name_their_position(query: str, position: int, words: str) -> None:
    with pytest.raises(QuerySyntaxError) as error:
        compile_query(query)
    assert error.value.position == position
    assert words in str(error.value)
