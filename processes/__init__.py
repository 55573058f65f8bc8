"""Child processes of ours (tritonserver, pocketbase, uvicorn's workers, a scheduled retraining): spawned
so that they die with their parent, and stopped in order."""
