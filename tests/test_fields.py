"""The lane fields are defined once: vary.LANE_FIELDS, what a lane may hold apart; config.DATA_FIELDS, what the
lanes share. Together they are every field of RunConfig, each once.

Why: `--vary`, the lanes table and the trainer each had a list of their own, and a new setting could be left
out of one of them.
"""

from __future__ import annotations

import dataclasses

from gdtui.engine.config import DATA_FIELDS, LIVE_FIELDS, SWITCH_FIELDS, RunConfig
from gdtui.engine.vary import LANE_FIELDS, VARY_FIELDS
from gdtui.tui.lanes import APART_FIELDS

# Fields of RunConfig that are neither a lane's own nor the shared data, each with its reason. None today.
NEITHER: dict[str, str] = {}


def test_lane_fields_and_data_fields_partition_the_run_config():
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    assert len(set(LANE_FIELDS)) == len(LANE_FIELDS) and len(set(DATA_FIELDS)) == len(DATA_FIELDS)
    assert not set(LANE_FIELDS) & set(DATA_FIELDS)
    assert not set(NEITHER) & (set(LANE_FIELDS) | set(DATA_FIELDS))
    assert sorted([*LANE_FIELDS, *DATA_FIELDS, *NEITHER]) == sorted(fields)


def test_vary_and_the_lanes_table_take_the_lane_fields():
    assert VARY_FIELDS == APART_FIELDS == LANE_FIELDS
    assert LIVE_FIELDS | SWITCH_FIELDS <= set(LANE_FIELDS)  # what a running lane may change is its own
