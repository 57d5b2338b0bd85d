"""The container images the stacks deploy, all built from the repository root by `cdk deploy`
(recorded as assets at synth; no Docker here): one per MCP server and the host for AgentCore
(infra/docker/NAME.Dockerfile), and one for every Lambda function (lambda.Dockerfile), each
function naming its handler as the image command."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = "infra/docker"

BUILD_CONTEXT = [
    # The images need the project's metadata, lock and its packages; everything else
    # (virtualenvs, infra's 400 MB of CDK, tests, the web app's sources) stays out of the hash
    # and the build context.
    "*",
    "!pyproject.toml",
    "!uv.lock",
    "!README.md",
    "!servers",
    "!ticketing",
    "!host",
    f"!{DOCKER_DIR}",
    # The web app's sources, for the ticket image's MCP Apps; not its installs or builds.
    "!web",
    "web/node_modules",
    "web/dist",
    "web/apps/dist",
    "servers/ticket/ui",
    "**/__pycache__",
]

LAMBDA_DOCKERFILE = f"{DOCKER_DIR}/lambda.Dockerfile"


def image_options(dockerfile: str) -> dict[str, Any]:
    """How every image of ours is built from the repository (the directory argument): the
    same options wherever ``dockerfile`` is used, so one image serves all its uses (the payment
    runtime's also runs the checkout function)."""
    return {
        "file": dockerfile,
        "platform": ecr_assets.Platform.LINUX_ARM64,
        "exclude": BUILD_CONTEXT,
        "ignore_mode": IgnoreMode.DOCKER,
    }


def server_dockerfile(name: str) -> str:
    return f"{DOCKER_DIR}/{name}.Dockerfile"


def lambda_code(handler: str) -> lambda_.DockerImageCode:
    """The Lambda image running ``handler`` (``package.module.function``)."""
    return lambda_.DockerImageCode.from_image_asset(
        str(REPO_ROOT), cmd=[handler], **image_options(LAMBDA_DOCKERFILE)
    )


def migrations_hash() -> str:
    """A digest of every migration file: the migrations resource's property that changes, and
    so runs the function again at deploy, whenever a migration is added."""
    digest = hashlib.sha256()
    for path in sorted(
        p for top in ("servers", "host") for p in (REPO_ROOT / top).glob("**/migrations/*.sql")
    ):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def python_zip(*files: str) -> lambda_.Code:
    """A zip of only ``files`` (repository paths, each package's ``__init__.py`` included by the
    caller): for the standard-library functions, which start faster than the image. The files
    are copied into a directory of their own first: CDK's exclude patterns against the whole
    repository left the zip empty when the clone sat at the root of a ``mktemp -d`` directory."""
    staged = Path(tempfile.mkdtemp(prefix="ticketing-zip-"))
    for file in files:
        (staged / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / file, staged / file)  # with its mode: chat.sh is run
    return lambda_.Code.from_asset(str(staged))
