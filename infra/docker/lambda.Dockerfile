# The project's AWS Lambda functions (linux/arm64): one image, each function choosing its handler
# as the image command (infra/ticketing_infra/images.py). Built by `cdk deploy` from the
# repository root. AWS's Python base image brings the Lambda runtime interface client and runs the
# function as a non-root user of Lambda's choosing; Python 3.12 there is Amazon Linux 2023, whose
# glibc takes the lock's manylinux wheels.
# The tag is AWS's moving 3.12 line; pin its digest (@sha256:...) when building for production
# (not resolvable offline here), as for the servers' images.
ARG LAMBDA_IMAGE=public.ecr.aws/lambda/python:3.12

FROM --platform=linux/arm64 ${LAMBDA_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.9
WORKDIR /build
# The locked dependencies without the dev group, hashes checked, into the task root.
COPY pyproject.toml uv.lock README.md ./
RUN uv export --locked --no-dev --no-emit-project --format requirements-txt -o requirements.txt \
    && uv pip install --no-cache --require-hashes \
       --target /opt/task -r requirements.txt
COPY servers /opt/task/servers
COPY ticketing /opt/task/ticketing
COPY host /opt/task/host

FROM --platform=linux/arm64 ${LAMBDA_IMAGE}
COPY --from=build /opt/task ${LAMBDA_TASK_ROOT}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
CMD ["ticketing.migrate_resource.handler"]
