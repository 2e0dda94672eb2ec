"""The routing table: most specific rule first, and malformed tables refused at start-up."""

from pathlib import Path

import pytest

from services.gateway.routing import RouteMatch, RoutingError, RoutingTable
from services.gateway.settings import DEFAULT_ROUTING_TABLE

TABLE = {
    "units": {"tp": "Văn phòng UBND Thành phố", "xd": "Sở Xây dựng", "p1": "UBND phường Một"},
    "default": "tp",
    "rules": [
        {"sector": "flooding", "unit": "xd"},
        {"sector": "flooding", "locality": "26740", "unit": "p1"},
        {"locality": "26743", "unit": "p1"},
    ],
}


def test_the_most_specific_rule_wins() -> None:
    table = RoutingTable.from_mapping(TABLE)
    assert table.route(["flooding"], ["26740"]).match is RouteMatch.SECTOR_AND_LOCALITY
    # A later locality still pairs with the best sector.
    assert table.route(["flooding"], ["99999", "26740"]).unit_id == "p1"
    assert table.route(["health", "flooding"], ["26743"]).match is RouteMatch.SECTOR
    assert table.route(["health"], ["26743"]).match is RouteMatch.LOCALITY
    fallback = table.route([], [])
    assert (fallback.unit_id, fallback.unit_name, fallback.match) == (
        "tp",
        "Văn phòng UBND Thành phố",
        RouteMatch.DEFAULT,
    )


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"default": "nobody"}, "'default'"),
        ({"rules": [{"sector": "x", "unit": "nobody"}]}, "not among the units"),
        ({"rules": [{"unit": "tp"}]}, "name a sector, a locality or both"),
        ({"rules": [{"locality": "Quận 1", "unit": "tp"}]}, "not a GSO code"),
        ({"rules": [{"sector": "x", "unit": "tp"}, {"sector": "x", "unit": "xd"}]}, "twice"),
        ({"rules": [{"sector": "x", "unit": "tp", "priority": 1}]}, "unknown keys"),
    ],
)
def test_malformed_tables_are_refused_with_where(change: dict, complaint: str) -> None:
    with pytest.raises(RoutingError, match=complaint):
        RoutingTable.from_mapping({**TABLE, **change})


def test_the_shipped_table_loads(tmp_path: Path) -> None:
    table = RoutingTable.load(DEFAULT_ROUTING_TABLE)
    assert table.route(["transport"], []).unit_id == "so-xay-dung"
    broken = tmp_path / "routing.yaml"
    broken.write_text("units: [", encoding="utf-8")
    with pytest.raises(RoutingError, match="cannot read"):
        RoutingTable.load(broken)
