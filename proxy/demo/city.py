"""The demo city: Oakland and the East Bay, its camera network and its sensitive sites.

Coordinates approximate real streets so a map of the demo looks right; every camera is synthetic.
Sensitive sites live here (not in the policy) so cameras can be placed at them: some plates
must be seen near a clinic or a protest, or the withholding rules have nothing to withhold.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

# Camera-owning agencies (NCIC ORIs). Alameda County agencies are CA001xxxx.
OAKLAND_PD: Final = "CA0010900"
ALAMEDA_SO: Final = "CA0010000"
BERKELEY_PD: Final = "CA0010300"
PIEDMONT_PD: Final = "CA0011000"
UC_BERKELEY_PD: Final = "CA0019400"
CHP: Final = "CA0349400"

CAMERA_PREFIX: Final[dict[str, str]] = {
    OAKLAND_PD: "OAK",
    ALAMEDA_SO: "ACSO",
    BERKELEY_PD: "BPD",
    PIEDMONT_PD: "PDMT",
    UC_BERKELEY_PD: "UCPD",
    CHP: "CHP",
}

DOWNTOWN: Final = (37.8044, -122.2712)  # 14th & Broadway
UC_CAMPUS: Final = (37.8719, -122.2585)
PIEDMONT: Final = (37.8243, -122.2316)
METRES_PER_DEG_LAT: Final = 111_320.0
UTC_PACIFIC_OFFSET: Final = timedelta(hours=8)  # PST; synthetic data ignores DST


@dataclass(frozen=True, slots=True)
class Event:
    """A dated window: `days_before` now, from `start_hour_utc` for `hours`."""

    days_before: int
    start_hour_utc: int
    hours: int

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        day = (now.astimezone(UTC) - timedelta(days=self.days_before)).date()
        start = datetime(day.year, day.month, day.day, self.start_hour_utc, tzinfo=UTC)
        return start, start + timedelta(hours=self.hours)


@dataclass(frozen=True, slots=True)
class Site:
    """A sensitive location; (lat, lon) is its centre and where its camera stands."""

    name: str
    category: str
    lat: float
    lon: float
    note: str  # why it is protected, for the policy's comments
    radius_m: float | None = None
    polygon: tuple[tuple[float, float], ...] | None = None  # [lon, lat] pairs, closed ring
    event: Event | None = None


# fmt: off
SITES: Final[tuple[Site, ...]] = (
    Site("Lincoln Elementary School", "school", 37.8012, -122.2710,
         "minors; pick-up and drop-off reveal family routines", radius_m=150),
    Site("Highland Hospital", "medical", 37.7990, -122.2310,
         "county trauma centre and public hospital campus",
         polygon=((-122.2335, 37.8002), (-122.2290, 37.8005), (-122.2284, 37.7979),
                  (-122.2330, 37.7975), (-122.2335, 37.8002))),
    Site("Kaiser Permanente Oakland Medical Center", "medical", 37.8245, -122.2565,
         "hospital; a visit reveals health information", radius_m=200),
    Site("Reproductive health clinic, East Oakland", "medical", 37.7705, -122.2120,
         "reproductive care is shielded from out-of-state investigation (AB 1242, 2022)",
         radius_m=120),
    Site("Cathedral of Christ the Light", "place_of_worship", 37.8107, -122.2620,
         "religious exercise; First Amendment", radius_m=120),
    Site("Temple Sinai", "place_of_worship", 37.8176, -122.2641,
         "religious exercise; First Amendment", radius_m=100),
    Site("Rally at Frank H. Ogawa Plaza", "protest", 37.8053, -122.2722,
         "lawful assembly; First Amendment; Civil Code 1798.90.51 (civil liberties)",
         polygon=((-122.2732, 37.8060), (-122.2712, 37.8062), (-122.2710, 37.8046),
                  (-122.2731, 37.8044), (-122.2732, 37.8060)),
         event=Event(days_before=30, start_hour_utc=0, hours=6)),
    Site("Funeral, St. Columba Catholic Church", "ceremony", 37.8490, -122.2830,
         "mourners' attendance is nobody's business", radius_m=100,
         event=Event(days_before=10, start_hour_utc=18, hours=3)),
    Site("Domestic violence shelter (location confidential)", "shelter", 37.7885, -122.2265,
         "deliberately coarse circle; disclosure is a crime (Penal Code 273.7)", radius_m=250),
    Site("Immigration legal services clinic, Fruitvale", "other", 37.7755, -122.2245,
         "visits would map clients for immigration enforcement (SB 54)", radius_m=120),
)

# Arterials as waypoint polylines (lat, lon); cameras stand at intersections along them.
ARTERIALS: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    "Broadway": ((37.7955, -122.2770), (37.8044, -122.2712), (37.8110, -122.2660),
                 (37.8260, -122.2560), (37.8400, -122.2520)),
    "Telegraph Ave": ((37.8070, -122.2700), (37.8250, -122.2650), (37.8400, -122.2615),
                      (37.8560, -122.2595), (37.8680, -122.2590)),
    "San Pablo Ave": ((37.8080, -122.2735), (37.8300, -122.2800), (37.8500, -122.2850),
                      (37.8700, -122.2920), (37.8900, -122.2990)),
    "International Blvd": ((37.7990, -122.2580), (37.7850, -122.2380), (37.7760, -122.2240),
                           (37.7650, -122.2050), (37.7530, -122.1850), (37.7390, -122.1700)),
    "MacArthur Blvd": ((37.8250, -122.2750), (37.8240, -122.2550), (37.8100, -122.2380),
                       (37.7960, -122.2150), (37.7820, -122.1950), (37.7650, -122.1700)),
    "Foothill Blvd": ((37.7980, -122.2450), (37.7850, -122.2200), (37.7720, -122.1980),
                      (37.7570, -122.1750)),
    "Grand Ave": ((37.8110, -122.2690), (37.8090, -122.2560), (37.8140, -122.2480),
                  (37.8200, -122.2400)),
}
FREEWAYS: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    "I-880": ((37.8200, -122.2950), (37.7980, -122.2830), (37.7920, -122.2650),
              (37.7800, -122.2400), (37.7650, -122.2150), (37.7450, -122.1950)),
    "I-580": ((37.8260, -122.2900), (37.8260, -122.2650), (37.8180, -122.2450),
              (37.8050, -122.2270), (37.7900, -122.2000), (37.7700, -122.1700)),
    "SR-24": ((37.8260, -122.2700), (37.8400, -122.2580), (37.8500, -122.2400),
              (37.8570, -122.2170)),
}
# fmt: on


@dataclass(frozen=True, slots=True)
class Camera:
    camera_id: str
    lat: float
    lon: float
    agency_ori: str
    site: str | None = None  # the sensitive site the camera stands at, if any


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """Move a point by metres (flat-earth; fine over a city)."""
    dlat = north_m / METRES_PER_DEG_LAT
    dlon = east_m / (METRES_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def _along(line: Sequence[tuple[float, float]], t: float) -> tuple[float, float]:
    """The point at fraction t of a polyline's length."""
    segs = [distance_m(*a, *b) for a, b in itertools.pairwise(line)]
    target = t * sum(segs)
    for (a, b), length in zip(itertools.pairwise(line), segs, strict=True):
        if target <= length or length == 0:
            f = target / length if length else 0.0
            return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])
        target -= length
    return line[-1]


def _local_owner(lat: float, lon: float, rng: random.Random) -> str:
    """Street cameras belong to the city they stand in, some to the sheriff (county roads)."""
    if rng.random() < 0.12:
        return ALAMEDA_SO
    return BERKELEY_PD if lat > 37.853 else OAKLAND_PD


def build_cameras(seed: int = 1, count: int = 300) -> list[Camera]:
    """A deterministic camera network of `count` cameras.

    Cameras on one road are consecutive in the list, so a run of neighbours is a plausible route.
    """
    rng = random.Random(seed)
    placed: list[tuple[float, float, str, str | None]] = []
    # One camera at (inside) every sensitive site, Oakland-owned so sharing is never the reason
    # its reads are withheld: the sensitive-location rule is.
    for site in SITES:
        placed.append(
            (*offset(site.lat, site.lon, rng.gauss(0, 10), rng.gauss(0, 10)), OAKLAND_PD, site.name)
        )
    rest = count - len(placed)
    n_downtown, n_campus, n_piedmont = rest * 18 // 100, rest * 4 // 100, rest * 5 // 100
    n_freeway = rest * 18 // 100
    n_arterial = rest - n_downtown - n_campus - n_piedmont - n_freeway

    def roads(lines: dict[str, tuple[tuple[float, float], ...]], n: int, owner: str | None) -> None:
        lengths = {
            k: sum(distance_m(*a, *b) for a, b in itertools.pairwise(v)) for k, v in lines.items()
        }
        total, names = sum(lengths.values()), sorted(lines)
        shares = [round(n * lengths[k] / total) for k in names]
        shares[-1] += n - sum(shares)  # exact total
        for name, share in zip(names, shares, strict=True):
            for t in sorted(rng.random() for _ in range(share)):
                lat, lon = offset(*_along(lines[name], t), rng.gauss(0, 20), rng.gauss(0, 20))
                placed.append((lat, lon, owner or _local_owner(lat, lon, rng), None))

    def cluster(centre: tuple[float, float], n: int, sd_m: float, owner: str | None) -> None:
        pts = [offset(*centre, rng.gauss(0, sd_m), rng.gauss(0, sd_m)) for _ in range(n)]
        for lat, lon in sorted(pts):
            placed.append((lat, lon, owner or _local_owner(lat, lon, rng), None))

    cluster(DOWNTOWN, n_downtown, 450, None)
    roads(ARTERIALS, n_arterial, None)
    roads(FREEWAYS, n_freeway, CHP)
    cluster(UC_CAMPUS, n_campus, 250, UC_BERKELEY_PD)
    # Piedmont rings itself with readers at every road into town.
    for i in range(n_piedmont):
        angle = 2 * math.pi * i / n_piedmont + rng.gauss(0, 0.05)
        placed.append(
            (*offset(*PIEDMONT, 1100 * math.sin(angle), 1300 * math.cos(angle)), PIEDMONT_PD, None)
        )

    numbers = dict.fromkeys(CAMERA_PREFIX, 100)
    cameras: list[Camera] = []
    for lat, lon, owner, at_site in placed:
        numbers[owner] += 1
        cameras.append(
            Camera(
                f"{CAMERA_PREFIX[owner]}-{numbers[owner]}",
                round(lat, 6),
                round(lon, 6),
                owner,
                at_site,
            )
        )
    return cameras
