"""What the deploy paths' make targets say before they act, as `make -n` shows it (nothing
run): the cost warning of `make cluster`, in step with the README's figures, and a line of
what it does for each debugging target."""

from __future__ import annotations

import os
import re
import subprocess
from decimal import Decimal

import pytest
from tests.unit.chart.conftest import ROOT


def planned(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def readme_costs() -> tuple[list[Decimal], Decimal, Decimal]:
    """The README's "What it costs": each hourly figure, the total an hour, and a day."""
    section = (ROOT / "README.md").read_text().split("## Deploy to AWS\n", 1)[1]
    paragraph = section.split("**What it costs**", 1)[1].split("\n\n", 1)[0]
    paragraph = " ".join(paragraph.split())
    parts, total = paragraph.split(" So about ", 1)
    figures = [Decimal(f) for f in re.findall(r"(\d+\.\d+) USD an hour", parts)]
    hourly = re.match(r"(\d+\.\d+) USD an hour, (\d+) USD a day", total)
    assert hourly, total
    return figures, Decimal(hourly[1]), Decimal(hourly[2])


def test_the_readmes_cost_figures_add_up() -> None:
    figures, total, daily = readme_costs()
    assert len(figures) == 5  # control plane, NAT gateway, Fargate, ElastiCache, ALB
    assert sum(figures) == total
    assert total * 24 == daily


def test_make_cluster_warns_of_the_readmes_cost_before_eksctl() -> None:
    plan = planned("cluster")
    warning = plan.index("COST:")
    assert warning < plan.index("create cluster -f eksctl/cluster.yaml")
    stated = re.search(r"about (\d+\.\d+) USD/h in all", " ".join(plan.split()))
    assert stated, plan
    assert Decimal(stated[1]) == readme_costs()[1]


@pytest.mark.parametrize("target", ["logs", "port-forward"])
def test_the_debugging_targets_say_what_they_do(target: str) -> None:
    plan = planned(target, "SERVICE=orders").splitlines()
    said = [line for line in plan if line.startswith(f'echo "{target}: ') and ">&2" not in line]
    assert len(said) == 1, plan
    assert "orders" in said[0]
    kubectl = next(i for i, line in enumerate(plan) if line.startswith("kubectl "))
    assert plan.index(said[0]) < kubectl  # said before kubectl runs
