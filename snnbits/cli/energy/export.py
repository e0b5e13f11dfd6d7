"""``energy report --export-accelergy DIR``: the built machine's activity and our tables as Accelergy YAML.

Files (``energy.accelergy``, Accelergy 0.4 documents, pJ and um^2):

* ``ert.yaml``: the energy of every action the built machine performs (its operations at
  their widths, one word access of each of its memories), priced with our tables;
* ``action_counts.yaml``: how often it performs each, over the trace's images
  (``energy.accelergy.energy_from_counts(ert, action_counts)`` is the report's compute +
  memory energy of the built machine);
* ``art.yaml``: the area of its memories (every macro) and, where the synthesis cells
  apply, of its logic (``energy.area``);
* ``tables_ert.yaml``: the per-operation table and the memory table themselves, the file
  ``energy report --costs`` reads back.
"""

from __future__ import annotations

from pathlib import Path

from energy.accelergy import activity_to_action_counts, activity_to_ert, area_to_art, costs_to_ert, dump_yaml
from energy.area import machine_area
from energy.memtable import load_memory_table
from energy.report import EnergyReport, load_cost_table
from snnbits.cli.output import building

MARKER = ".snnbits-accelergy"


def export_accelergy(rep: EnergyReport, folder, costs_path=None, memtable_path=None) -> Path:
    """Write the four documents into ``folder`` (built aside and swapped in when complete)."""
    costs = load_cost_table(costs_path)
    mem = load_memory_table(memtable_path)
    area = rep.area if memtable_path is None and rep.area is not None else machine_area(rep.activity, mem)
    with building(folder, "--export-accelergy", MARKER, note="made by 'energy report --export-accelergy'\n") as tmp:
        (tmp / "ert.yaml").write_text(dump_yaml(activity_to_ert(rep.activity, costs, mem)))
        (tmp / "action_counts.yaml").write_text(dump_yaml(activity_to_action_counts(rep.activity)))
        (tmp / "art.yaml").write_text(dump_yaml(area_to_art(area.items())))
        (tmp / "tables_ert.yaml").write_text(dump_yaml(costs_to_ert(costs, mem)))
    return Path(folder)
