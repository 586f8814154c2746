"""Looking into one moment of a trace: attention views, the logit lens, attributions. Each view is computed
on request for the moment looked at, with the model that made the trace."""
