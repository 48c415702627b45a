"""`make push`: an ECR repository per image, Docker logged in with an ECR token, images pushed."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploy.config import IMAGE_PREFIX, PUSHED_IMAGES
from deploy.steps import DeployError, Steps, run

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

# Untagged images (a tag moved away, a failed push) go after a week; of the tagged ones the
# 30 newest stay, enough to roll back far, while storage stays bounded. The rule for "any"
# must come last (the highest rulePriority).
LIFECYCLE_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "untagged images go after 7 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "keep the 30 newest images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
            "action": {"type": "expire"},
        },
    ]
}


@dataclass(frozen=True)
class Repository:
    name: str
    uri: str
    created: bool


def ensure_repository(ecr: ECRClient, name: str) -> Repository:
    """The repository, made if missing; its settings (tags immutable, scan on push, the
    lifecycle policy) applied either way, so a repository made by hand is brought in line."""
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        created = False
    except ecr.exceptions.RepositoryNotFoundException:
        found = ecr.create_repository(
            repositoryName=name,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"},
            tags=[{"Key": "project", "Value": "emporium"}],
        )["repository"]
        created = True
    if found.get("imageTagMutability") != "IMMUTABLE":
        ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    if not found.get("imageScanningConfiguration", {}).get("scanOnPush"):
        ecr.put_image_scanning_configuration(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
        )
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(LIFECYCLE_POLICY))
    return Repository(name, found["repositoryUri"], created)


@dataclass(frozen=True)
class Login:
    """What `docker login` takes: the registry's address, a user name and a password (valid
    12 hours), from the ECR authorization token ("user:password" in base64)."""

    registry: str
    username: str
    password: str


def registry_login(ecr: ECRClient) -> Login:
    data = ecr.get_authorization_token()["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    if not password:
        raise DeployError("the ECR authorization token is not of the form user:password")
    registry = data["proxyEndpoint"].removeprefix("https://").removeprefix("http://")
    return Login(registry, username, password)


def docker_login(docker: str, login: Login) -> None:
    # The password through stdin: on the command line every process could read it.
    run(
        [docker, "login", "--username", login.username, "--password-stdin", login.registry],
        stdin=login.password,
    )


# EKS on Fargate runs linux/amd64 pods only: an image of another architecture (`make images`
# on an arm64 machine) would be pushed, then fail to start with "exec format error".
FARGATE_PLATFORM = "linux/amd64"


def check_platform(docker: str, image: str) -> None:
    """The local image is there and built for Fargate's platform."""
    try:
        found = run(
            [docker, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", image],
            capture=True,
        ).strip()
    except DeployError as error:
        raise DeployError(f"{image} is not built here: run `make images` first") from error
    if found != FARGATE_PLATFORM:
        raise DeployError(
            f"{image} is built for {found or 'an unknown platform'}, but EKS Fargate runs"
            f" {FARGATE_PLATFORM} only: build it with DOCKER_DEFAULT_PLATFORM={FARGATE_PLATFORM}"
            " make images"
        )


def push(ecr: ECRClient, docker: str, tag: str, registry: str) -> list[str]:
    """Every pushed image emporium/<name>:<tag> (the services' and the load generator's) into
    its repository; returns the pushed references."""
    steps = Steps("push", len(PUSHED_IMAGES) + 2)
    steps.step(f"the local images {IMAGE_PREFIX}/<name>:{tag} (make images)")
    for name in PUSHED_IMAGES:
        check_platform(docker, f"{IMAGE_PREFIX}/{name}:{tag}")
    steps.step(f"ECR repositories {IMAGE_PREFIX}/<name> and docker login to {registry}")
    for name in PUSHED_IMAGES:
        repository = ensure_repository(ecr, f"{IMAGE_PREFIX}/{name}")
        steps.note(f"{repository.uri}: {'created' if repository.created else 'exists'}")
    login = registry_login(ecr)
    if login.registry != registry:
        raise DeployError(f"the ECR token is for {login.registry}, not {registry}")
    docker_login(docker, login)
    pushed = []
    for name in PUSHED_IMAGES:
        target = f"{registry}/{IMAGE_PREFIX}/{name}:{tag}"
        steps.step(f"push {target}")
        run([docker, "tag", f"{IMAGE_PREFIX}/{name}:{tag}", target])
        run([docker, "push", target])
        pushed.append(target)
    return pushed
