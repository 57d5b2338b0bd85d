# The payment MCP server for an AgentCore Runtime (linux/arm64, MCP on 0.0.0.0:8000/mcp).
# Built by `cdk deploy` from the repository root (infra/ticketing_infra/runtimes.py names the
# context); every server's image has the same shape, only the module and env prefix differ.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM --platform=linux/arm64 ${PYTHON_IMAGE} AS build
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.9
# Dependencies first, from the lock alone, so a code change reuses this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY servers ./servers
COPY ticketing ./ticketing
# The project's wheel holds every package it names (pyproject.toml), the host's too.
COPY host ./host
RUN uv sync --locked --no-dev --no-editable

FROM --platform=linux/arm64 ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
# Only the virtualenv: the project is installed into it, so no sources, uv or build cache.
COPY --from=build /app/.venv /app/.venv
# AWS's Lambda Web Adapter (1.0.0, the chat relay's version), for the same image to serve the
# hosted checkout page as a Lambda function (infra/ticketing_infra/checkout.py): Lambda starts
# what is in /opt/extensions, AgentCore does not.
COPY --from=public.ecr.aws/awsguru/aws-lambda-adapter:1.0.0 /lambda-adapter /opt/extensions/lambda-adapter
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PAYMENT_HOST=0.0.0.0 PAYMENT_PORT=8000
USER 10001
EXPOSE 8000
CMD ["python", "-m", "servers.payment"]
