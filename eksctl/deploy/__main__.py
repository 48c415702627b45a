"""python -m deploy {check,identity,push,controllers,deploy,teardown}: see deploy/__init__.py and
the README."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from deploy import aws, ecr, identity, lookups, release, teardown
from deploy.config import ROOT, load_cluster
from deploy.steps import DeployError, say


def git_tag() -> str:
    """The tag `make images` gave this commit's images. ECR's tags are immutable, so an image
    of uncommitted changes (tagged "-dirty") is refused: it would take the tag for good."""

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - our own command
            ["git", *args],  # noqa: S607 - git from PATH, as make's own recipes run it
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DeployError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    if git("status", "--porcelain"):
        raise DeployError(
            "the work tree has uncommitted changes: commit them, then `make images` (the images"
            " are tagged by commit and ECR's tags cannot be overwritten), or give --tag"
        )
    return git("rev-parse", "--short", "HEAD")


def typed(question: str) -> str:
    """The answer typed at the question (asked on stderr); "" without any input."""
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():  # no echo of a typed line ends the question's
        print(file=sys.stderr)
    return answer.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="the credentials and region: who and where (STS)")
    commands.add_parser("identity", help="the Cognito user pool and app client (found or made)")
    push = commands.add_parser("push", help="ECR repositories, docker login, the images pushed")
    push.add_argument("--tag", help="the images' tag (default: the commit's, as make images tags)")
    push.add_argument("--docker", default=os.environ.get("DOCKER", "docker"))
    controllers = commands.add_parser("controllers", help="the load balancer and ACK controllers")
    deploy = commands.add_parser("deploy", help="the store's release, then API Gateway's address")
    deploy.add_argument("--tag", help="the images' tag (default: the commit's)")
    deploy.add_argument("--timeout", type=float, default=1800, help="seconds to wait for AWS")
    remove = commands.add_parser(
        "teardown", help="after cluster-delete: tables, ECR repositories, Cognito, logs (asks)"
    )
    remove.add_argument(
        "--confirm",
        default=os.environ.get("CONFIRM") or None,
        help="the cluster's name, which answers the question (default: $CONFIRM, else asked)",
    )
    for command in (controllers, deploy):
        command.add_argument("--helm", default=os.environ.get("HELM", "helm"))
        command.add_argument("--kubectl", default=os.environ.get("KUBECTL", "kubectl"))
        command.add_argument("--context", default=os.environ.get("KUBE_CONTEXT", ""))
    args = parser.parse_args(argv)

    try:
        with aws.one_line_errors():
            cluster = load_cluster()
            session = aws.session_for(cluster)
            account = aws.account_of(session)
            say(f"deploy: account {account.id}, region {account.region}, cluster {cluster.name}")
            if args.command == "check":
                print(f"{account.id} {account.region}")
            elif args.command == "identity":
                found = identity.ensure_identity(
                    session.client("cognito-idp"), account.region, account.id
                )
                print(f"ORDERS_OIDC_ISSUER={found.issuer}")
                print(f"ORDERS_OIDC_AUDIENCE={found.audience}")
                print(f"UI_OIDC_AUTHORIZE_URL={found.authorize_url}")
                print(f"UI_OIDC_TOKEN_URL={found.token_url}")
            elif args.command == "push":
                tag = args.tag or git_tag()
                for reference in ecr.push(
                    session.client("ecr"), args.docker, tag, account.registry
                ):
                    print(reference)
            elif args.command == "teardown":
                confirm: str | None = args.confirm
                teardown.teardown(
                    session, cluster, account, lambda q: typed(q) if confirm is None else confirm
                )
            else:
                tools = release.Tools(args.helm, args.kubectl, args.context)
                network = lookups.cluster_network(
                    session.client("eks"), session.client("ec2"), cluster.name
                )
                if args.command == "controllers":
                    release.install_controllers(tools, cluster, account, network)
                else:
                    found = identity.find_identity(
                        session.client("cognito-idp"), account.region, account.id
                    )
                    target = release.Target(cluster, account, found, network, args.tag or git_tag())
                    url = release.deploy(session, tools, target, args.timeout)
                    print(f"The store: {url}/")
    except DeployError as error:
        say(f"deploy {args.command}: FAILED: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
