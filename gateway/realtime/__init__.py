"""Pushes: announcements of new bars (in process, or Redis pub/sub across replicas) and the WebSocket hub."""
