"""Django URLs under ``/api/`` for the user, route and async tests (included by ``apps``).

* ``re_path`` routes with named groups, an optional trailing slash and anchors, and a nested
  ``include()``, as real Django REST apps write them;
* ``/api/drf/crash`` and ``/api/drf/whoami``: DRF views with token authentication, so the user
  is only known once the view ran;
* ``/api/async``: an async view that says which thread served it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from structlog.contextvars import bind_contextvars

import reqtrail


class ArticleCommentError(RuntimeError):
    """The deliberate crash of the DRF view."""


def echo_route(request: HttpRequest, **kwargs: Any) -> JsonResponse:
    return JsonResponse({"kwargs": kwargs})


class CrashView(APIView):
    """Authenticates the token inside the view, then crashes."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        raise ArticleCommentError(f"no comments for {request.user.get_username()}")


class WhoAmIView(APIView):
    """Token auth optional; ``?bind=`` binds a user ID, ``?set_user=`` calls set_user."""

    authentication_classes = [TokenAuthentication]
    permission_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        if "bind" in request.query_params:
            bind_contextvars(user_id=request.query_params["bind"])
        if "set_user" in request.query_params:
            reqtrail.set_user(request.query_params["set_user"], username="set-by-app")
        if "crash" in request.query_params:
            raise ArticleCommentError("whoami crashed")
        user = request.user
        return Response({"user": user.get_username() if user.is_authenticated else None})


async def async_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"thread": threading.get_ident()})


comment_patterns = [
    re_path(r"^(?P<comment_id>\d+)/?$", echo_route),
    re_path(r"^$", echo_route),
]
article_patterns = [
    re_path(r"^(?P<slug>[-\w]+)/comments/", include(comment_patterns)),
    re_path(r"^(?P<slug>[-\w]+)/?$", echo_route),
]
urlpatterns = [
    re_path(r"^user/?$", echo_route),
    re_path(r"^profiles/(?P<username>[^/]+)/follow/?$", echo_route),
    re_path(r"^(?P<version>v1|v2)/tags/?\Z", echo_route),
    re_path(r"^articles/", include(article_patterns)),
    path("units/<int:unit_id>/", include([path("items/<slug:item>", echo_route)])),
    path("drf/crash", CrashView.as_view()),
    path("drf/whoami", WhoAmIView.as_view()),
    path("async", async_view),
]
