# The code location image: this project with the bundled sample store, for its code server (the Dagster Helm
# chart's user-code deployment, deploy/helm/values.yaml) and for the run pods K8sRunLauncher starts from it.
FROM python:3.11-slim

# project_root() is the working directory of an installed (non-editable) package: data/sample_store lives here.
WORKDIR /opt/cart_pipelines
COPY pyproject.toml README.md ./
COPY cart_pipelines ./cart_pipelines
COPY data/sample_store ./data/sample_store
# k8s: dagster-k8s (the run launcher the instance names) and dagster-postgres (the instance storage).
RUN pip install --no-cache-dir ".[k8s]"

# Each migration's data directory is <CART_PIPELINES_DATA>/migrations/<name>, a persistent volume of its own.
ENV CART_PIPELINES_DATA=/var/lib/cart_pipelines
RUN useradd --uid 1000 --create-home cart && mkdir -p "$CART_PIPELINES_DATA" && chown cart "$CART_PIPELINES_DATA"
USER 1000
EXPOSE 3030
# `dagster code-server start` takes the arguments of `dagster api grpc` and reloads definitions in place.
CMD ["dagster", "code-server", "start", "--module-name", "cart_pipelines.definitions", "--host", "0.0.0.0", "--port", "3030"]
