"""Settings every plotly chart in the app shares."""

# No plotly mode bar: the charts are for looking and clicking; zoom and export tools only add clutter.
PLOT_CONFIG = {"displayModeBar": False}
