"""The report formats of ``reqtrail compare`` (kept apart so the CLI loads without pandas)."""

from enum import StrEnum


class ReportFormat(StrEnum):
    TABLE = "table"
    MARKDOWN = "markdown"
    JSON = "json"
    JUNIT = "junit"
