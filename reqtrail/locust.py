"""Locust helper: ``class Player(ReqtrailUser)`` gives every simulated player a stable user ID
and every request a request ID (and, under ``reqtrail loadtest``, the candidate version)."""

from reqtrail.producers.locust_user import VERSION_ENV, ReqtrailUser, TracedSession

__all__ = ["VERSION_ENV", "ReqtrailUser", "TracedSession"]
