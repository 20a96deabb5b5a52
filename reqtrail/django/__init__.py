"""Django: add ``"reqtrail.django"`` to ``INSTALLED_APPS`` and
``"reqtrail.django.middleware.RequestTrailMiddleware"`` first in ``MIDDLEWARE``."""
