"""URLs of the subprocess test project: one view that answers, one that crashes."""

from django.http import HttpRequest, JsonResponse
from django.urls import path


def hello(request: HttpRequest, name: str) -> JsonResponse:
    return JsonResponse({"hello": name})


urlpatterns = [path("hello/<str:name>", hello)]
