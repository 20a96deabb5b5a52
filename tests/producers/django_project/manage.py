#!/usr/bin/env python
"""manage.py of the small Django project the reqtrail.django app tests run in subprocesses."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
