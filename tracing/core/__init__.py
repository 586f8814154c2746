"""The core: a `Trace` of `Moment`s and how one is made, one KV-cache step at a time (decode, sampling,
the description of a step's distribution, readable tokens, one-file storage)."""
