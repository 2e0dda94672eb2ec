"""Which city unit should handle a citizen's feedback: a routing table of sector × locality.

The table is a YAML file (path in ``GatewaySettings.routing_table``) that names the units and
lists rules; a rule names a sector, a locality (a commune-level GSO code) or both. For a piece of
feedback the most specific rule wins:

1. sector and locality both match (the feedback's sectors best first, its localities in order),
2. sector only,
3. locality only,
4. the table's default unit.
"""

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

_CODE = re.compile(r"^\d{2,5}$")


class RoutingError(ValueError):
    """The routing table file is malformed; the message says where."""


class RouteMatch(Enum):
    SECTOR_AND_LOCALITY = "sector_and_locality"
    SECTOR = "sector"
    LOCALITY = "locality"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Route:
    unit_id: str
    unit_name: str
    match: RouteMatch
    # The sector and locality of the rule that matched, where it named them.
    sector: str | None = None
    locality: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingTable:
    units: dict[str, str]
    default_unit: str
    by_pair: dict[tuple[str, str], str]
    by_sector: dict[str, str]
    by_locality: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> "RoutingTable":
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise RoutingError(f"cannot read the routing table {path}: {error}") from error
        return cls.from_mapping(raw, where=str(path))

    @classmethod
    def from_mapping(cls, raw: Any, *, where: str = "routing table") -> "RoutingTable":
        if not isinstance(raw, dict):
            raise RoutingError(f"{where}: expected a mapping with units, default and rules")
        units = raw.get("units")
        if not isinstance(units, dict) or not units:
            raise RoutingError(f"{where}: 'units' must map unit ids to names")
        units = {str(k): str(v) for k, v in units.items()}
        default = str(raw.get("default", ""))
        if default not in units:
            raise RoutingError(f"{where}: 'default' must name one of the units")
        by_pair: dict[tuple[str, str], str] = {}
        by_sector: dict[str, str] = {}
        by_locality: dict[str, str] = {}
        for index, rule in enumerate(raw.get("rules") or []):
            at = f"{where}: rules[{index}]"
            if not isinstance(rule, dict):
                raise RoutingError(f"{at}: expected a mapping")
            unknown = set(rule) - {"sector", "locality", "unit"}
            if unknown:
                raise RoutingError(f"{at}: unknown keys {sorted(unknown)}")
            unit = str(rule.get("unit", ""))
            if unit not in units:
                raise RoutingError(f"{at}: unit {unit!r} is not among the units")
            sector = rule.get("sector")
            locality = None if rule.get("locality") is None else str(rule["locality"])
            if sector is None and locality is None:
                raise RoutingError(f"{at}: name a sector, a locality or both")
            if locality is not None and not _CODE.match(locality):
                raise RoutingError(f"{at}: locality {locality!r} is not a GSO code (digits)")
            key: Any
            if sector is not None and locality is not None:
                target, key = by_pair, (str(sector), locality)
            elif sector is not None:
                target, key = by_sector, str(sector)
            else:
                target, key = by_locality, locality
            if key in target:
                raise RoutingError(f"{at}: {key!r} is routed twice")
            target[key] = unit
        return cls(units, default, by_pair, by_sector, by_locality)

    def route(self, sectors: list[str], localities: list[str]) -> Route:
        """The unit for feedback about ``sectors`` (best first) in ``localities`` (in order)."""
        for sector in sectors:
            for locality in localities:
                unit = self.by_pair.get((sector, locality))
                if unit:
                    return self._route(unit, RouteMatch.SECTOR_AND_LOCALITY, sector, locality)
        for sector in sectors:
            unit = self.by_sector.get(sector)
            if unit:
                return self._route(unit, RouteMatch.SECTOR, sector, None)
        for locality in localities:
            unit = self.by_locality.get(locality)
            if unit:
                return self._route(unit, RouteMatch.LOCALITY, None, locality)
        return self._route(self.default_unit, RouteMatch.DEFAULT, None, None)

    def _route(
        self, unit: str, match: RouteMatch, sector: str | None, locality: str | None
    ) -> Route:
        return Route(unit, self.units[unit], match, sector, locality)
