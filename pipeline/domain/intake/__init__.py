"""Getting calls in: the landing zone, recording sidecars, platform transcript formats
(WebVTT, SRT, AWS, Google, text), agent event logs, and the bronze ingest of a day
partition (consent honoured at the door, bad input quarantined, nothing lost).
"""
