"""Partitions: daily by call date (bronze, silver, analytics, embeddings), monthly drift."""

import dagster as dg

PARTITIONS_START = "2024-01-01"

# end_offset=1 so today's calls have a partition as soon as they land.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
