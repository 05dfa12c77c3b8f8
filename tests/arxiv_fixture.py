"""Fixture data for the `kb fetch` tests: a weekday listing with new, cross and replace entries, and topics."""
from __future__ import annotations

from samples.arxiv_server import FakePaper

DAY = "2024-05-24"  # a Friday
SATURDAY = "2024-05-25"

TOPICS_TOML = '''
[[topic]]
name = "3DGS"
keywords = ["gaussian splatting"]
query = 'ti:"gaussian splatting" OR abs:"gaussian splatting" OR abs:3DGS'
categories = ["cs.CV", "cs.GR"]

[[topic]]
name = "NeRF"
keywords = ["radiance field"]
categories = ["cs.GR"]
cross_lists = false
'''


def weekday_listing() -> list[FakePaper]:
    return [
        FakePaper("2405.20001", 1, "Fast Gaussian Splatting on Phones", "We render 3DGS scenes on phones at 60 fps.",
                  ["Ada Park", "Bo Chen"], ["cs.CV", "cs.GR"], "2024-05-21"),
        FakePaper("2405.20002", 1, "Diffusion Priors for Depth", "A diffusion model gives depth priors.",
                  ["Cy Diaz"], ["cs.CV"], "2024-05-22"),
        FakePaper("2405.20003", 1, "Splatting Meets Language", "Gaussian splatting fields that answer queries.",
                  ["Di Eze"], ["cs.LG", "cs.CV"], "2024-05-22", kind="cross"),
        FakePaper("2405.10004", 2, "Old Gaussian Splatting Paper, Revised", "A revised gaussian splatting method.",
                  ["Ed Fox"], ["cs.CV"], "2024-05-10", kind="replace"),
        FakePaper("2405.20005", 1, "Radiance Fields for Rooms", "Neural radiance fields of indoor rooms.",
                  ["Fa Gu"], ["cs.GR"], "2024-05-23"),
        FakePaper("2405.20006", 1, "Relighting Radiance Fields", "Relightable radiance fields.",
                  ["Go Ha"], ["cs.CV", "cs.GR"], "2024-05-23", kind="cross"),
    ]
