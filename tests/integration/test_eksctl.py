"""eksctl itself (built by eksctl/build-tool) reads eksctl/cluster.yaml as far as it can without
an AWS account: `eksctl create cluster --dry-run` against a moto server process.

`--dry-run` still asks AWS three things: who the caller is (STS GetCallerIdentity), which
Kubernetes versions EKS offers (EKS DescribeClusterVersions) and the region's zones (EC2
DescribeAvailabilityZones). moto answers the first and the last, not the second: against moto
alone eksctl stops there. With a stand-in that answers DescribeClusterVersions (and passes every
other call on to moto), eksctl validates the whole file, fills in its defaults and prints the
cluster it would create; the real creation (CloudFormation stacks) is not tried."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.deploy_tools import deploy_tool

from deploy.config import CLUSTER_FILE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def eksctl() -> Path:
    return deploy_tool("eksctl")


def versions_stand_in(moto_url: str, calls: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    """EKS DescribeClusterVersions answered here (GET /cluster-versions: the version of
    cluster.yaml, in standard support); every other request passed on to moto."""
    version = yaml.safe_load(CLUSTER_FILE.read_text())["metadata"]["version"]

    class StandIn(http.server.BaseHTTPRequestHandler):
        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/cluster-versions"):
                calls.append("stand-in: DescribeClusterVersions")
                answer = {
                    "clusterVersions": [
                        {
                            "clusterVersion": version,
                            "clusterType": "eks",
                            "defaultVersion": True,
                            "status": "STANDARD_SUPPORT",
                            "versionStatus": "STANDARD_SUPPORT",
                        }
                    ]
                }
                self.reply(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())
                return
            calls.append(f"moto: {body.decode(errors='replace').split('&')[0]}")
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(  # noqa: S310 - the local moto server
                moto_url + self.path, data=body or None, method=self.command, headers=headers
            )
            try:
                with urllib.request.urlopen(request) as response:  # noqa: S310
                    self.reply(response.status, dict(response.headers), response.read())
            except urllib.error.HTTPError as error:
                self.reply(error.code, dict(error.headers), error.read())

        def reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return StandIn


def dry_run(eksctl: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return subprocess.run(
        [str(eksctl), "create", "cluster", "-f", str(CLUSTER_FILE), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_eksctl_is_the_pinned_release(eksctl: Path) -> None:
    done = subprocess.run([str(eksctl), "version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0.215.0"


def test_against_moto_alone_the_dry_run_stops_at_describe_cluster_versions(
    eksctl: Path, moto_url: str
) -> None:
    done = dry_run(eksctl, moto_url)
    assert done.returncode != 0
    assert "describing cluster versions: operation error EKS: DescribeClusterVersions" in (
        done.stderr + done.stdout
    )
    assert "STS" not in done.stderr  # it got past STS


def test_with_the_versions_answered_eksctl_accepts_the_whole_file(
    eksctl: Path, moto_url: str
) -> None:
    calls: list[str] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), versions_stand_in(moto_url, calls))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = dry_run(eksctl, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert calls == [
        "moto: Action=GetCallerIdentity",
        "stand-in: DescribeClusterVersions",
        "moto: Action=DescribeAvailabilityZones",
    ]
    # What eksctl would create: our file, with its defaults filled in.
    planned = yaml.safe_load(done.stdout)
    ours = yaml.safe_load(CLUSTER_FILE.read_text())
    assert planned["metadata"]["name"] == ours["metadata"]["name"]
    assert planned["metadata"]["version"] == ours["metadata"]["version"]
    assert planned["iam"]["withOIDC"] is True
    assert [p["name"] for p in planned["fargateProfiles"]] == [
        p["name"] for p in ours["fargateProfiles"]
    ]
    assert not planned.get("nodeGroups")
    assert not planned.get("managedNodeGroups")
    planned_accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"]): a
        for a in planned["iam"]["serviceAccounts"]
    }
    for account in ours["iam"]["serviceAccounts"]:
        key = (account["metadata"]["namespace"], account["metadata"]["name"])
        assert planned_accounts[key]["roleName"] == account["roleName"]
        assert planned_accounts[key].get("attachPolicy") == account.get("attachPolicy")
    assert len(planned["availabilityZones"]) >= 2
