"""The docker-compose.yml (v1 format 2.4) of a planned lab."""
from __future__ import annotations

from labctl.render.plan import LOG_MAX_FILES, LOG_MAX_SIZE, LabPlan
from labctl.render.templating import render

COMPOSE_FILE = "docker-compose.yml"


def render_compose(plan: LabPlan) -> str:
    return render("compose/docker-compose.yml.j2", plan=plan, network_key=plan.lab.network.name,
                  log_max_size=LOG_MAX_SIZE, log_max_files=LOG_MAX_FILES)
