"""Speech to text: audio decoding and signal metrics, faster-whisper transcription with word
timestamps and agent/customer by channel, and the transcript quality gate.
"""
