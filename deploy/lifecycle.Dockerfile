# `wig80 retrain` (and `wig80 rollback`): the training stack, writing new versions into the shared
# model repository and loading them into Triton through its model-control API (with the admin key).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY . .
RUN pip install . && useradd --create-home wig80
USER wig80
CMD ["wig80", "retrain"]
