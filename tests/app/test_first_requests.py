"""State that only a first request creates must come out right when two sessions make that first request at once."""

from __future__ import annotations

import threading
import time

import page_glue.session_memory as memory


def test_two_sessions_asking_first_at_once_share_one_trace_store(tmp_path, monkeypatch):
    """Both sessions' first traces ask for the process's store together: one store is made, and both get it (with
    two, a session's handles would point at a store whose spill folder and janitor nobody else reads)."""
    monkeypatch.setenv("MOMENTSCOPE_HOME", str(tmp_path / "home"))
    made = []
    real = memory.TraceStore

    def slowly_made(*args, **kwargs):
        made.append(args)
        time.sleep(0.3)  # the other session asks meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(memory, "TraceStore", slowly_made)
    memory._made_store.cache_clear()
    got = []
    sessions = [threading.Thread(target=lambda: got.append(memory.process_store())) for _ in range(2)]
    try:
        for session in sessions:
            session.start()
        for session in sessions:
            session.join(10)
        assert len(made) == 1
        assert len(got) == 2 and got[0] is got[1]
        assert [p.name for p in (tmp_path / "home" / "spill").iterdir()] == [got[0].folder.name]
    finally:
        memory._made_store.cache_clear()
