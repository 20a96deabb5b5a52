"""Route templates from each framework's own resolver, in one ``/units/{unit_id}`` form.

* Starlette / FastAPI: the matched route's ``path_format``; when a ``Mount`` took part, the
  app's router is asked again (``route.matches``, as it routed the request) so the mounts'
  own templates make up the prefix: ``/api/{version}/units/{unit_id}``.
* Flask: ``request.url_rule.rule``, converters dropped (``<int:unit_id>`` -> ``{unit_id}``).
* Django: ``request.resolver_match.route`` (``path()`` and ``re_path()`` alike, joined over
  nested ``include()``) through Django's own reverse-URL normaliser
  (``django.utils.regex_helper.normalize``): named groups become ``{name}``; anchors and
  optional parts such as a trailing ``/?`` go.

A request that matched no route has the route ``(unmatched)``, so every count includes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from reqtrail.schemas.record import UNMATCHED_ROUTE

_FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<([^>]+)>[^)]*\)")
# A path() converter (<int:pk>, <slug>), not the <name> of a regex group's (?P<name>...).
_PATH_CONVERTER = re.compile(r"(?<!\?P)<(?:\w+:)?(\w+)>")
_FORMAT_PARAM = re.compile(r"%\((\w+)\)s")


def _leading_slash(text: str) -> str:
    return text if text.startswith("/") else "/" + text


@lru_cache(maxsize=1024)
def route_template(pattern: str | None) -> str | None:
    """Normalise a route given by a WSGI app (``environ["reqtrail.route"]``) or Flask.

    Flask ``/units/<int:unit_id>`` and simple regex routes ``^units/(?P<unit_id>\\d+)/$``
    become ``{name}`` placeholders with a leading slash.
    """
    if pattern is None or pattern == UNMATCHED_ROUTE:
        return pattern
    text = _REGEX_GROUP.sub(r"{\1}", pattern)
    text = _FLASK_PARAM.sub(r"{\1}", text)
    text = text.removeprefix("^").removesuffix("$").removesuffix("\\Z")
    return _leading_slash(text)


@lru_cache(maxsize=1024)
def django_route(route: str) -> str:
    """A Django ``ResolverMatch.route`` as a template (see the module docstring)."""
    from django.utils.regex_helper import normalize

    pattern = _PATH_CONVERTER.sub(r"(?P<\1>x)", route)  # path() syntax as regex groups
    try:
        forms = normalize(pattern)
    except ValueError:  # a construct Django cannot reverse either
        forms = []
    if not forms or (not forms[0][0] and route.strip("^$/")):
        return route_template(route) or "/"
    # The form with every parameter (optional groups holding one come in both forms).
    text, _params = max(forms, key=lambda form: len(form[1]))
    return _leading_slash(_FORMAT_PARAM.sub(r"{\1}", text))


def starlette_route(scope: Mapping[str, Any], root_path: str, router_before: bool) -> str | None:
    """The template of the route Starlette's router chose for ``scope`` (after the app ran).

    ``root_path`` is the scope's root path when the request came in; ``router_before`` says
    whether a router had already handled the scope then (the middleware sits inside a mount).
    """
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE if "router" in scope else None
    if router_before or scope.get("root_path", "") == root_path:  # no Mount on the way
        return _path_format(route)
    return _mounted_route(scope, root_path) or _path_format(route)


def _path_format(route: Any) -> str | None:
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


def _mounted_route(scope: Mapping[str, Any], root_path: str) -> str | None:
    """Route the request again through the app's routers, joining the mounts' templates."""
    from starlette.routing import Match, Mount

    probe: dict[str, Any] = {
        "type": scope["type"],
        "path": scope["path"],
        "root_path": root_path,
        "method": scope.get("method", "GET"),
        "path_params": {},
    }
    prefix = ""
    routes = getattr(scope.get("router"), "routes", None)
    while routes:
        chosen, child = None, None
        for candidate in routes:
            match, candidate_scope = candidate.matches(probe)
            if match is Match.FULL:
                chosen, child = candidate, candidate_scope
                break
            if match is Match.PARTIAL and chosen is None:
                chosen, child = candidate, candidate_scope
        if chosen is None or child is None:
            return None
        probe.update(child)
        if not isinstance(chosen, Mount):
            template = getattr(chosen, "path_format", None)
            return prefix + template if isinstance(template, str) else None
        prefix += chosen.path_format.removesuffix("/{path}")
        routes = chosen.routes
        if not routes:  # a mounted app that is no router (static files, a WSGI app...)
            return prefix + "/{path}"
    return None
