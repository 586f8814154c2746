"""Lessons: a trace with a title and notes pinned to its moments (`lesson`), kept in the class gallery in the
data folder (`gallery`)."""
