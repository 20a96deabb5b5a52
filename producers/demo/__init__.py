"""The demo game server (Starlette) and its locust players."""
