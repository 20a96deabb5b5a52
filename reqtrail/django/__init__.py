"""Django: add ``"reqtrail.django"`` to ``INSTALLED_APPS`` and
``"reqtrail.django.middleware.RequestTrailMiddleware"`` first in ``MIDDLEWARE``; configure
it with ``REQTRAIL = {"SERVICE": ..., "KAFKA_BOOTSTRAP": ..., "USER_ID_GETTER": ...}``
(keys: the ``REQTRAIL_*`` variables without the prefix; the variables override the dict)."""
