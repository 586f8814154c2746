"""Traces leaving the engine: one self-contained offline HTML page per trace."""
